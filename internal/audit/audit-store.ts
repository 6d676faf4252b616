/**
 * The SQLite AuditLog: every append reads the current head inside a transaction, chains
 * the new row to it with SHA-256 (`chain.ts`) and inserts it (the SQL: `audit-writes.ts`);
 * rejections are group-committed, a failing database is rechecked by one timer. Rows are never updated or
 * deleted (no method for it here; triggers refuse it in SQL).
 */
import { AuditError, AuditUnavailableError } from './audit-error.js';
import { clipRejection } from './audit-clip.js';
import type { AuditBacklog, AuditEventInput, AuditEventType, AuditLog, AuditRecord, BatchedAuditEventType } from './audit-log.js';
import { Coalescer } from './coalescer.js';
import { canonicalJson } from './chain.js';
import { redactDetails, type PendingRow } from './audit-row.js';
import { prepareAuditWrites, ProbeRollback, type AuditWrites } from './audit-writes.js';

export { REDACTED_KEY, redactDetails } from './audit-row.js';
import type { Db } from './database.js';

/** Wall clock, injected so tests control timestamps. */
export interface AuditClock {
  now(): Date;
}

/** What SqliteAuditLog is built from. */
export interface SqliteAuditLogDeps {
  /** An open, migrated read-write connection (openDatabase). */
  readonly db: Db;
  readonly clock: AuditClock;
  /** Most events appendBatched holds before writing synchronously (default 10,000). */
  readonly maxBuffered?: number;
  /** Most bytes of details the backlog holds while the database fails (default 4 MiB). */
  readonly maxBufferedBytes?: number;
  /** Rows per remote address and minute a stranger gets verbatim (default STRANGER_BURST). */
  readonly strangerBurst?: number;
}

/** Default bound of the group-commit buffer. */
export const DEFAULT_MAX_BUFFERED = 10_000;

/** Default byte bound of the backlog. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Period of the one recheck timer while writes fail: a cheap probe, then the backlog if it passed. */
const RECHECK_MS = 1000;
/** Bytes a row costs besides its details (columns, hashes, index). */
const ROW_OVERHEAD_BYTES = 256;

/** Hash-chained, append-only audit log on the agent's SQLite file. */
export class SqliteAuditLog implements AuditLog {
  private readonly db: Db;
  private readonly clock: AuditClock;
  private readonly writes: AuditWrites;
  private readonly maxBuffered: number;
  private readonly maxBufferedBytes: number;
  private buffered: PendingRow[] = [];
  private bufferedBytes = 0;
  private flushScheduled = false;
  private isHealthy = true;
  private readonly coalescer: Coalescer;
  private sweptMinute = 0;
  /** The one retry timer while writes fail (probe or backlog); null when healthy. */
  private retryTimer: NodeJS.Timeout | null = null;
  /** Callers of checked() waiting for the next recheck. */
  private waiters: ((ok: boolean) => void)[] = [];
  private closed = false;

