/**
 * One running job's output path: raw demultiplexed chunks → shared byte cap → per-stream
 * UTF-8 framing (a character is never split across frames) → batches of about 16 KiB →
 * a stored frame (SQLite) → live followers. Storing before publishing means a follower
 * that reconnects always finds in the database every frame it may have missed.
 */
import crypto from 'node:crypto';
import { OutputCap } from '../../sandbox/output-cap.js';
import type { OutputSink, StreamName } from '../../sandbox/sandbox.js';
import { Utf8Framer } from '../../sandbox/utf8-framer.js';
import type { Clock } from '../clock.js';
import type { JobStore, OutputFrame } from './job-store.js';
import type { AgentMetrics } from '../metrics.js';
import type { OutputHub } from '../stream/output-hub.js';

/** Frames are flushed when a batch reaches this size; slower output is flushed at once. */
export const FRAME_BATCH_BYTES = 16 * 1024;
/** Frames made in one turn are stored in one transaction; past this many bytes, at once. */
const UNSTORED_LIMIT_BYTES = 1024 * 1024;
/**
 * Most bytes of made-but-unstored frames held while commits fail (disk full): past this the
 * job fails, so a stalled database never grows the agent's memory without bound.
 */
export const MAX_UNCOMMITTED_BYTES = 8 * 1024 * 1024;
/** Delay before a failed commit is retried. */
export const COMMIT_RETRY_MS = 500;

/** Totals of a finished output, for the result and the audit event. */
export interface OutputSummary {
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  readonly sha256: string;
  readonly truncated: boolean;
  readonly lastSeq: number;
}

/** Where the output of a job resumes (after an agent restart). */
export interface OutputStart {
  readonly stdout: number;
  readonly stderr: number;
  readonly lastSeq: number;
}

/** The OutputSink of one job. */
export class JobOutput implements OutputSink {
  private readonly cap: OutputCap;
  private readonly framers: Record<StreamName, Utf8Framer> = { stdout: new Utf8Framer(), stderr: new Utf8Framer() };
  private readonly hash = crypto.createHash('sha256');
  private readonly stored: Record<StreamName, number>;
  private lastSeq: number;
  private pending: { stream: StreamName; chunks: Buffer[]; size: number } | null = null;
  /** Frames made but not yet stored (and so not yet published). */
  private unstored: OutputFrame[] = [];
  private unstoredBytes = 0;
  private scheduled = false;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;
  /** Set once the output could not be stored within the bound; nothing more is taken. */
  private failure: string | null = null;
  /** Seq of the last frame stored (and published): what a follower and the result may rely on. */
  private storedSeq: number;
  private lastError: unknown = null;

  constructor(
    private readonly jobId: string,
    private readonly deps: { store: JobStore; hub: OutputHub; metrics: AgentMetrics; clock: Clock },
    maxBytes: number,
    start: OutputStart = { stdout: 0, stderr: 0, lastSeq: 0 },
    /** Told once when frames could not be stored within MAX_UNCOMMITTED_BYTES (the job must fail). */
    private readonly onFailure: (reason: string) => void = () => undefined,
  ) {
    this.cap = new OutputCap(maxBytes, { stdout: start.stdout, stderr: start.stderr });
    this.stored = { stdout: start.stdout, stderr: start.stderr };
    this.lastSeq = start.lastSeq;
    this.storedSeq = start.lastSeq;
    if (start.lastSeq > 0) this.rehash();
  }

  /** Why the output could not be stored, or null. */
  get failed(): string | null {
    return this.failure;
  }

  /** Receive a chunk from the sandbox. */
  write(stream: StreamName, data: Buffer): void {
    if (this.closed || this.failure !== null || data.length === 0) return;
    this.deps.metrics.output(stream, data.length);
    const kept = this.cap.take(stream, data);
    if (kept.length === 0) return;
    this.enqueue(stream, this.framers[stream].push(kept));
  }

