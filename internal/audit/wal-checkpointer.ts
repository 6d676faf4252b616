/**
 * WAL checkpoints off the event loop while output is heavy. A checkpoint copies the WAL
 * back into the database file and fsyncs both; run inline by SQLite's auto-checkpoint it
 * blocked the agent for hundreds of milliseconds per 16 MiB of job output (the profile of
 * the streaming bench: most of the commit time was the checkpoint, not the frame writes).
 *
 * Bulk writers (output frames) report their bytes here. Once TRIGGER_BYTES are written, a
 * worker thread with its own connection runs PASSIVE checkpoints (never blocks the writer,
 * never waits for a lock) back to back while writes keep coming, and exits after IDLE_MS
 * without any. While it lives, the main connection's auto-checkpoint is raised to
 * SAFETY_PAGES: the bound on the WAL if the disk cannot keep up (then the main connection
 * checkpoints inline again, as before). Without heavy output nothing changes: no thread,
 * the usual auto-checkpoint. Durability is unchanged (same connection settings, same
 * checkpoint, just another thread).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from './database.js';

/** Auto-checkpoint of the main connection without a worker (pages of 4 KiB: ~16 MiB). */
export const DEFAULT_AUTOCHECKPOINT_PAGES = 4000;
/** Auto-checkpoint while the worker runs: the WAL's bound when the disk lags (~256 MiB). */
export const SAFETY_AUTOCHECKPOINT_PAGES = 65536;
/** A WAL file grown past this is cut back to it on its next reset. */
export const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** Bulk bytes written that start (or keep busy) the worker. */
const TRIGGER_BYTES = 4 * 1024 * 1024;
/** The worker exits after this long without bulk writes. */
const IDLE_MS = 10_000;
/** How long close() waits for the worker to finish a checkpoint before terminating it. */
const CLOSE_WAIT_MS = 5_000;

/** The worker: one connection, one PASSIVE checkpoint per message, closes on 'close'. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
parentPort.on('message', (m) => {
  if (m === 'close') { db.close(); parentPort.close(); return; }
  let error = null;
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { error = String(e && e.message || e); }
  parentPort.postMessage({ error });
});
`;

/** What the checkpointer reports (for logs). */
export interface CheckpointerEvents {
  readonly warn: (msg: string) => void;
  /** A checkpoint in the worker finished (tests). */
  readonly checkpointed?: () => void;
}

/** See the file comment. */
export class WalCheckpointer {
  private worker: Worker | null = null;
  private exited: Promise<void> | null = null;
  private busy = false;
  private again = false;
  private pendingBytes = 0;
  private idle: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly sqliteModule: string;

  constructor(
    private readonly db: Db,
    private readonly file: string,
    private readonly events: CheckpointerEvents = { warn: () => undefined },
  ) {
    this.sqliteModule = createRequire(import.meta.url).resolve('better-sqlite3');
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  }

  /** Bulk bytes were written (inside or after a transaction): checkpoint off the loop when enough piled up. */
  noteWritten(bytes: number): void {
    if (this.closed) return;
    this.pendingBytes += bytes;
    if (this.pendingBytes < TRIGGER_BYTES) return;
    this.pendingBytes = 0;
    this.request();
  }

  /** Whether the worker is running (tests). */
  get active(): boolean {
    return this.worker !== null;
  }

  /** Stop the worker (waits for a checkpoint in progress). Idempotent; call before closing the database. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearIdle();
    await this.stopWorker();
  }

  private request(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.clearIdle();
    const w = this.worker ?? this.startWorker();
    if (w === null) return;
    this.busy = true;
    w.postMessage('checkpoint');
  }

  private startWorker(): Worker | null {
    let w: Worker;
    try {
      w = new Worker(WORKER_SOURCE, { eval: true, workerData: { sqlite: this.sqliteModule, file: this.file }, resourceLimits: { maxOldGenerationSizeMb: 16 } });
    } catch (e) {
      this.events.warn(`WAL checkpoint worker could not start; checkpoints stay inline: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    }
    w.unref();
    this.worker = w;
    this.exited = new Promise((resolve) => w.once('exit', () => resolve()));
    w.on('message', (m: { error: string | null }) => this.onDone(m.error));
    w.on('error', (e: Error) => {
      this.events.warn(`WAL checkpoint worker failed; checkpoints stay inline: ${e.message}`);
    });
    w.once('exit', () => {
      if (this.worker !== w) return;
      this.worker = null;
      this.busy = false;
      this.setAutocheckpoint(DEFAULT_AUTOCHECKPOINT_PAGES);
    });
    this.setAutocheckpoint(SAFETY_AUTOCHECKPOINT_PAGES);
    return w;
  }

  private onDone(error: string | null): void {
    this.busy = false;
    if (error !== null) this.events.warn(`WAL checkpoint in the worker failed: ${error}`);
    this.events.checkpointed?.();
    if (this.closed) return;
    if (this.again) {
      this.again = false;
      this.request();
      return;
    }
    this.idle = setTimeout(() => {
      this.idle = null;
      void this.stopWorker();
    }, IDLE_MS);
    this.idle.unref();
  }

  private async stopWorker(): Promise<void> {
    const w = this.worker;
    const exited = this.exited;
    if (w === null || exited === null) return;
    this.worker = null;
    this.busy = false;
    this.again = false;
    w.postMessage('close');
    const timer = setTimeout(() => void w.terminate(), CLOSE_WAIT_MS);
    await exited;
    clearTimeout(timer);
    this.setAutocheckpoint(DEFAULT_AUTOCHECKPOINT_PAGES);
  }

  private clearIdle(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
  }

  private setAutocheckpoint(pages: number): void {
    if (!this.db.open) return;
    try {
      this.db.pragma(`wal_autocheckpoint = ${pages}`);
    } catch (e) {
      this.events.warn(`could not set wal_autocheckpoint: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
