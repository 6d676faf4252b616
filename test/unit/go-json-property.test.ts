/**
 * Properties of the Go-compatible encoder (go-json.ts): output is valid JSON carrying
 * the same values (lone surrogates → U+FFFD, -0 kept), re-encoding is stable, nothing
 * HTML-significant or control-like is raw, and map keys are in UTF-8 byte order. Plus
 * exact expectations for number and string forms that Go is known to produce.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  goFormatFloat,
  goMarshalValue,
  goQuote,
  LEGACY_GO,
  MODERN_GO,
  toWellFormed,
} from '../../internal/agent/wire/go-json.js';
import { goMarshalPayload, parseJobPayload, type JobPayload } from '../../internal/agent/wire/payload.js';
import { JsonNumber, parseStrictJson, type JsonValue } from '../../internal/agent/wire/strict-json.js';

const RUNS = 300;

// Characters Go treats specially, plus every kind of code unit / code point.
const char = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('<', '>', '&', '"', '\\', '/', '\u2028', '\u2029', '\u007f', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\ud800', '\udfff', '\ufffd', '\ue000', '\uffff', '😀') },
  { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
);
const text = fc.string({ unit: char, maxLength: 24 });
const key = fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'a', 'B', ''));

const SPECIAL_NUMBERS = [-0, 0, 1e21, -1e21, 1e-7, 1e-6, 2 ** 53 + 1, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 0.1, 123456789012345680000, 1e20, 9.999999999999999e20, 9.99999e-7];
const num = fc.oneof(fc.constantFrom(...SPECIAL_NUMBERS), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());

// Keys unique after U+FFFD replacement, as a decoded Go map would have them.
const { value: metaValue, object: metaObject } = fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    num,
    text,
    fc.array(tie('value'), { maxLength: 4 }),
    tie('object'),
  ),
  object: fc
    .uniqueArray(fc.tuple(key, tie('value')), { maxLength: 5, selector: ([k]) => toWellFormed(k) })
    .map((entries) => Object.fromEntries(entries)),
}));

const idChars = fc.constantFrom(...'abcXYZ0129._:-'.split(''));
const payloadArb: fc.Arbitrary<JobPayload> = fc.record({
  jobId: fc.string({ unit: idChars, minLength: 1, maxLength: 20 }).filter((s) => s !== '.' && s !== '..'),
  prompt: text,
  command: fc.string({ unit: char, minLength: 1, maxLength: 24 }),
  candidateMetadata: fc.option(metaObject, { nil: null }),
  pluginMetadata: fc.option(metaObject, { nil: null }),
  requiredScopes: fc.option(fc.array(text, { maxLength: 4 }), { nil: null }),
  snapshotMetadata: text,
  ttl: fc.integer({ min: 0, max: 2 ** 40 }),
  timestamp: fc.integer({ min: 0, max: 2 ** 40 }),
  controllerId: fc.string({ unit: char, minLength: 1, maxLength: 24 }).filter((s) => !/[\u0000-\u001f\u007f-\u009f]/.test(s)),
});

/** What JSON.parse of the canonical bytes must equal: strings and keys made well-formed. */
function normalize(v: unknown): unknown {
  if (typeof v === 'string') return toWellFormed(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [toWellFormed(k), normalize(x)]));
  }
  return v;
}

function expectedWire(p: JobPayload): unknown {
  return normalize({
    job_id: p.jobId,
    prompt: p.prompt,
    command: p.command,
    candidate_metadata: p.candidateMetadata,
    plugin_metadata: p.pluginMetadata,
    required_scopes: p.requiredScopes,
    snapshot_metadata: p.snapshotMetadata,
    ttl: p.ttl,
    timestamp: p.timestamp,
    controller_id: p.controllerId,
  });
}

const FIELD_ORDER = ['job_id', 'prompt', 'command', 'candidate_metadata', 'plugin_metadata', 'required_scopes', 'snapshot_metadata', 'ttl', 'timestamp', 'controller_id'];

/** Every object in the strict-parsed document has keys in strictly increasing UTF-8 order. */
function assertKeysSorted(v: JsonValue, path = '$'): void {
  if (Array.isArray(v)) v.forEach((x, i) => assertKeysSorted(x, `${path}[${i}]`));
  else if (v instanceof Map) {
    const keys = [...v.keys()];
    for (let i = 1; i < keys.length; i++) {
      assert.ok(Buffer.compare(Buffer.from(keys[i - 1]), Buffer.from(keys[i])) < 0, `keys out of order at ${path}`);
    }
    for (const [k, x] of v) assertKeysSorted(x, `${path}.${k}`);
  }
}

test('canonical bytes parse back to the same values (both Go variants)', () => {
  fc.assert(
    fc.property(payloadArb, (p) => {
      for (const opts of [MODERN_GO, LEGACY_GO]) {
        const bytes = Buffer.from(goMarshalPayload(p, opts), 'utf8');
        assert.deepStrictEqual(JSON.parse(bytes.toString('utf8')), expectedWire(p));
      }
    }),
    { numRuns: RUNS },
  );
});

test('encoding is stable: render(parse(render(x))) == render(x)', () => {
  fc.assert(
    fc.property(payloadArb, (p) => {
      const once = goMarshalPayload(p, MODERN_GO);
      assert.equal(goMarshalPayload(parseJobPayload(once), MODERN_GO), once);
      const legacy = goMarshalPayload(p, LEGACY_GO);
      assert.equal(goMarshalPayload(parseJobPayload(legacy), LEGACY_GO), legacy);
    }),
    { numRuns: RUNS },
  );
});

