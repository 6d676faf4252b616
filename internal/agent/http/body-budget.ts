/**
 * One byte budget for every request body being received at once (max_inflight_body_bytes):
 * max_request_bytes bounds one request, this bounds all of them together, so 200 unfinished
 * 1 MiB bodies cannot take the agent's memory with them. A body that would pass the budget
 * is refused with 503 SERVER_BUSY (Retry-After) at once, its bytes never buffered.
 */
import { AgentError } from '../errors.js';

/** The shared budget. */
export class BodyBudget {
  private used = 0;

  constructor(private readonly limit: () => number) {}

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used;
  }

  /** Reserve `n` more bytes for a body, or throw SERVER_BUSY. */
  reserve(n: number): void {
    if (this.used + n > this.limit()) {
      throw new AgentError('SERVER_BUSY', 'too many request bodies in flight; retry later', { expose: true, headers: { 'Retry-After': '1' } });
    }
    this.used += n;
  }

  /** Give back bytes reserved earlier. */
  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}
