/**
 * SQLite persistence for jobs, their output frames, and every job id ever accepted.
 * Only the job manager and the intake (through the manager) write here; the stream
 * server and the status route read.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../../audit/database.js';
import type { StreamName } from '../../sandbox/sandbox.js';
import { JobFilesStore } from './job-files-store.js';
import { parseStatus, type JobRecord, type JobSpec, type JobStatus, type StoredResult } from './job.js';

/** One stored output frame. */
export interface OutputFrame {
  readonly seq: number;
  /** Epoch milliseconds when the frame was produced. */
  readonly ts: number;
  readonly stream: StreamName;
  readonly data: Buffer;
}

interface JobRow {
  job_id: string;
  controller_id: string;
  status: string;
  spec: string;
  queue_seq: number;
  created_at: number;
  updated_at: number;
  sandbox_id: string | null;
  result: string | null;
}

interface FrameRow {
  seq: number;
  ts: number;
  stream: string;
  data: Buffer;
}

function toRecord(r: JobRow): JobRecord {
  return {
    jobId: r.job_id,
    controllerId: r.controller_id,
    status: parseStatus(r.status),
    spec: JSON.parse(r.spec) as JobSpec,
    queueSeq: r.queue_seq,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    sandboxId: r.sandbox_id,
    result: r.result === null ? null : (JSON.parse(r.result) as StoredResult),
  };
}

function toFrame(r: FrameRow): OutputFrame {
  return { seq: r.seq, ts: r.ts, stream: r.stream === 'stderr' ? 'stderr' : 'stdout', data: r.data };
}

/** Prepared-statement store over the agent database. */
export class JobStore {
  /** Input files and artifacts of jobs (SPEC §12), pruned with them. */
  readonly files: JobFilesStore;
  private readonly s: {
    accepted: Statement<[string]>;
    insertId: Statement<[string, string, number]>;
    insertJob: Statement<[string, string, string, number, number, number]>;
    maxQueueSeq: Statement<[]>;
    get: Statement<[string]>;
    byStatus: Statement<[string]>;
    setStatus: Statement<[string, number, string | null, string]>;
    setSandbox: Statement<[string, number, string]>;
    finish: Statement<[string, number, string, string]>;
    insertFrame: Statement<[string, number, number, string, Buffer]>;
    frames: Statement<[string, number, number]>;
    totals: Statement<[string]>;
    lastSeq: Statement<[string]>;
    pruneOutput: Statement<[number]>;
    pruneJobs: Statement<[number]>;
    meta: Statement<[string]>;
    setMeta: Statement<[string, string]>;
  };