  constructor(deps: SqliteAuditLogDeps) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.writes = prepareAuditWrites(this.db);
    this.maxBuffered = deps.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    this.maxBufferedBytes = deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.coalescer = new Coalescer(deps.strangerBurst);
  }

  /** Append one event, chained to the current head; throws AUDIT_UNAVAILABLE if not written. */
  append(event: AuditEventInput): AuditRecord {
    // Queued rejections happened first: write them first, unless a caller's transaction is
    // open (they must not roll back with it; they follow at the end of the turn).
    // While writes fail, the backlog waits for the retry timer: never retried on a request.
    if (this.buffered.length > 0 && !this.db.inTransaction && this.retryTimer === null) this.tryFlush();
    const row = this.rowOf(event);
    try {
      const record = this.writes.appendOne(row);
      this.wrote();
      return record;
    } catch (cause) {
      // Everything inside the transaction is storage (read-only file, lock timeout, disk
      // full, closed connection); callers must fail closed on it, so it is one code.
      this.failed();
      throw new AuditUnavailableError('audit log unavailable', { cause });
    }
  }

  /** Queue a rejection for the group commit at the end of this turn; see AuditLog. */
  appendBatched(event: AuditEventInput & { readonly type: BatchedAuditEventType; readonly stranger?: boolean }): void {
    const nowMs = this.clock.now().getTime();
    this.sweep(nowMs);
    const code = typeof event.details?.['code'] === 'string' ? event.details['code'] : event.type;
    const clipped = clipRejection(event);
    if (event.stranger === true && !this.coalescer.admit(clipped.remoteAddr ?? null, nowMs)) {
      this.coalescer.count(clipped.remoteAddr ?? null, code, nowMs);
      return;
    }
    const row = this.rowOf(clipped);
    const full = this.buffered.length >= this.maxBuffered || this.bufferedBytes >= this.maxBufferedBytes;
    if (full && this.retryTimer !== null) {
      // The database is failing and the backlog is at its bound: count, never grow, never
      // retry here on the request path.
      this.coalescer.count(row.remoteAddr, code, nowMs, true);
      return;
    }
    if (full) {
      // A flood outran the turn on a healthy database: write now, nothing is dropped.
      this.writeRows([...this.buffered, row]);
      this.buffered = [];
      this.bufferedBytes = 0;
      return;
    }
    this.push(row);
    if (!this.flushScheduled && this.retryTimer === null) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.tryFlush();
      });
    }
  }

  /** Write every queued event now; throws AUDIT_UNAVAILABLE (and keeps them queued) if it cannot. */
  flush(): void {
    this.sweep(this.clock.now().getTime(), true);
    if (this.buffered.length === 0) return;
    this.writeRows(this.buffered);
    this.buffered = [];
    this.bufferedBytes = 0;
  }


  /** See AuditLog.backlog. */
  readonly backlog = (): AuditBacklog => ({ rows: this.buffered.length, bytes: this.bufferedBytes, counted: this.coalescer.pending });

  /** See AuditLog.close. */
  readonly close = (): void => {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const w of this.waiters) w(false);
    this.waiters = [];
    try {
      this.flush();
    } catch (cause) {
      const summaries = this.buffered.filter((r) => r.type === 'requests.coalesced');
      const counted = summaries.reduce((n, r) => n + Number((JSON.parse(r.detailsJson) as { counted?: number }).counted ?? 0), this.coalescer.pending);
      const rows = this.buffered.length - summaries.length;
      throw new AuditUnavailableError(`audit backlog lost at close: ${rows} rows (${this.bufferedBytes} bytes) and ${counted} counted events could not be written`, { cause });
    }
  };

  // Helpers are arrow properties, not methods: the prototype lists only what callers may
  // do (append, never change or remove).
  /** flush() for the timer and append(): a failure leaves the events queued and retries later. */
  private readonly tryFlush = (all = false): void => {
    try {
      this.sweep(this.clock.now().getTime(), all);
      if (this.buffered.length === 0) return;
      this.writeRows(this.buffered);
      this.buffered = [];
      this.bufferedBytes = 0;
    } catch {
      // failed() has armed the recheck timer.
    }
  };

  private readonly writeRows = (rows: readonly PendingRow[]): void => {
    try {
      this.writes.appendMany(rows);
      this.wrote();
    } catch (cause) {
      this.failed();
      throw new AuditUnavailableError('audit log unavailable', { cause });
    }
  };

  private readonly push = (row: PendingRow): void => {
    this.buffered.push(row);
    this.bufferedBytes += row.detailsJson.length + ROW_OVERHEAD_BYTES;
  };

  /** Counted minutes that are over become summary rows in the backlog (all of them with `all`). */
  private readonly sweep = (nowMs: number, all = false): void => {
    const minute = Math.floor(nowMs / 60_000);
    if (!all && minute === this.sweptMinute) return;
    this.sweptMinute = minute;
    const summaries = this.coalescer.drain(nowMs, all);
    const left = summaries.filter((s) => {
      if (this.buffered.length >= this.maxBuffered + 1024) return true;
      this.push(this.rowOf({ type: 'requests.coalesced', remoteAddr: s.remoteAddr, details: s.details }));
      return false;
    });
    this.coalescer.restore(left, nowMs);
  };

  private readonly wrote = (): void => {
    this.isHealthy = true;
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  };

  /**
   * Unhealthy, and the one recheck timer armed. Each tick runs the cheap probe; only once
   * it passes is the backlog written (and what was only counted, as summary rows): a full
   * disk never costs a 10,000-row transaction per second, nor any write on a request.
   */
  private readonly failed = (): void => {
    this.isHealthy = false;
    if (this.retryTimer !== null || this.closed || !this.db.open) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.probe() && (this.buffered.length > 0 || this.coalescer.pending > 0)) this.tryFlush(true);
      const waiting = this.waiters;
      this.waiters = [];
      for (const w of waiting) w(this.isHealthy);
    }, RECHECK_MS);
    this.retryTimer.unref();
  };

  /** See AuditLog.checked. */
  readonly checked = (): Promise<boolean> => {
    if (this.isHealthy || this.retryTimer === null) return Promise.resolve(this.isHealthy);
    // Someone waits for the answer: the timer keeps the process alive until it comes.
    this.retryTimer.ref();
    return new Promise((res) => this.waiters.push(res));
  };

  private readonly rowOf = (event: AuditEventInput): PendingRow => {
    let detailsJson: string;
    try {
      detailsJson = canonicalJson(redactDetails(event.details ?? {}));
    } catch (cause) {
      // A caller bug (cycle, BigInt), not a storage failure: health is unaffected.
      throw new AuditError('INTERNAL', 'audit details are not JSON-serialisable', { cause });
    }
    return {
      ts: this.clock.now().toISOString(),
      type: event.type,
      jobId: event.jobId ?? null,
      controllerId: event.controllerId ?? null,
      remoteAddr: event.remoteAddr ?? null,
      detailsJson,
    };
  };

  /** False after a failed write, until a later append or probe succeeds. */
  healthy(): boolean {
    return this.isHealthy;
  }

  /** A write on the same database failed outside append(): unhealthy until a later write succeeds. */
  markFailed(): void {
    this.failed();
  }

  /**
   * Insert a dummy audit row and roll it back (exercises the real INSERT path: a read-only
   * file, `query_only` or a held lock fail here as in append()), then commit a one-row
   * heartbeat in `agent_meta`: rolled-back pages never reach the WAL, so only a real commit
   * proves there is disk room again after a full disk. The audit chain itself is untouched.
   */
  probe(): boolean {
    try {
      this.writes.probe(this.clock.now().toISOString());
    } catch (e) {
      if (!(e instanceof ProbeRollback)) {
        this.failed();
        return false;
      }
    }
    try {
      this.writes.heartbeat.run(this.clock.now().toISOString());
      this.wrote();
    } catch {
      this.failed();
    }
    return this.isHealthy;
  }
}
