/**
 * The Go-compatible encoder (internal/agent/wire/go-json.ts) against Go's rules, not
 * against itself: hand-derived Go-rule vectors (test/fixtures/go-json-rules.json: lone
 * surrogates, -0, the 1e21 / 1e-6 exponent switch and e-07 clean-up, astral versus BMP
 * map-key order) through both the plain encoder and the real payload parser, and property
 * tests comparing every output byte with an independent oracle of Go's encode.go written
 * on UTF-8 byte strings (test/helpers/go-json-oracle.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { goFormatFloat, goMarshalValue, goQuote, LEGACY_GO, MODERN_GO, toWellFormed } from '../../internal/agent/wire/go-json.js';
import { canonicalVariants, goMarshalPayload, parseJobPayload, type JobPayload } from '../../internal/agent/wire/payload.js';
import { goEncodeFloat, goEncodeString, goOracleMarshal, goStringFromDecoded } from '../helpers/go-json-oracle.js';

interface RuleVector {
  rule: string;
  input: string;
  go: string;
  go_legacy?: string;
}

const fixture: unknown = JSON.parse(fs.readFileSync(new URL('../fixtures/go-json-rules.json', import.meta.url), 'utf8'));
const vectors = (fixture as { values: RuleVector[] }).values;
assert.ok(Array.isArray(vectors) && vectors.length >= 40, 'fixture shape');

const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

test('Go-rule vectors: the encoder writes exactly the bytes Go writes (both Go variants)', () => {
  for (const v of vectors) {
    const value: unknown = JSON.parse(v.input);
    for (const [opts, expected] of [[MODERN_GO, v.go], [LEGACY_GO, v.go_legacy ?? v.go]] as const) {
      assert.equal(hex(goMarshalValue(value, opts)), hex(expected), `${v.rule}: ${v.input}`);
    }
  }
});

test('Go-rule vectors: the oracle agrees (it is checked too, so neither can drift alone)', () => {
  for (const v of vectors) {
    const value: unknown = JSON.parse(v.input);
    assert.equal(goOracleMarshal(value, false).toString('hex'), hex(v.go), `${v.rule}: ${v.input}`);
    assert.equal(goOracleMarshal(value, true).toString('hex'), hex(v.go_legacy ?? v.go), `${v.rule} (legacy)`);
  }
});

test('Go-rule vectors through the strict parser and the signed payload canonical form', () => {
  for (const v of vectors) {
    const value: unknown = JSON.parse(v.input);
    const isMap = typeof value === 'object' && value !== null && !Array.isArray(value);
    const isString = typeof value === 'string';
    // A map is metadata itself, a non-empty string the command, anything else a metadata value.
    const meta = isMap ? v.input : `{"v":${v.input}}`;
    const command = isString ? v.input : '"true"';
    const body = `{"job_id":"j1","command":${command},"candidate_metadata":${meta},"ttl":60,"timestamp":1700000000,"controller_id":"c"}`;
    const { modern, legacy } = canonicalVariants(parseJobPayload(body));
    for (const [bytes, expected] of [[modern, v.go], [legacy, v.go_legacy ?? v.go]] as const) {
      const text = bytes.toString('utf8');
      const metaGo = isMap ? expected : `{"v":${expected}}`;
      const commandGo = isString ? expected : '"true"';
      assert.equal(
        hex(text),
        hex(`{"job_id":"j1","prompt":"","command":${commandGo},"candidate_metadata":${metaGo},"plugin_metadata":null,"required_scopes":null,"snapshot_metadata":"","ttl":60,"timestamp":1700000000,"controller_id":"c"}`),
        v.rule,
      );
    }
  }
});

test('oracle: invalid UTF-8 in a Go string is the escape \\ufffd, a real U+FFFD is raw', () => {
  // Never produced by decoding JSON (Go coerces bad bytes to U+FFFD on input), but it is
  // Go's rule for strings a Go program builds itself; the oracle must have it right.
  const bytes = Uint8Array.from([0x61, 0xff, 0xe2, 0x82, 0x62, 0xef, 0xbf, 0xbd, 0xed, 0xa0, 0x80]);
  assert.equal(Buffer.from(goEncodeString(bytes, false)).toString('utf8'), '"a\\ufffd\\ufffd\\ufffdb\ufffd\\ufffd\\ufffd\\ufffd"');
  assert.deepEqual([...goStringFromDecoded('\ud800\ud83d\ude00')], [0xef, 0xbf, 0xbd, 0xf0, 0x9f, 0x98, 0x80]);
});

// Every kind of code unit and code point, weighted towards what Go treats specially.
const special = ['<', '>', '&', '"', '\\', '/', '\u2028', '\u2029', '\u007f', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\ud800', '\udbff', '\udc00', '\udfff', '\ufffd', '\ue000', '\uff5e', '\uffff', '\u{10000}', '😀', '\u{10ffff}', 'é', '中'];
const char = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...special) },
  { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
);
const text = fc.string({ unit: char, maxLength: 20 });

test('property: strings are quoted byte for byte as Go quotes the decoded string', () => {
  fc.assert(
    fc.property(text, (s) => {
      for (const [opts, legacy] of [[MODERN_GO, false], [LEGACY_GO, true]] as const) {
        const expected = Buffer.from(goEncodeString(goStringFromDecoded(s), legacy));
        assert.equal(Buffer.from(goQuote(s, opts), 'utf8').toString('hex'), expected.toString('hex'));
      }
    }),
    { numRuns: 3000 },
  );
});

const bits = (hi: number, lo: number): number => new Float64Array(new Uint32Array([lo, hi]).buffer)[0];
// Doubles anywhere, and densely on both sides of the two format switches.
const double = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.double({ min: 9.9e-7, max: 1.01e-6, noNaN: true }),
  fc.double({ min: 9.9e20, max: 1.01e21, noNaN: true }),
  fc.double({ min: -1.01e21, max: -9.9e20, noNaN: true }),
  fc.tuple(fc.integer({ min: 0, max: 0x7fefffff }), fc.integer({ min: 0, max: 0xffffffff })).map(([hi, lo]) => bits(hi, lo >>> 0)),
  fc.integer({ min: -1e6, max: 1e6 }).map((k) => 1e-6 + k * 2 ** -72),
  fc.integer({ min: -1e6, max: 1e6 }).map((k) => 1e21 + k * 2 ** 17),
  fc.constantFrom(-0, 0, 1e-7, -1e-7, 1e-6, 1e21, 1e-100, 5e-324, 1.7976931348623157e308),
);

test('property: every finite double is formatted as Go floatEncoder formats it', () => {
  fc.assert(
    fc.property(double, (f) => {
      assert.equal(goFormatFloat(f), goEncodeFloat(f), String(f));
    }),
    { numRuns: 20000 },
  );
});

// Map keys drawn so that UTF-16 and UTF-8 order disagree often.
const key = fc.oneof(
  text,
  fc.string({ unit: fc.constantFrom('\ue000', '\uff5e', '\ufffd', '\uffff', '\u{10000}', '😀', '\ud800', 'a', '中'), maxLength: 3 }),
);
const { value: goValue } = fc.letrec<{ value: unknown; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constant(null), fc.boolean(), double, text, fc.array(tie('value'), { maxLength: 4 }), tie('object')),
  object: fc
    .uniqueArray(fc.tuple(key, tie('value')), { maxLength: 6, selector: ([k]) => toWellFormed(k) })
    .map((entries) => Object.fromEntries(entries)),
}));

test('property: metadata values (maps with astral and BMP keys) match the oracle byte for byte', () => {
  fc.assert(
    fc.property(goValue, (v) => {
      assert.equal(Buffer.from(goMarshalValue(v, MODERN_GO), 'utf8').toString('hex'), goOracleMarshal(v, false).toString('hex'));
      assert.equal(Buffer.from(goMarshalValue(v, LEGACY_GO), 'utf8').toString('hex'), goOracleMarshal(v, true).toString('hex'));
    }),
    { numRuns: 1500 },
  );
});

const FIELDS = ['job_id', 'prompt', 'command', 'candidate_metadata', 'plugin_metadata', 'required_scopes', 'snapshot_metadata', 'ttl', 'timestamp', 'controller_id'] as const;

/** Go's structEncoder: fields in declaration order; int64 via strconv.FormatInt. */
function oracleStruct(p: JobPayload, legacy: boolean): Buffer {
  const values: Record<(typeof FIELDS)[number], unknown> = {
    job_id: p.jobId, prompt: p.prompt, command: p.command, candidate_metadata: p.candidateMetadata,
    plugin_metadata: p.pluginMetadata, required_scopes: p.requiredScopes, snapshot_metadata: p.snapshotMetadata,
    ttl: p.ttl, timestamp: p.timestamp, controller_id: p.controllerId,
  };
  const parts = FIELDS.map((f) => {
    const v = values[f];
    const enc = f === 'ttl' || f === 'timestamp' ? Buffer.from(BigInt(v as number).toString()) : goOracleMarshal(v, legacy);
    return Buffer.concat([Buffer.from(`"${f}":`), enc]);
  });
  const joined: Buffer[] = [Buffer.from('{')];
  parts.forEach((b, i) => joined.push(...(i > 0 ? [Buffer.from(','), b] : [b])));
  joined.push(Buffer.from('}'));
  return Buffer.concat(joined);
}

