/**
 * Filtered reads of the audit log for `quickcmd audit list/export`. Rows stream through
 * `.iterate()`, so an export of the whole file holds one row in memory at a time.
 */
import type { AuditEventType, AuditRecord } from './audit-log.js';
import type { Db } from './database.js';
import type { StoredRow } from './stored-row.js';

/** Which events to return; every field narrows the result (AND). */
export interface AuditFilter {
  /** Events with ts at or after this instant (inclusive). */
  readonly since?: Date;
  /** Events with ts strictly before this instant (exclusive), so ranges tile. */
  readonly until?: Date;
  readonly jobId?: string;
  readonly controllerId?: string;
  readonly type?: string;
  /** At most this many events (a non-negative integer), lowest seq first. */
  readonly limit?: number;
}


/**
 * Events matching `filter` in seq order. The SQL text depends only on which fields are
 * set; values are always bound parameters. The connection is busy until the iterator is
 * exhausted or returned. Throws RangeError on an invalid date or limit.
 */
export function queryEvents(db: Db, filter: AuditFilter = {}): IterableIterator<AuditRecord> {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  // ts is stored as Date.toISOString() (fixed width, UTC), so text order is time order.
  if (filter.since !== undefined) {
    where.push('ts >= @since');
    params.since = isoOf(filter.since, 'since');
  }
  if (filter.until !== undefined) {
    where.push('ts < @until');
    params.until = isoOf(filter.until, 'until');
  }
  if (filter.jobId !== undefined) {
    where.push('job_id = @jobId');
    params.jobId = filter.jobId;
  }
  if (filter.controllerId !== undefined) {
    where.push('controller_id = @controllerId');
    params.controllerId = filter.controllerId;
  }
  if (filter.type !== undefined) {
    where.push('type = @type');
    params.type = filter.type;
  }
  let sql = `SELECT seq, ts, type, job_id, controller_id, remote_addr, details, prev_hash, hash FROM audit_events`;
  if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
  sql += ' ORDER BY seq';
  if (filter.limit !== undefined) {
    if (!Number.isSafeInteger(filter.limit) || filter.limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${filter.limit}`);
    sql += ' LIMIT @limit';
    params.limit = filter.limit;
  }
  return mapRows(db.prepare<[Record<string, string | number>], StoredRow>(sql).iterate(params));
}

function isoOf(d: Date, name: string): string {
  if (Number.isNaN(d.getTime())) throw new RangeError(`${name} is not a valid date`);
  return d.toISOString();
}

function* mapRows(rows: IterableIterator<StoredRow>): IterableIterator<AuditRecord> {
  for (const r of rows) yield toRecord(r);
}

function toRecord(r: StoredRow): AuditRecord {
  let details: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(r.details);
    details = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { $value: parsed };
  } catch {
    // Only a tampered file gets here (verify reports it); show the raw text rather than hide the row.
    details = { $invalid_json: r.details };
  }
  return {
    seq: r.seq,
    ts: r.ts,
    // Rows are written only through append(), which takes an AuditEventType; a forged type
    // is tampering that verify reports, so list/export show it as stored.
    type: r.type as AuditEventType,
    jobId: r.job_id,
    controllerId: r.controller_id,
    remoteAddr: r.remote_addr,
    details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
