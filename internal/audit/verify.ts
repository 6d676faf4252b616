/**
 * Walks the audit chain in seq order and names the first row that breaks it. Memory stays
 * bounded (one row at a time through `.iterate()`), so a file with millions of events is
 * fine, and the single statement reads one consistent WAL snapshot while a live agent
 * keeps appending.
 *
 * What the chain can and cannot show: any change, deletion, insertion or reordering of
 * rows before the head is detected. Removing rows from the END, or rewriting a suffix and
 * recomputing its hashes (the algorithm is public and unkeyed), is not detectable from the
 * file alone; comparing the head hash with a copy kept elsewhere closes that gap.
 */
import { canonicalJson, GENESIS_HASH, rowHash } from './chain.js';
import type { Db } from './database.js';
import type { StoredRow } from './stored-row.js';

/** Outcome of verifyChain; `badSeq` is the seq of the first row that fails a check. */
export type VerifyResult =
  | { ok: true; checked: number }
  | { ok: false; checked: number; badSeq: number; reason: string };


/**
 * Check every row: seq contiguous from 1, prev_hash equal to the previous row's hash (the
 * genesis hash for the first), details stored in canonical form, and hash recomputed from
 * the content. `checked` counts rows that passed before the first failure.
 */
export function verifyChain(db: Db): VerifyResult {
  const rows = db
    .prepare<[], StoredRow>(
      `SELECT seq, ts, type, job_id, controller_id, remote_addr, details, prev_hash, hash
       FROM audit_events ORDER BY seq`,
    )
    .iterate();
  let checked = 0;
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  for (const row of rows) {
    const reason = checkRow(row, expectedSeq, prevHash);
    if (reason !== null) {
      // Ends the statement early so the connection is free for the caller again.
      rows.return?.();
      return { ok: false, checked, badSeq: row.seq, reason };
    }
    checked++;
    expectedSeq = row.seq + 1;
    prevHash = row.hash;
  }
  return { ok: true, checked };
}

/** Why `row` breaks the chain, or null when it links correctly. */
function checkRow(row: StoredRow, expectedSeq: number, prevHash: string): string | null {
  if (row.seq !== expectedSeq) {
    return expectedSeq === 1
      ? `chain starts at seq ${row.seq}, expected 1 (events deleted before it)`
      : `seq gap: expected ${expectedSeq}, found ${row.seq} (events deleted)`;
  }
  if (row.prev_hash !== prevHash) {
    return row.seq === 1
      ? 'prev_hash of the first event is not the genesis hash'
      : `prev_hash does not match the hash of seq ${row.seq - 1} (event inserted or replaced)`;
  }
  let details: unknown;
  try {
    details = JSON.parse(row.details);
  } catch {
    return 'details is not valid JSON (row content changed)';
  }
  // Stored text must be the canonical rendering, so whitespace or key-order edits that
  // leave the parsed value (and thus the hash) unchanged are still reported.
  if (canonicalJson(details) !== row.details) return 'details is not in canonical form (row content changed)';
  const expected = rowHash(prevHash, {
    seq: row.seq,
    ts: row.ts,
    type: row.type,
    jobId: row.job_id,
    controllerId: row.controller_id,
    remoteAddr: row.remote_addr,
    details,
  });
  if (expected !== row.hash) return 'hash mismatch (row content changed)';
  return null;
}