  constructor(
    private readonly db: Db,
    /** Told the bytes of every stored output frame (the WAL checkpointer's trigger). */
    private readonly onBulkWrite: (bytes: number) => void = () => undefined,
  ) {
    this.files = new JobFilesStore(db);
    this.s = {
      accepted: db.prepare('SELECT 1 FROM accepted_job_ids WHERE job_id = ?'),
      insertId: db.prepare('INSERT INTO accepted_job_ids (job_id, controller_id, accepted_at) VALUES (?, ?, ?)'),
      insertJob: db.prepare(
        "INSERT INTO jobs (job_id, controller_id, status, spec, queue_seq, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)",
      ),
      maxQueueSeq: db.prepare('SELECT COALESCE(MAX(queue_seq), 0) AS m FROM jobs'),
      get: db.prepare('SELECT * FROM jobs WHERE job_id = ?'),
      byStatus: db.prepare('SELECT * FROM jobs WHERE status = ? ORDER BY queue_seq'),
      setStatus: db.prepare('UPDATE jobs SET status = ?, updated_at = ?, sandbox_id = COALESCE(?, sandbox_id) WHERE job_id = ?'),
      setSandbox: db.prepare('UPDATE jobs SET sandbox_id = ?, updated_at = ? WHERE job_id = ?'),
      finish: db.prepare('UPDATE jobs SET status = ?, updated_at = ?, result = ? WHERE job_id = ?'),
      insertFrame: db.prepare('INSERT INTO job_output (job_id, seq, ts, stream, data) VALUES (?, ?, ?, ?, ?)'),
      frames: db.prepare('SELECT seq, ts, stream, data FROM job_output WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      totals: db.prepare('SELECT stream, SUM(LENGTH(data)) AS n FROM job_output WHERE job_id = ? GROUP BY stream'),
      lastSeq: db.prepare('SELECT COALESCE(MAX(seq), 0) AS m FROM job_output WHERE job_id = ?'),
      pruneOutput: db.prepare(
        "DELETE FROM job_output WHERE job_id IN (SELECT job_id FROM jobs WHERE status NOT IN ('pending','running') AND updated_at < ?)",
      ),
      pruneJobs: db.prepare("DELETE FROM jobs WHERE status NOT IN ('pending','running') AND updated_at < ?"),
      meta: db.prepare('SELECT value FROM agent_meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO agent_meta (key, value) VALUES (?, ?)'),
    };
  }

  /** Run `fn` in one transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** True if this job id was ever accepted (replay protection). */
  wasAccepted(jobId: string): boolean {
    return this.s.accepted.get(jobId) !== undefined;
  }

  /** Record a new pending job and its id; throws on a duplicate id (primary key). */
  insertPending(jobId: string, controllerId: string, spec: JobSpec, nowMs: number): number {
    this.s.insertId.run(jobId, controllerId, nowMs);
    const seq = (this.s.maxQueueSeq.get() as { m: number }).m + 1;
    this.s.insertJob.run(jobId, controllerId, JSON.stringify(spec), seq, nowMs, nowMs);
    return seq;
  }

  /** The job, or null. */
  get(jobId: string): JobRecord | null {
    const r = this.s.get.get(jobId) as JobRow | undefined;
    return r === undefined ? null : toRecord(r);
  }

  /** Jobs in a state, in queue order. */
  listByStatus(status: JobStatus): JobRecord[] {
    return (this.s.byStatus.all(status) as JobRow[]).map(toRecord);
  }

  /** Change a job's status (the manager has checked the transition). */
  setStatus(jobId: string, status: JobStatus, nowMs: number, sandboxId: string | null = null): void {
    this.s.setStatus.run(status, nowMs, sandboxId, jobId);
  }

  /** Remember which container runs a job. */
  setSandbox(jobId: string, sandboxId: string, nowMs: number): void {
    this.s.setSandbox.run(sandboxId, nowMs, jobId);
  }

  /** Store the final status and result. */
  finish(jobId: string, status: JobStatus, result: StoredResult, nowMs: number): void {
    this.s.finish.run(status, nowMs, JSON.stringify(result), jobId);
  }

  /** Append one output frame. */
  appendFrame(jobId: string, frame: OutputFrame): void {
    this.s.insertFrame.run(jobId, frame.seq, frame.ts, frame.stream, frame.data);
    this.onBulkWrite(frame.data.length);
  }

  /** Up to `limit` frames after `afterSeq`, in order (paged so memory stays bounded). */
  framesAfter(jobId: string, afterSeq: number, limit = 256): OutputFrame[] {
    return (this.s.frames.all(jobId, afterSeq, limit) as FrameRow[]).map(toFrame);
  }

  /** Bytes stored per stream and the last frame seq. */
  outputTotals(jobId: string): { stdout: number; stderr: number; lastSeq: number } {
    const t = { stdout: 0, stderr: 0 };
    for (const r of this.s.totals.all(jobId) as { stream: string; n: number }[]) {
      if (r.stream === 'stdout' || r.stream === 'stderr') t[r.stream] = r.n;
    }
    return { ...t, lastSeq: (this.s.lastSeq.get(jobId) as { m: number }).m };
  }

  /** Delete finished jobs and their output last updated before `beforeMs`; accepted ids stay forever. */
  prune(beforeMs: number): number {
    return this.transaction(() => {
      this.files.prune(beforeMs);
      this.s.pruneOutput.run(beforeMs);
      return this.s.pruneJobs.run(beforeMs).changes;
    });
  }

  /** A persistent per-database fact, created by `make` on first use. */
  meta(key: string, make: () => string): string {
    const row = this.s.meta.get(key) as { value: string } | undefined;
    if (row !== undefined) return row.value;
    const value = make();
    this.s.setMeta.run(key, value);
    return value;
  }
}
