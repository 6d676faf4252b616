/**
 * WarmPoolSandbox: an opt-in Sandbox decorator (`warm_pool_size` > 0) that keeps up to N
 * containers of the config's default profile created, attached and started, each waiting
 * on stdin for one command (warm-pool-protocol.ts). A job whose image, limits and user
 * match that profile, with no env, takes one: the container start is paid before the job
 * arrives. Each warm container runs exactly one job and is then destroyed like a cold one;
 * the pool refills in the background. Anything else goes to the wrapped cold Sandbox.
 *
 * Isolation is a cold container's: the same containerOptions (network none, read-only
 * root, no capabilities, limits, user, labels), only PID 1 differs until it execs the
 * job's `/bin/sh -c <command>`.
 *
 * The job label cannot be set after create, so warm containers carry `io.quickcmd.job=warm`
 * and `io.quickcmd.pool=<profile key>`; the job manager records the container id
 * (jobs.sandbox_id) right after start, which is how recovery adopts a taken one after a
 * restart. listManaged hides the containers this pool holds, so the reconciler never
 * removes an idle one of the live pool; those of a previous process are removed.
 */
import type Dockerode from 'dockerode';
import { Backoff, RetryTimer } from '../shared/retry.js';
import type { DockerHandle, SandboxLogger } from './docker-handle.js';
import type { ManagedContainer, OutputSink, ReplayOffsets, Sandbox, SandboxHandle, SandboxSpec } from './sandbox.js';
import { WarmContainer } from './warm-pool-container.js';
import { coldReason, profileKey, warmContainerOptions, type WarmTemplate } from './warm-pool-protocol.js';

/** Logger of the pool (pino-compatible). */
export interface WarmPoolLogger extends SandboxLogger {
  debug(obj: object, msg: string): void;
}

/** Dependencies of a WarmPoolSandbox. */
export interface WarmPoolDeps {
  /** Engine client (warm containers are created directly). */
  readonly docker: Dockerode;
  /** The cold path: every job that cannot take a warm container, and all other verbs. */
  readonly cold: Sandbox;
  /** Warm containers to keep ready (> 0). */
  readonly size: number;
  /** The profile to keep warm, read on every refill (a reload may change it); null pauses the pool. */
  readonly template: () => WarmTemplate | null;
  /** Log bound per container, as the cold sandbox uses. */
  readonly logMaxBytes: number;
  readonly logger?: WarmPoolLogger;
  /** First back-off after a failed refill (doubles up to 30 s); default 1 s. */
  readonly retryMs?: number;
}

/** Counters of the pool since it was built. */
export interface WarmPoolStats {
  /** Warm containers created and started. */
  readonly created: number;
  /** Jobs that ran in a warm container. */
  readonly taken: number;
  /** Jobs that started cold (ineligible, or the pool was empty). */
  readonly cold: number;
  /** Warm containers removed without running a job (died, profile changed, close). */
  readonly discarded: number;
  /** Warm containers ready now. */
  readonly idle: number;
}

const MAX_RETRY_MS = 30_000;

/** Sandbox decorator keeping a pool of started containers; see the file comment. */
export class WarmPoolSandbox implements Sandbox {
  private readonly idle: Array<{ key: string; warm: WarmContainer }> = [];
  /** Ids of every container this pool created and nothing has destroyed yet (hidden from listManaged). */
  private readonly owned = new Set<string>();
  private readonly leased = new Set<DockerHandle>();
  private readonly counts = { created: 0, taken: 0, cold: 0, discarded: 0 };
  private filling: Promise<void> | null = null;
  /** A fill was asked for while one was running (it may have been about to stop): run again. */
  private fillAgain = false;
  /** Refill after a failed create, later each time it fails again. */
  private readonly retry = new RetryTimer();
  private readonly retryDelay: Backoff;
  private closed = false;

  constructor(private readonly d: WarmPoolDeps) {
    if (!Number.isSafeInteger(d.size) || d.size <= 0) throw new TypeError(`warm pool size must be a positive integer, got ${d.size}`);
    this.retryDelay = new Backoff({ firstMs: d.retryMs ?? 1000, factor: 2, maxMs: MAX_RETRY_MS });
  }

  /** Start filling the pool in the background (also done after every take). */
  fill(): void {
    if (this.closed) return;
    if (this.filling !== null || this.retry.pending) {
      this.fillAgain = true;
      return;
    }
    this.fillAgain = false;
    this.filling = this.fillLoop().finally(() => {
      this.filling = null;
      if (this.fillAgain) this.fill();
    });
  }

  /** Resolves when the pool is full (or filling stopped on an error); for tests and benchmarks. */
  async ready(): Promise<void> {
    this.fill();
    while (this.filling !== null) await this.filling;
  }

  /** Counters since construction. */
  stats(): WarmPoolStats {
    return { ...this.counts, idle: this.idle.length };
  }