  /**
   * Store what is batched now and take nothing more (the agent is closing; the next start
   * replays the rest from the engine's log). Idempotent.
   */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    // A flush scheduled for later would find the database closed.
    this.flush();
    this.commit();
    this.stopRetrying();
  }

  /** Flush everything (including incomplete UTF-8 tails) and return the totals. Idempotent. */
  finish(): OutputSummary {
    if (!this.closed) {
      this.closed = true;
      if (this.failure === null) for (const s of ['stdout', 'stderr'] as const) this.enqueue(s, this.framers[s].flush());
      this.flush();
      this.commit();
      this.stopRetrying();
      // Frames that still cannot be stored are dropped here, at the end, so what is kept
      // is exactly seqs 1..storedSeq: no gap a follower or the result could trip on.
      this.unstored = [];
      this.unstoredBytes = 0;
    }
    return {
      stdoutBytes: this.stored.stdout,
      stderrBytes: this.stored.stderr,
      sha256: this.hash.copy().digest('hex'),
      truncated: this.cap.truncated || this.failure !== null,
      lastSeq: this.storedSeq,
    };
  }

  private enqueue(stream: StreamName, data: Buffer): void {
    if (data.length === 0) return;
    if (this.pending !== null && this.pending.stream !== stream) this.flush();
    if (this.pending === null) this.pending = { stream, chunks: [], size: 0 };
    this.pending.chunks.push(data);
    this.pending.size += data.length;
    if (this.pending.size >= FRAME_BATCH_BYTES) this.flush();
    if (!this.scheduled && !this.closed) {
      // Coalesce whatever arrives in the same I/O turn; slow output still goes out at once.
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
        if (this.retry === null) this.commit();
      });
    }
  }

  private flush(): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    const data = p.chunks.length === 1 ? (p.chunks[0] as Buffer) : Buffer.concat(p.chunks, p.size);
    this.unstored.push({ seq: ++this.lastSeq, ts: this.deps.clock.nowMs(), stream: p.stream, data });
    this.unstoredBytes += data.length;
    // While commits fail (a retry is pending) only the retry writes, so a flood of output
    // does not hammer a full disk with one failing transaction per frame.
    if (this.unstoredBytes >= UNSTORED_LIMIT_BYTES && this.retry === null) this.commit();
    else if (this.retry !== null && this.unstoredBytes > MAX_UNCOMMITTED_BYTES) this.commitFailed(this.lastError);
  }

  /**
   * Store the frames made since the last commit in one transaction, then publish them:
   * one commit per turn instead of one per 16 KiB frame, and a follower that reconnects
   * still finds in the database every frame it was sent.
   */
  private commit(): void {
    if (this.unstored.length === 0) return;
    const frames = this.unstored;
    try {
      this.deps.store.transaction(() => {
        for (const f of frames) this.deps.store.appendFrame(this.jobId, f);
      });
    } catch (e) {
      // Disk full or the database failing: keep every frame (in seq order) and retry, so
      // none is lost and no seq is skipped; past the bound the job fails instead.
      this.commitFailed(e);
      return;
    }
    this.unstored = [];
    this.unstoredBytes = 0;
    for (const f of frames) {
      this.stored[f.stream] += f.data.length;
      this.storedSeq = f.seq;
      this.hash.update(f.data);
      this.deps.hub.publish(this.jobId, f);
    }
  }

  private commitFailed(e: unknown): void {
    this.lastError = e;
    if (this.failure === null && this.unstoredBytes > MAX_UNCOMMITTED_BYTES) {
      this.failure = `output could not be stored: ${e instanceof Error ? e.message : String(e)} (${this.unstoredBytes} bytes held, bound ${MAX_UNCOMMITTED_BYTES})`;
      this.onFailure(this.failure);
    }
    if (this.retry === null && !this.closed) {
      this.retry = setTimeout(() => {
        this.retry = null;
        this.commit();
      }, COMMIT_RETRY_MS);
      this.retry.unref();
    }
  }

  private stopRetrying(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
  }

  private rehash(): void {
    let after = 0;
    for (;;) {
      const frames = this.deps.store.framesAfter(this.jobId, after, 256);
      if (frames.length === 0) break;
      for (const f of frames) this.hash.update(f.data);
      after = (frames[frames.length - 1] as { seq: number }).seq;
    }
  }
}
