/**
 * Caps on live-log followers (max_stream_clients in all, max_followers_per_job per job),
 * reserved at the upgrade before any replay work, so a flood of followers costs neither a
 * database read nor a socket beyond the caps. A reservation is released exactly once,
 * when its socket closes, whatever happened in between (refused handshake, normal close).
 */
import { AgentError } from '../errors.js';

/** The counts. */
export class FollowerCaps {
  private total = 0;
  private readonly perJob = new Map<string, number>();

  /** Followers held now (in all). */
  get size(): number {
    return this.total;
  }

  /** Reserve a follower of `jobId`, or throw 503 TOO_MANY_FOLLOWERS; returns the release. */
  reserve(jobId: string, caps: { readonly max_stream_clients: number; readonly max_followers_per_job: number }): () => void {
    const n = this.perJob.get(jobId) ?? 0;
    if (this.total >= caps.max_stream_clients) {
      throw new AgentError('TOO_MANY_FOLLOWERS', `the agent already serves ${this.total} followers (max_stream_clients); retry later`, { expose: true, headers: { 'Retry-After': '5' } });
    }
    if (n >= caps.max_followers_per_job) {
      throw new AgentError('TOO_MANY_FOLLOWERS', `this job already has ${n} followers (max_followers_per_job); retry later`, { expose: true, headers: { 'Retry-After': '5' } });
    }
    this.total += 1;
    this.perJob.set(jobId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.perJob.get(jobId) ?? 1) - 1;
      if (left <= 0) this.perJob.delete(jobId);
      else this.perJob.set(jobId, left);
    };
  }
}
