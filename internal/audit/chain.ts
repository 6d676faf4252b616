/**
 * The audit hash chain, pure: how one row is rendered canonically and how its hash links
 * it to the previous row. The store (`audit-store.ts`) and the verifier (`verify.ts`) both
 * go through here, so writing and checking can never disagree.
 */
import { createHash } from 'node:crypto';

/**
 * `prev_hash` of the first row: 64 zeros. A fixed, obviously-synthetic value (rather
 * than a hash of some string) so an operator reading the table sees at once where the
 * chain starts; a first row with any other prev_hash means rows before it were removed.
 */
export const GENESIS_HASH = '0'.repeat(64);

/** The columns of one audit row that the hash covers (everything but the hashes). */
export interface ChainRow {
  readonly seq: number;
  readonly ts: string;
  readonly type: string;
  readonly jobId: string | null;
  readonly controllerId: string | null;
  readonly remoteAddr: string | null;
  /** Any JSON-serialisable value; in practice an object. */
  readonly details: unknown;
}

/** A JSON value after normalisation: what `JSON.parse` can return. */
type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Canonical JSON of `value`: the same value `JSON.stringify` would produce (toJSON,
 * undefined/function members dropped, non-finite numbers as null), but with object keys
 * sorted by UTF-16 code units at every depth and no whitespace. Numbers use ECMAScript's
 * shortest round-trip form, so this is RFC 8785 (JCS) output and re-parsing then
 * re-rendering a stored string gives the same bytes. Throws TypeError on cycles or BigInt,
 * like JSON.stringify. `undefined` renders as `null`.
 */
export function canonicalJson(value: unknown): string {
  // Round-trip through the native serialiser first: it owns the corner cases (toJSON,
  // Date, boxed primitives, sparse arrays), leaving only plain JSON values to order.
  const text = JSON.stringify(value);
  if (text === undefined) return 'null';
  return render(JSON.parse(text) as JsonValue);
}

function render(v: JsonValue): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(render).join(',')}]`;
  // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${render(v[k] as JsonValue)}`).join(',')}}`;
}

/**
 * Deterministic rendering of a row: a canonical JSON array
 * `[seq, ts, type, job_id, controller_id, remote_addr, details]`. JSON string escaping
 * keeps field boundaries unambiguous (no value can imitate a separator), and `seq` is
 * inside so deleting, inserting or renumbering a row changes every later hash.
 */
export function canonicalRow(row: ChainRow): string {
  return canonicalJson([row.seq, row.ts, row.type, row.jobId, row.controllerId, row.remoteAddr, row.details ?? {}]);
}

/** SHA-256 (lowercase hex) over `prevHash + '\n' + canonicalRow(row)`. */
export function rowHash(prevHash: string, row: ChainRow): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalRow(row)).digest('hex');
}
