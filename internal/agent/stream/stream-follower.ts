/**
 * One WebSocket follower of one job (SPEC §6). The follower is a cursor over the job's
 * frames: `cursor` is the seq of the last frame handed on. It reads stored frames from the
 * database, a page at a time and only as fast as its socket drains ("replay"), until a
 * page comes back short; from then on ("live") it takes frames from the hub as they are
 * published.
 *
 * Why there is no gap and no duplicate at the seam: it subscribes to the hub before it
 * reads anything, JobOutput stores each frame before publishing it in the same
 * synchronous turn, and the switch to live happens in the same turn as the short read.
 * Live frames that arrive while replaying are therefore already in the database, so
 * they are skipped rather than held in memory, and frames at or below the cursor are
 * dropped.
 *
 * Memory is bounded per follower: while replaying, by one page plus the high-water mark;
 * while live, by `maxBehindBytes`. A follower that falls further behind is closed with
 * 1013 and can resume with `from_seq`. Encoded frames are shared between followers (see
 * FrameEncoder), so queues hold references, not copies.
 */
import WebSocket from 'ws';
import type { Clock } from '../clock.js';
import type { JobStore, OutputFrame } from '../jobs/job-store.js';
import type { JobRecord } from '../jobs/job.js';
import { isTerminal } from '../wire/job-states.js';
import type { Logger } from '../logger.js';
import type { FinalInfo, OutputHub } from './output-hub.js';
import type { FinalFrameInfo, FrameEncoder } from './stream-frame.js';

/** Close code for a follower that fell too far behind (RFC 6455 "try again later"). */
export const CLOSE_TOO_SLOW = 1013;

/** Flow-control limits of a follower. */
export interface FollowerLimits {
  /** Unsent bytes (queued here plus buffered in the socket) beyond which a live follower is closed with 1013. */
  readonly maxBehindBytes: number;
  /** Bytes handed to the socket and not yet flushed, above which sending waits for the socket to drain. */
  readonly highWaterBytes: number;
  /** Stored frames read per database page while replaying. */
  readonly pageFrames: number;
}

/** SPEC §6: 8 MiB behind closes the follower; replay reads 32 frames (about 512 KiB) at a time. */
export const DEFAULT_FOLLOWER_LIMITS: FollowerLimits = { maxBehindBytes: 8 * 1024 * 1024, highWaterBytes: 1024 * 1024, pageFrames: 32 };

/** What a follower needs. */
export interface FollowerDeps {
  readonly store: Pick<JobStore, 'get' | 'framesAfter' | 'outputTotals'>;
  readonly hub: Pick<OutputHub, 'subscribe'>;
  readonly clock: Clock;
  readonly encoder: FrameEncoder;
  readonly logger: Logger;
  readonly limits: FollowerLimits;
}

/** When a finished job ended (epoch ms), as its final frame tells it. */
export function endTime(rec: JobRecord): number {
  const t = rec.result === null ? Number.NaN : Date.parse(rec.result.end_time);
  return Number.isFinite(t) ? t : rec.updatedAt;
}

