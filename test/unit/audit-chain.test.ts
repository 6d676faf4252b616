import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJson, canonicalRow, GENESIS_HASH, rowHash, type ChainRow } from '../../internal/audit/chain.js';

const base: ChainRow = {
  seq: 1,
  ts: '2024-01-01T00:00:00.000Z',
  type: 'agent.started',
  jobId: null,
  controllerId: null,
  remoteAddr: null,
  details: {},
};

/** Rebuild an object with its own keys inserted in reverse order, at every depth. */
function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  // defineProperty, not assignment: `out['__proto__'] = x` would set the prototype and drop
  // the key (fast-check's jsonValue() does generate "__proto__" keys).
  for (const k of Object.keys(v).reverse()) Object.defineProperty(out, k, { value: reverseKeys((v as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
  return out;
}

describe('GENESIS_HASH', () => {
  it('is 64 zero hex digits', () => {
    assert.equal(GENESIS_HASH, '0'.repeat(64));
  });
});

describe('canonicalJson', () => {
  it('sorts keys recursively, ignoring insertion order', () => {
    const a = { b: 1, a: { d: [{ z: 1, y: 2 }], c: null } };
    const b = { a: { c: null, d: [{ y: 2, z: 1 }] }, b: 1 };
    assert.equal(canonicalJson(a), '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
    assert.equal(canonicalJson(a), canonicalJson(b));
  });

  it('orders integer-like keys as strings, not in engine (numeric) order', () => {
    assert.equal(canonicalJson({ a: 1, 10: 2, 2: 3 }), '{"10":2,"2":3,"a":1}');
  });

  it('follows JSON.stringify for toJSON, undefined, non-finite numbers', () => {
    const d = new Date('2024-05-01T00:00:00Z');
    assert.equal(canonicalJson({ d, u: undefined, n: Number.NaN, i: Infinity, arr: [undefined] }), '{"arr":[null],"d":"2024-05-01T00:00:00.000Z","i":null,"n":null}');
    assert.equal(canonicalJson(undefined), 'null');
  });

  it('throws on BigInt and cycles', () => {
    assert.throws(() => canonicalJson({ n: 1n }), TypeError);
    const c: Record<string, unknown> = {};
    c.self = c;
    assert.throws(() => canonicalJson(c), TypeError);
  });

  it('property: independent of key order, idempotent, and value-preserving', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(v);
        assert.equal(canonicalJson(reverseKeys(v)), text);
        assert.equal(canonicalJson(JSON.parse(text)), text);
        assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(v) ?? 'null'));
      }),
      { numRuns: 500 },
    );
  });
});

describe('canonicalRow', () => {
  it('pins the v1 rendering (changing it breaks every stored chain)', () => {
    const row: ChainRow = { ...base, jobId: 'j', controllerId: 'c', remoteAddr: '10.0.0.1', details: { b: 'x', a: 1 } };
    assert.equal(canonicalRow(row), '[1,"2024-01-01T00:00:00.000Z","agent.started","j","c","10.0.0.1",{"a":1,"b":"x"}]');
  });

  it('keeps null and the string "null" apart, and field boundaries unambiguous', () => {
    assert.notEqual(canonicalRow({ ...base, jobId: 'null' }), canonicalRow(base));
    assert.notEqual(canonicalRow({ ...base, jobId: 'a","b', controllerId: null }), canonicalRow({ ...base, jobId: 'a', controllerId: 'b' }));
  });

  it('renders missing details as {}', () => {
    assert.equal(canonicalRow({ ...base, details: undefined }), canonicalRow(base));
  });
});

describe('rowHash', () => {
  it('is sha256 hex of prevHash, newline, canonical row', () => {
    const expected = createHash('sha256').update(`${GENESIS_HASH}\n${canonicalRow(base)}`).digest('hex');
    assert.equal(rowHash(GENESIS_HASH, base), expected);
    assert.match(expected, /^[0-9a-f]{64}$/);
  });

  it('is deterministic and independent of details key order', () => {
    const a = { ...base, details: { x: 1, y: { p: 2, q: 3 } } };
    const b = { ...base, details: { y: { q: 3, p: 2 }, x: 1 } };
    assert.equal(rowHash(GENESIS_HASH, a), rowHash(GENESIS_HASH, b));
  });

  it('changes when any covered field or the previous hash changes', () => {
    const h = rowHash(GENESIS_HASH, base);
    const variants: ChainRow[] = [
      { ...base, seq: 2 },
      { ...base, ts: '2024-01-01T00:00:00.001Z' },
      { ...base, type: 'agent.stopped' },
      { ...base, jobId: 'j' },
      { ...base, controllerId: 'c' },
      { ...base, remoteAddr: '::1' },
      { ...base, details: { k: 1 } },
    ];
    const hashes = new Set([h, ...variants.map((v) => rowHash(GENESIS_HASH, v))]);
    assert.equal(hashes.size, variants.length + 1);
    assert.notEqual(rowHash('f'.repeat(64), base), h);
  });

  it('property: chaining is sensitive to every earlier row', () => {
    fc.assert(
      fc.property(fc.array(fc.dictionary(fc.string(), fc.jsonValue()), { minLength: 2, maxLength: 8 }), fc.nat(), (detailsList, pick) => {
        const chain = (list: unknown[]): string =>
          list.reduce<string>((prev, details, i) => rowHash(prev, { ...base, seq: i + 1, details }), GENESIS_HASH);
        const i = pick % detailsList.length;
        // Wrapping can never equal the original (a finite value is not nested inside itself).
        const changed = detailsList.map((d, j) => (j === i ? { wrapped: d } : d));
        assert.notEqual(chain(changed), chain(detailsList));
      }),
      { numRuns: 200 },
    );
  });
});
