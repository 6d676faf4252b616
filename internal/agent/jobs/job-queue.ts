/**
 * The FIFO of accepted jobs waiting for a slot, owned by the job manager (which alone moves
 * them on), and its one retry timer: when a job's start could not be stored the queue is
 * pumped again shortly, never more than once pending.
 */
import { RetryTimer } from '../../shared/retry.js';

/** Delay before queued jobs are tried again after their start could not be stored. */
export const PUMP_RETRY_MS = 1000;

/** Job ids in acceptance order. */
export class JobQueue {
  private readonly ids: string[] = [];
  private readonly retry = new RetryTimer();

  /** Jobs waiting. */
  get length(): number {
    return this.ids.length;
  }

  /** The next job to start, if any. */
  first(): string | undefined {
    return this.ids[0];
  }

  /** Add a job at the end. */
  push(jobId: string): void {
    this.ids.push(jobId);
  }

  /** Drop the first job (it started or is gone). */
  shift(): void {
    this.ids.shift();
  }

  /** True if the job waits here. */
  includes(jobId: string): boolean {
    return this.ids.includes(jobId);
  }

  /** Take a job out wherever it is (cancelled before it started). */
  remove(jobId: string): void {
    const i = this.ids.indexOf(jobId);
    if (i >= 0) this.ids.splice(i, 1);
  }

  /** Call `pump` once after PUMP_RETRY_MS on an unref'd timer, unless a call is already pending. */
  retryLater(pump: () => void): void {
    this.retry.schedule(PUMP_RETRY_MS, pump);
  }

  /** Cancel a pending retry (abandon). */
  stopRetry(): void {
    this.retry.cancel();
  }
}
