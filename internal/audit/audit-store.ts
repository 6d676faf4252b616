/**
 * The SQLite AuditLog: every append reads the current head inside a transaction, chains
 * the new row to it with SHA-256 (`chain.ts`) and inserts it. Rows are never updated or
 * deleted (no method for it here; triggers refuse it in SQL).
 */
import { createHash } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { RetryTimer } from '../shared/retry.js';
import { AuditError, AuditUnavailableError } from './audit-error.js';
import type { AuditEventInput, AuditEventType, AuditLog, AuditRecord, BatchedAuditEventType } from './audit-log.js';
import { canonicalJson, GENESIS_HASH, type ChainRow } from './chain.js';
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
}

/** Default bound of the group-commit buffer. */
export const DEFAULT_MAX_BUFFERED = 10_000;

/** Delay before a failed group commit is retried. */
const FLUSH_RETRY_MS = 1000;

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
function rowHashOfCanonical(prevHash: string, cols: Omit<ChainRow, 'details'>, detailsJson: string): string {
  const head = canonicalJson([cols.seq, cols.ts, cols.type, cols.jobId, cols.controllerId, cols.remoteAddr]);
  return createHash('sha256').update(prevHash).update('\n').update(`${head.slice(0, -1)},${detailsJson}]`).digest('hex');
}

interface HeadRow {
  seq: number;
  hash: string;
}

/** An event ready for the chain except for its position (seq, prev_hash, hash). */
interface PendingRow extends Omit<ChainRow, 'seq' | 'type' | 'details'> {
  readonly type: AuditEventType;
  /** Canonical JSON of the redacted details: exactly the stored text. */
  readonly detailsJson: string;
}

interface InsertParams extends Omit<ChainRow, 'details'> {
  readonly details: string;
  readonly prevHash: string;
  readonly hash: string;
}

/** Thrown inside probe()'s transaction so better-sqlite3 rolls it back. */
class ProbeRollback extends Error {}

/** Hash-chained, append-only audit log on the agent's SQLite file. */
export class SqliteAuditLog implements AuditLog {
  private readonly db: Db;
  private readonly clock: AuditClock;
  private readonly selectHead: BetterSqlite3.Statement<[], HeadRow>;
  private readonly insertRow: BetterSqlite3.Statement<[InsertParams]>;
  private readonly appendTxn: (row: PendingRow) => AuditRecord;
  private readonly probeTxn: () => void;
  private readonly heartbeat: BetterSqlite3.Statement<[string]>;
  private readonly appendManyTxn: (rows: readonly PendingRow[]) => void;
  private readonly maxBuffered: number;
  private buffered: PendingRow[] = [];
  /** A group commit is queued for the end of this turn. */
  private flushScheduled = false;
  /** A failed group commit is tried again later. */
  private readonly retry = new RetryTimer();
  private isHealthy = true;

  constructor(deps: SqliteAuditLogDeps) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.selectHead = this.db.prepare<[], HeadRow>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    this.insertRow = this.db.prepare<[InsertParams]>(
      `INSERT INTO audit_events (seq, ts, type, job_id, controller_id, remote_addr, details, prev_hash, hash)
       VALUES (@seq, @ts, @type, @jobId, @controllerId, @remoteAddr, @details, @prevHash, @hash)`,
    );
    // The head is read inside the transaction on every append, never cached: a caller's
    // outer transaction may roll our row back, and a cached head would then fork the chain.
    // Called inside a caller's transaction this runs as a SAVEPOINT; on its own, .immediate
    // takes the write lock up front so the read-then-insert cannot hit SQLITE_BUSY_SNAPSHOT.
    const chainRow = (row: PendingRow): { seq: number; prevHash: string; hash: string } => {
      const head = this.selectHead.get();
      const seq = head ? head.seq + 1 : 1;
      const prevHash = head ? head.hash : GENESIS_HASH;
      const { detailsJson, ...cols } = row;
      const hash = rowHashOfCanonical(prevHash, { ...cols, seq }, detailsJson);
      this.insertRow.run({ ...cols, seq, details: detailsJson, prevHash, hash });
      return { seq, prevHash, hash };
    };
    this.appendTxn = this.db.transaction((row: PendingRow): AuditRecord => {
      const { detailsJson, ...cols } = row;
      return { ...cols, ...chainRow(row), details: JSON.parse(detailsJson) as Record<string, unknown> };
    }).immediate;
    // The group commit: the same per-row chaining, many rows in one IMMEDIATE transaction.
    const many = this.db.transaction((rows: readonly PendingRow[]) => {
      for (const row of rows) chainRow(row);
    });
    this.appendManyTxn = many.immediate;
    this.maxBuffered = deps.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    const probe = this.db.transaction(() => {
      const head = this.selectHead.get();
      this.insertRow.run({
        seq: (head?.seq ?? 0) + 1,
        ts: this.clock.now().toISOString(),
        type: 'probe',
        jobId: null,
        controllerId: null,
        remoteAddr: null,
        details: '{}',
        prevHash: head?.hash ?? GENESIS_HASH,
        hash: GENESIS_HASH,
      });
      throw new ProbeRollback('probe rollback');
    });
    this.probeTxn = probe.immediate;
    this.heartbeat = this.db.prepare<[string]>(
      "INSERT INTO agent_meta (key, value) VALUES ('audit_probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
  }