/** Streams one job's frames to one WebSocket. */
export class StreamFollower {
  private mode: 'replay' | 'live' = 'replay';
  private cursor: number;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private inflightBytes = 0;
  private final: FinalFrameInfo | null = null;
  private done = false;
  private alive = true;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly ws: WebSocket,
    private readonly jobId: string,
    fromSeq: number,
    private readonly d: FollowerDeps,
  ) {
    this.cursor = fromSeq;
    this.unsubscribe = d.hub.subscribe(jobId, { frame: (f) => this.onLive(f), end: (e) => this.onEnd(e) });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('close', () => this.release());
    ws.on('error', (e: Error) => d.logger.debug({ err: e, job_id: jobId }, 'stream follower socket error'));
    try {
      const rec = d.store.get(jobId);
      if (rec === null) {
        this.abort(1011, 'job no longer exists');
        return;
      }
      // A job already ended will never be announced by the hub: its end is in the database.
      if (isTerminal(rec.status)) {
        this.final = { seq: d.store.outputTotals(jobId).lastSeq + 1, ts: endTime(rec), status: rec.status, exitCode: rec.result?.exit_code ?? null };
      }
      this.fill();
    } catch (e) {
      this.fail(e);
    }
  }

  /** Keep-alive tick: terminate a follower that did not answer the previous ping, else ping. */
  heartbeat(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return; // a closing socket is ended by ws's own close timer
    if (!this.alive) {
      this.d.logger.info({ job_id: this.jobId }, 'stream follower did not answer a ping; dropping it');
      this.release();
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** Close politely with `code` (e.g. 1001 on agent shutdown). Idempotent. */
  close(code: number, reason: string): void {
    this.abort(code, reason);
  }

  /** Drop the connection at once. */
  terminate(): void {
    this.release();
    this.ws.terminate();
  }

  private onLive(f: OutputFrame): void {
    // Replay will read this frame from the database; anything at or below the cursor was sent.
    if (this.done || this.mode !== 'live' || f.seq <= this.cursor) return;
    try {
      if (f.seq !== this.cursor + 1) {
        // Not expected (frames are stored before they are published), but the database is
        // the authority: go back to it rather than send a gap.
        this.mode = 'replay';
        return this.fill();
      }
      const buf = this.d.encoder.output(this.jobId, f);
      const behind = this.queuedBytes + Math.max(this.inflightBytes, this.ws.bufferedAmount) + buf.length;
      if (behind > this.d.limits.maxBehindBytes) {
        this.d.logger.info({ job_id: this.jobId, seq: this.cursor, behind_bytes: behind }, 'stream follower fell too far behind; closing with 1013');
        return this.abort(CLOSE_TOO_SLOW, `more than ${this.d.limits.maxBehindBytes} bytes behind; resume with from_seq=${this.cursor}`);
      }
      this.cursor = f.seq;
      this.enqueue(buf);
      this.fill();
    } catch (e) {
      // Never let a follower's failure reach the job's output path (this runs inside publish).
      this.fail(e);
    }
  }

  private onEnd(e: FinalInfo): void {
    if (this.done) return;
    try {
      // The end is stored before it is announced: its stored time makes live and replayed finals identical.
      const rec = this.d.store.get(this.jobId);
      this.final = { seq: e.lastSeq + 1, ts: rec === null ? this.d.clock.nowMs() : endTime(rec), status: e.status, exitCode: e.exitCode };
      this.fill();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Move frames towards the socket while it has room: queued ones, then a page from the database, then the end. */
  private fill(): void {
    const hw = this.d.limits.highWaterBytes;
    while (!this.done) {
      while (this.queue.length > 0 && this.inflightBytes < hw) this.sendNext();
      if (this.queue.length > 0 || this.inflightBytes >= hw) return; // a send callback calls again
      if (this.mode === 'replay') {
        this.readPage();
        continue;
      }
      if (this.final !== null) this.finish(this.final);
      return;
    }
  }

  private readPage(): void {
    const page = this.d.store.framesAfter(this.jobId, this.cursor, this.d.limits.pageFrames);
    for (const f of page) {
      this.enqueue(this.d.encoder.output(this.jobId, f));
      this.cursor = f.seq;
    }
    // Caught up with everything stored; same turn as the read, so nothing published is missed.
    if (page.length < this.d.limits.pageFrames) this.mode = 'live';
  }

  private enqueue(buf: Buffer): void {
    this.queue.push(buf);
    this.queuedBytes += buf.length;
  }

  private sendNext(): void {
    const buf = this.queue.shift() as Buffer;
    this.queuedBytes -= buf.length;
    this.inflightBytes += buf.length;
    // The callback runs once the bytes are flushed to the kernel (or the socket failed):
    // that is the drain signal that paces both replay and live sending.
    this.ws.send(buf, { binary: false }, () => {
      this.inflightBytes -= buf.length;
      if (this.done) return;
      try {
        this.fill();
      } catch (e) {
        this.fail(e);
      }
    });
  }

  private finish(final: FinalFrameInfo): void {
    // A client resuming after the final frame has nothing left to receive.
    if (final.seq > this.cursor) this.ws.send(this.d.encoder.final(this.jobId, final), { binary: false });
    this.release();
    this.ws.close(1000);
  }

  private abort(code: number, reason: string): void {
    if (this.done) return;
    this.release();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    else this.ws.terminate();
  }

  private fail(e: unknown): void {
    this.d.logger.error({ err: e, job_id: this.jobId }, 'stream follower failed');
    this.abort(1011, 'internal error');
  }

  /** Stop following and free the queue. Idempotent. */
  private release(): void {
    this.done = true;
    this.unsubscribe();
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}