  /** Runs the job in a warm container when it is eligible and one is ready, else cold. */
  async start(spec: SandboxSpec, sink: OutputSink): Promise<SandboxHandle> {
    if (this.closed) return this.d.cold.start(spec, sink);
    const t = this.d.template();
    const key = t === null ? null : profileKey(t);
    const why = key === null ? 'pool paused' : coldReason(spec, key);
    if (why === null) {
      for (let i = this.idle.findIndex((e) => e.key === key); i >= 0; i = this.idle.findIndex((e) => e.key === key)) {
        const [entry] = this.idle.splice(i, 1);
        if (entry === undefined) break;
        this.fill();
        try {
          const handle = await entry.warm.take(spec.command, sink, this.d.logger, (h) => this.leased.delete(h));
          this.counts.taken++;
          this.leased.add(handle);
          return this.leaseOf(handle);
        } catch (e) {
          // The socket was gone: the shell never got its `.` line, so the command did not run.
          this.d.logger?.warn({ containerId: entry.warm.containerId, err: e }, 'warm container unusable; trying the next');
          void this.drop(entry.warm);
        }
      }
      // Empty, or holding only containers of a profile a reload replaced: refill now.
      this.fill();
    }
    this.counts.cold++;
    this.d.logger?.debug({ job_id: spec.jobId, reason: why ?? 'pool empty' }, 'job starts in a cold container');
    return this.d.cold.start(spec, sink);
  }

  /** Delegates to the cold sandbox (a re-attached container is followed like any other). */
  reattach(containerId: string, sink: OutputSink, skip: ReplayOffsets): Promise<SandboxHandle> {
    return this.d.cold.reattach(containerId, sink, skip);
  }

  /** Labelled containers minus those this pool holds (idle, or leased and not yet destroyed). */
  async listManaged(agentId: string): Promise<ManagedContainer[]> {
    const all = await this.d.cold.listManaged(agentId);
    return all.filter((c) => !this.owned.has(c.containerId));
  }

  /** Delegates to the cold sandbox. */
  remove(containerId: string): Promise<void> {
    return this.d.cold.remove(containerId);
  }

  /** Delegates to the cold sandbox. */
  ping(): Promise<boolean> {
    return this.d.cold.ping();
  }

  /** Delegates to the cold sandbox. */
  hasImage(image: string): Promise<boolean> {
    return this.d.cold.hasImage(image);
  }

  /** Delegates to the cold sandbox. */
  runtimes(): Promise<string[]> {
    return this.d.cold.runtimes();
  }

  /** Stop refilling, remove idle warm containers, release leased ones (their jobs are re-adopted on the next start). Idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.retry.cancel();
      await this.filling;
      const idle = this.idle.splice(0);
      await Promise.all(idle.map((e) => this.drop(e.warm)));
      for (const h of this.leased) h.detach();
      this.leased.clear();
    }
    await this.d.cold.close();
  }

  private async fillLoop(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const t = this.d.template();
      if (t === null) return;
      const key = profileKey(t);
      // A reload changed the default profile: containers of the old one would never be taken.
      for (const stale of this.idle.filter((e) => e.key !== key)) {
        this.idle.splice(this.idle.indexOf(stale), 1);
        void this.drop(stale.warm);
      }
      if (this.idle.length >= this.d.size) return;
      let warm: WarmContainer;
      try {
        warm = await WarmContainer.create(this.d.docker, warmContainerOptions(t, { logMaxBytes: this.d.logMaxBytes }), this.d.logger);
      } catch (e) {
        const retryMs = this.retryDelay.next();
        this.d.logger?.warn({ err: e, retry_ms: retryMs }, 'could not create a warm container; retrying later');
        this.retry.schedule(retryMs, () => this.fill());
        return;
      }
      this.retryDelay.reset();
      this.counts.created++;
      this.owned.add(warm.containerId);
      if (this.closed) {
        await this.drop(warm);
        return;
      }
      const entry = { key, warm };
      this.idle.push(entry);
      this.d.logger?.debug({ containerId: warm.containerId, idle: this.idle.length }, 'warm container ready');
      void warm.ended.then(() => this.onIdleEnded(entry));
    }
  }

  /** An idle container's stream ended: it exited or the engine dropped it. Replace it. */
  private onIdleEnded(entry: { key: string; warm: WarmContainer }): void {
    const i = this.idle.indexOf(entry);
    if (i < 0) return; // taken (its stream ends with its job) or already dropped
    this.idle.splice(i, 1);
    this.d.logger?.warn({ containerId: entry.warm.containerId }, 'an idle warm container ended; replacing it');
    void this.drop(entry.warm).then(() => this.fill());
  }

  private async drop(warm: WarmContainer): Promise<void> {
    this.counts.discarded++;
    try {
      await warm.discard();
      this.owned.delete(warm.containerId);
    } catch (e) {
      // Left visible to the reconciler, which removes unclaimed warm containers.
      this.owned.delete(warm.containerId);
      this.d.logger?.warn({ containerId: warm.containerId, err: e }, 'could not remove a warm container; the reconciler will');
    }
  }

  /** The handle the job manager gets: destroying it also forgets the container here. */
  private leaseOf(h: DockerHandle): SandboxHandle {
    const forget = (): void => {
      this.owned.delete(h.containerId);
      this.leased.delete(h);
    };
    return {
      containerId: h.containerId,
      wait: () => h.wait(),
      stop: (grace) => h.stop(grace),
      destroy: () => h.destroy().finally(forget),
    };
  }
}
