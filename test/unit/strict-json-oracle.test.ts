/**
 * Issue 12: strict-json against an oracle, JSON.parse. Inputs: fast-check's json() texts,
 * texts of jsonValue() with unicode strings, and both mutated (a character deleted,
 * inserted or replaced). Every text JSON.parse accepts that has no duplicate keys (after
 * the U+FFFD folding strict-json applies), no number overflowing to ±Infinity and no depth
 * beyond the limit parses to the same value; every text JSON.parse refuses, strict-json
 * refuses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { JsonNumber, JsonSyntaxError, parseStrictJson, type JsonValue } from '../../internal/agent/wire/strict-json.js';

const MAX_DEPTH = 64;

/** A comparable form: objects as key-sorted entry lists (JSON.parse reorders integer-like keys). */
type Plain = null | boolean | string | number | Plain[] | { entries: [string, Plain][] };

function fromStrict(v: JsonValue): Plain {
  if (v instanceof JsonNumber) return v.value;
  if (v instanceof Map) return { entries: [...v].map(([k, x]): [string, Plain] => [k, fromStrict(x)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
  if (Array.isArray(v)) return v.map(fromStrict);
  return v;
}

function fromOracle(v: unknown): Plain {
  if (v === null || typeof v === 'boolean' || typeof v === 'string' || typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(fromOracle);
  return { entries: Object.entries(v as Record<string, unknown>).map(([k, x]): [string, Plain] => [k, fromOracle(x)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
}

function same(a: Plain, b: Plain): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i] as Plain));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    return a.entries.length === b.entries.length && a.entries.every(([k, x], i) => k === b.entries[i]?.[0] && same(x, b.entries[i]?.[1] as Plain));
  }
  return a === b;
}

const fold = (k: string): string => k.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

/** Why strict-json may refuse a text JSON.parse accepts, or null: duplicates, ±Infinity, depth. */
function excluded(text: string): string | null {
  // Walk with a reviver-free second parse that sees raw keys: re-scan objects via JSON.parse with a reviver.
  let dup = false;
  let inf = false;
  JSON.parse(text, function (this: unknown, _k, v: unknown) {
    if (typeof v === 'number' && !Number.isFinite(v)) inf = true;
    return v;
  });
  // Duplicate keys vanish in JSON.parse's result; count keys per object by a tokenizing pass.
  const stack: Set<string>[] = [];
  const re = /"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+/gsu;
  let prevString: string | null = null;
  let depth = 0;
  let maxDepth = 0;
  for (const m of text.matchAll(re)) {
    const t = m[0];
    if (t === '{' || t === '[') {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      stack.push(new Set());
    } else if (t === '}' || t === ']') {
      depth--;
      stack.pop();
    } else if (t === ':' && prevString !== null) {
      const k = fold(JSON.parse(prevString) as string);
      const top = stack[stack.length - 1];
      if (top?.has(k)) dup = true;
      top?.add(k);
    }
    prevString = t.startsWith('"') ? t : null;
  }
  if (dup) return 'duplicate key';
  if (inf) return 'number overflows float64';
  if (maxDepth > MAX_DEPTH) return 'too deep';
  return null;
}

function check(text: string): void {
  let oracle: { ok: true; value: unknown } | { ok: false };
  try {
    oracle = { ok: true, value: JSON.parse(text) };
  } catch {
    oracle = { ok: false };
  }
  let mine: { ok: true; value: JsonValue } | { ok: false; err: unknown };
  try {
    mine = { ok: true, value: parseStrictJson(text, { maxDepth: MAX_DEPTH }) };
  } catch (err) {
    mine = { ok: false, err };
  }
  if (!oracle.ok) {
    assert.equal(mine.ok, false, `JSON.parse refuses ${JSON.stringify(text)} but strict-json accepted it`);
    assert.ok(!mine.ok && mine.err instanceof JsonSyntaxError);
    return;
  }
  const why = excluded(text);
  if (why !== null) return;
  assert.ok(mine.ok, `JSON.parse accepts ${JSON.stringify(text)} but strict-json refused it: ${mine.ok ? '' : String(mine.err)}`);
  assert.ok(mine.ok && same(fromStrict(mine.value), fromOracle(oracle.value)), `different values for ${JSON.stringify(text)}`);
}

const mutate = (s: string, i: number, c: string, kind: number): string => {
  const at = s.length === 0 ? 0 : i % (s.length + 1);
  if (kind === 0) return s.slice(0, at) + s.slice(at + 1);
  if (kind === 1) return s.slice(0, at) + c + s.slice(at);
  return s.slice(0, at) + c + s.slice(at + 1);
};
const noise = fc.constantFrom('"', '\\', ',', ':', '{', '}', '[', ']', '0', '-', '.', 'e', ' ', '\u0000', '\ud800', 'u', 'n', 't', '\ufeff', '\u00a0');
const texts = fc.oneof(fc.json({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }).map((v) => JSON.stringify(v)), fc.constantFrom('{"a":1,"a":2}', '1e400', '-0', '[-0.0e-0]', '"\\ud800"', '{"\\ud800":1,"\\udbff":2}', ' \t\n 1 ', '\ufeff1', '01', '1.', '.5', '"\u0001"'));

test('strict-json agrees with JSON.parse on generated JSON texts', () => {
  fc.assert(fc.property(texts, check), { numRuns: 2000 });
});

test('strict-json refuses every mutated text JSON.parse refuses, and agrees on the rest', () => {
  fc.assert(fc.property(texts, fc.nat(), noise, fc.integer({ min: 0, max: 2 }), (t, i, c, k) => check(mutate(t, i, c, k))), { numRuns: 4000 });
});