test('no raw <>&, controls, U+2028/2029 or lone surrogates; keys in UTF-8 byte order', () => {
  fc.assert(
    fc.property(payloadArb, (p) => {
      const out = goMarshalPayload(p, MODERN_GO);
      assert.doesNotMatch(out, /[<>&\u0000-\u001f\u2028\u2029]/);
      assert.equal(out, toWellFormed(out));
      assert.equal(Buffer.from(out, 'utf8').toString('utf8'), out);
      const doc = parseStrictJson(out, { maxDepth: 1000 });
      assert.ok(doc instanceof Map);
      // The struct itself keeps Go's field order; only the metadata maps are sorted.
      assert.deepEqual([...doc.keys()], FIELD_ORDER);
      assertKeysSorted(doc.get('candidate_metadata') ?? null);
      assertKeysSorted(doc.get('plugin_metadata') ?? null);
    }),
    { numRuns: RUNS },
  );
});

test('numbers survive the strict parser: raw text renders back identically', () => {
  fc.assert(
    fc.property(num, (n) => {
      const s = goFormatFloat(n);
      const parsed = parseStrictJson(s, { maxDepth: 1 });
      assert.ok(parsed instanceof JsonNumber);
      assert.ok(Object.is(parsed.value, n), `${s} → ${parsed.value}`);
      assert.equal(goFormatFloat(parsed.value), s);
    }),
    { numRuns: 2000 },
  );
});

test('number renderings match Go', () => {
  const table: [number, string][] = [
    [1e21, '1e+21'],
    [-1e21, '-1e+21'],
    [1.5e21, '1.5e+21'],
    [1e-7, '1e-7'],
    [1.5e-7, '1.5e-7'],
    [1e-6, '0.000001'],
    [9.99999e-7, '9.99999e-7'],
    [1e-10, '1e-10'],
    [123456789012345680000, '123456789012345680000'],
    [1e20, '100000000000000000000'],
    [-0, '-0'],
    [0, '0'],
    [0.1, '0.1'],
    [2 ** 53 + 1, '9007199254740992'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [12345678901, '12345678901'],
    [-3, '-3'],
  ];
  for (const [n, s] of table) assert.equal(goFormatFloat(n), s, String(n));
  assert.throws(() => goFormatFloat(Number.POSITIVE_INFINITY), TypeError);
  assert.throws(() => goFormatFloat(Number.NaN), TypeError);
});

test('string escapes match Go', () => {
  const table: [string, string, string][] = [
    // input, modern Go (>= 1.22), legacy Go (< 1.22)
    ['<a>&', '"\\u003ca\\u003e\\u0026"', '"\\u003ca\\u003e\\u0026"'],
    ['\b\f', '"\\b\\f"', '"\\u0008\\u000c"'],
    ['\n\r\t', '"\\n\\r\\t"', '"\\n\\r\\t"'],
    ['\u0000\u0001\u001f', '"\\u0000\\u0001\\u001f"', '"\\u0000\\u0001\\u001f"'],
    ['\u2028\u2029', '"\\u2028\\u2029"', '"\\u2028\\u2029"'],
    ['\u007f/é😀', '"\u007f/é😀"', '"\u007f/é😀"'],
    ['"\\', '"\\"\\\\"', '"\\"\\\\"'],
    ['a\ud800b\udc00', '"a\ufffdb\ufffd"', '"a\ufffdb\ufffd"'],
    ['\ud83d\ud83d\ude00', '"\ufffd😀"', '"\ufffd😀"'],
  ];
  for (const [input, modern, legacy] of table) {
    assert.equal(goQuote(input, MODERN_GO), modern, JSON.stringify(input));
    assert.equal(goQuote(input, LEGACY_GO), legacy, JSON.stringify(input));
  }
});

test('map keys sort by UTF-8 bytes, not UTF-16 code units', () => {
  // UTF-16 puts 😀 (D83D…) before U+E000; UTF-8 puts EE 80 80 before F0 9F 98 80.
  const out = goMarshalValue({ '😀': 1, '\ue000': 2, Z: 3, a: 4, '': 5 }, MODERN_GO);
  assert.equal(out, '{"":5,"Z":3,"a":4,"\ue000":2,"😀":1}');
  // Sorting happens after U+FFFD replacement: U+FFFD (EF BF BD) sorts before 😀.
  assert.equal(goMarshalValue({ '😀': 1, '\ud800': 2 }, MODERN_GO), '{"\ufffd":2,"😀":1}');
  assert.throws(() => goMarshalValue({ '\ud800': 1, '\udc00': 2 }, MODERN_GO), TypeError);
});

test('values with no Go counterpart are refused', () => {
  for (const bad of [undefined, 1n, () => 1, new Date(0), new Map(), { a: undefined }, [Number.NaN]]) {
    assert.throws(() => goMarshalValue(bad, MODERN_GO), TypeError);
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => goMarshalValue(cyclic, MODERN_GO), TypeError);
  // __proto__ is an ordinary own key on a null-prototype or JSON-made object.
  assert.equal(goMarshalValue(JSON.parse('{"__proto__":{"x":1}}'), MODERN_GO), '{"__proto__":{"x":1}}');
});

test('nil vs empty collections and absent strings render as Go does', () => {
  const base: JobPayload = {
    jobId: 'j', prompt: '', command: 'c', candidateMetadata: null, pluginMetadata: {}, requiredScopes: [],
    snapshotMetadata: '', ttl: 2, timestamp: 1, controllerId: 'x',
  };
  assert.equal(
    goMarshalPayload(base, MODERN_GO),
    '{"job_id":"j","prompt":"","command":"c","candidate_metadata":null,"plugin_metadata":{},"required_scopes":[],"snapshot_metadata":"","ttl":2,"timestamp":1,"controller_id":"x"}',
  );
});