const objectArb = fc.uniqueArray(fc.tuple(key, goValue), { maxLength: 5, selector: ([k]) => toWellFormed(k) }).map((e) => Object.fromEntries(e));
const payloadArb: fc.Arbitrary<JobPayload> = fc.record({
  jobId: fc.constantFrom('j1', 'job-2', 'a.b_c:d'),
  prompt: text,
  command: fc.string({ unit: char, minLength: 1, maxLength: 20 }),
  candidateMetadata: fc.option(objectArb, { nil: null }),
  pluginMetadata: fc.option(objectArb, { nil: null }),
  requiredScopes: fc.option(fc.array(text, { maxLength: 3 }), { nil: null }),
  snapshotMetadata: text,
  ttl: fc.integer({ min: 0, max: 2 ** 40 }),
  timestamp: fc.integer({ min: 0, max: 2 ** 40 }),
  controllerId: fc.constantFrom('c', 'ctl-1'),
});

test('property: the signed payload canonical bytes equal Go structEncoder output', () => {
  fc.assert(
    fc.property(payloadArb, (p) => {
      assert.equal(Buffer.from(goMarshalPayload(p, MODERN_GO), 'utf8').toString('hex'), oracleStruct(p, false).toString('hex'));
      assert.equal(Buffer.from(goMarshalPayload(p, LEGACY_GO), 'utf8').toString('hex'), oracleStruct(p, true).toString('hex'));
    }),
    { numRuns: 500 },
  );
});
