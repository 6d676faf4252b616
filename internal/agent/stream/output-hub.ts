/**
 * Fan-out of live output frames from the job manager to followers (WebSocket clients).
 * Listeners are called synchronously in publish order; each listener owns its own
 * buffering, so a slow one cannot slow the job or the others.
 */
import type { OutputFrame } from '../jobs/job-store.js';
import type { JobStatus } from '../wire/job-states.js';

/** What the last frame of a job carries. */
export interface FinalInfo {
  /** Seq of the last output frame (the final frame gets lastSeq + 1). */
  readonly lastSeq: number;
  readonly status: JobStatus;
  readonly exitCode: number | null;
}

/** A follower of one job. */
export interface OutputListener {
  frame(frame: OutputFrame): void;
  end(final: FinalInfo): void;
}

/** A follower of every job (the broker's frame publisher). */
export interface AllJobsListener {
  frame(jobId: string, frame: OutputFrame): void;
  end(jobId: string, final: FinalInfo): void;
}

/** Per-job listener sets. */
export class OutputHub {
  private readonly listeners = new Map<string, Set<OutputListener>>();
  private readonly everyJob = new Set<AllJobsListener>();

  /** Follow every job; returns the unsubscribe function (idempotent). */
  subscribeAll(l: AllJobsListener): () => void {
    this.everyJob.add(l);
    return () => {
      this.everyJob.delete(l);
    };
  }

  /** Follow a job; returns the unsubscribe function (idempotent). */
  subscribe(jobId: string, l: OutputListener): () => void {
    let set = this.listeners.get(jobId);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(jobId, set);
    }
    set.add(l);
    return () => {
      const s = this.listeners.get(jobId);
      if (s === undefined) return;
      s.delete(l);
      if (s.size === 0) this.listeners.delete(jobId);
    };
  }

  /** Deliver a frame to every follower of the job. */
  publish(jobId: string, frame: OutputFrame): void {
    for (const l of this.everyJob) l.frame(jobId, frame);
    const set = this.listeners.get(jobId);
    if (set === undefined) return;
    for (const l of [...set]) l.frame(frame);
  }

  /** Deliver the end of a job and forget its followers. */
  end(jobId: string, final: FinalInfo): void {
    for (const l of this.everyJob) l.end(jobId, final);
    const set = this.listeners.get(jobId);
    if (set === undefined) return;
    this.listeners.delete(jobId);
    for (const l of set) l.end(final);
  }

  /** Followers of a job right now. */
  count(jobId: string): number {
    return this.listeners.get(jobId)?.size ?? 0;
  }
}
