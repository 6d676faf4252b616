/**
 * One audit row on its way into the chain: the redaction every `details` goes through, the
 * row's shapes before and after it is positioned, and its hash from the stored canonical
 * details text. Pure; the store (audit-store.ts) owns the transactions.
 */
import { createHash } from 'node:crypto';
import type { AuditEventType } from './audit-log.js';
import { canonicalJson, type ChainRow } from './chain.js';

/**
 * Keys dropped from `details` at any depth. Callers are told never to log secrets, but the
 * log is append-only and hash-chained: a secret that slipped in could never be removed
 * without breaking verification for every later row, and the file is read by operators
 * through `quickcmd audit`. So the store refuses anything that looks like key material,
 * signature bytes, bearer tokens or request bodies, whatever the caller meant. The cost is
 * an occasional innocent key (e.g. `body_bytes`) being dropped; name such keys otherwise.
 */
export const REDACTED_KEY = /secret|signature|token|password|body/i;

/** A copy of `value` with every object key matching REDACTED_KEY removed, recursively. */
export function redactDetails(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactDetails);
  if (value === null || typeof value !== 'object') return value;
  // Date, Buffer and friends serialise through toJSON; leave them to canonicalJson.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!REDACTED_KEY.test(k)) out[k] = redactDetails(v);
  }
  return out;
}

/**
 * chain.ts's rowHash for a row whose details are already canonical JSON (what the store
 * keeps): canonicalRow is the JCS array of the columns and then the details, and a JCS
 * array is its elements' renderings joined by commas, so the stored details text is
 * spliced in instead of being parsed and rendered again (a third of an append's CPU).
 * The columns still go through canonicalJson, so the escaping is chain.ts's own.
 */
export function rowHashOfCanonical(prevHash: string, cols: Omit<ChainRow, 'details'>, detailsJson: string): string {
  const head = canonicalJson([cols.seq, cols.ts, cols.type, cols.jobId, cols.controllerId, cols.remoteAddr]);
  return createHash('sha256').update(prevHash).update('\n').update(`${head.slice(0, -1)},${detailsJson}]`).digest('hex');
}

export interface HeadRow {
  seq: number;
  hash: string;
}

/** An event ready for the chain except for its position (seq, prev_hash, hash). */
export interface PendingRow extends Omit<ChainRow, 'seq' | 'type' | 'details'> {
  readonly type: AuditEventType;
  /** Canonical JSON of the redacted details: exactly the stored text. */
  readonly detailsJson: string;
}

export interface InsertParams extends Omit<ChainRow, 'details'> {
  readonly details: string;
  readonly prevHash: string;
  readonly hash: string;
}