  /** Append one event, chained to the current head; throws AUDIT_UNAVAILABLE if not written. */
  append(event: AuditEventInput): AuditRecord {
    // Queued rejections happened first: write them first, unless a caller's transaction is
    // open (they must not roll back with it; they follow at the end of the turn).
    if (this.buffered.length > 0 && !this.db.inTransaction) this.tryFlush();
    const row = this.rowOf(event);
    try {
      const record = this.appendTxn(row);
      this.isHealthy = true;
      return record;
    } catch (cause) {
      // Everything inside the transaction is storage (read-only file, lock timeout, disk
      // full, closed connection); callers must fail closed on it, so it is one code.
      this.isHealthy = false;
      throw new AuditUnavailableError('audit log unavailable', { cause });
    }
  }

  /** Queue a rejection for the group commit at the end of this turn; see AuditLog. */
  appendBatched(event: AuditEventInput & { readonly type: BatchedAuditEventType }): void {
    const row = this.rowOf(event);
    if (this.buffered.length >= this.maxBuffered) {
      // Full (the database is failing, or a flood outran the turn): never drop, write now.
      this.writeRows([...this.buffered, row]);
      this.buffered = [];
      return;
    }
    this.buffered.push(row);
    if (!this.flushScheduled && !this.retry.pending) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.tryFlush();
      });
    }
  }

  /** Write every queued event now; throws AUDIT_UNAVAILABLE (and keeps them queued) if it cannot. */
  flush(): void {
    if (this.buffered.length === 0) return;
    this.writeRows(this.buffered);
    this.buffered = [];
  }

  // Helpers are arrow properties, not methods: the prototype lists only what callers may
  // do (append, never change or remove).
  /** flush() for the timer and append(): a failure leaves the events queued and retries later. */
  private readonly tryFlush = (): void => {
    try {
      this.flush();
    } catch {
      if (!this.flushScheduled) this.retry.schedule(FLUSH_RETRY_MS, this.tryFlush);
    }
  };

  private readonly writeRows = (rows: readonly PendingRow[]): void => {
    try {
      this.appendManyTxn(rows);
      this.isHealthy = true;
    } catch (cause) {
      this.isHealthy = false;
      throw new AuditUnavailableError('audit log unavailable', { cause });
    }
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
    this.isHealthy = false;
  }

  /**
   * Insert a dummy audit row and roll it back (exercises the real INSERT path: a read-only
   * file, `query_only` or a held lock fail here as in append()), then commit a one-row
   * heartbeat in `agent_meta`: rolled-back pages never reach the WAL, so only a real commit
   * proves there is disk room again after a full disk. The audit chain itself is untouched.
   */
  probe(): boolean {
    try {
      this.probeTxn();
    } catch (e) {
      if (!(e instanceof ProbeRollback)) {
        this.isHealthy = false;
        return false;
      }
    }
    try {
      this.heartbeat.run(this.clock.now().toISOString());
      this.isHealthy = true;
    } catch {
      this.isHealthy = false;
    }
    return this.isHealthy;
  }
}
