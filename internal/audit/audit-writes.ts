/**
 * The SQL the audit log writes with, prepared once per connection: one row chained to the
 * head, many rows in one transaction (the group commit), the probe that inserts a dummy row
 * and rolls it back, and the heartbeat commit that follows it. The head is read inside each
 * transaction, never cached: a caller's outer transaction may roll a row back, and a cached
 * head would then fork the chain.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { GENESIS_HASH } from './chain.js';
import { rowHashOfCanonical, type HeadRow, type InsertParams, type PendingRow } from './audit-row.js';
import type { AuditRecord } from './audit-log.js';
import type { Db } from './database.js';

/** Thrown inside the probe's transaction so better-sqlite3 rolls it back. */
export class ProbeRollback extends Error {}

/** The audit log's writes on one connection. */
export interface AuditWrites {
  /** Chain and insert one row (a SAVEPOINT inside a caller's transaction, else IMMEDIATE). */
  readonly appendOne: (row: PendingRow) => AuditRecord;
  /** Chain and insert rows in order, in one IMMEDIATE transaction. */
  readonly appendMany: (rows: readonly PendingRow[]) => void;
  /** Insert a dummy row at `ts` and roll it back: throws ProbeRollback when the insert worked. */
  readonly probe: (ts: string) => void;
  /** Commit the one-row heartbeat in agent_meta. */
  readonly heartbeat: BetterSqlite3.Statement<[string]>;
}

/** Prepare the audit log's statements and transactions on `db`. */
export function prepareAuditWrites(db: Db): AuditWrites {
  const selectHead = db.prepare<[], HeadRow>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  const insertRow = db.prepare<[InsertParams]>(
    `INSERT INTO audit_events (seq, ts, type, job_id, controller_id, remote_addr, details, prev_hash, hash)
       VALUES (@seq, @ts, @type, @jobId, @controllerId, @remoteAddr, @details, @prevHash, @hash)`,
  );
  // On its own, .immediate takes the write lock up front so the read-then-insert cannot hit
  // SQLITE_BUSY_SNAPSHOT.
  const chainRow = (row: PendingRow): { seq: number; prevHash: string; hash: string } => {
    const head = selectHead.get();
    const seq = head ? head.seq + 1 : 1;
    const prevHash = head ? head.hash : GENESIS_HASH;
    const { detailsJson, ...cols } = row;
    const hash = rowHashOfCanonical(prevHash, { ...cols, seq }, detailsJson);
    insertRow.run({ ...cols, seq, details: detailsJson, prevHash, hash });
    return { seq, prevHash, hash };
  };
  const appendOne = db.transaction((row: PendingRow): AuditRecord => {
    const { detailsJson, ...cols } = row;
    return { ...cols, ...chainRow(row), details: JSON.parse(detailsJson) as Record<string, unknown> };
  }).immediate;
  const appendMany = db.transaction((rows: readonly PendingRow[]) => {
    for (const row of rows) chainRow(row);
  }).immediate;
  const probe = db.transaction((ts: string) => {
    const head = selectHead.get();
    insertRow.run({
      seq: (head?.seq ?? 0) + 1,
      ts,
      type: 'probe',
      jobId: null,
      controllerId: null,
      remoteAddr: null,
      details: '{}',
      prevHash: head?.hash ?? GENESIS_HASH,
      hash: GENESIS_HASH,
    });
    throw new ProbeRollback('probe rollback');
  }).immediate;
  const heartbeat = db.prepare<[string]>(
    "INSERT INTO agent_meta (key, value) VALUES ('audit_probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
  );
  return { appendOne, appendMany, probe, heartbeat };
}
