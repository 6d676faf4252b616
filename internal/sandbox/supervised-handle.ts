/**
 * The handle of a container whose PID 1 is the supervisor and which gives back artifacts
 * (supervisor.ts). It wraps the DockerHandle that waits for the exit and drains the
 * output, and adds: the collector loop (started with the job, restarted until PID 1 is
 * READY), the release of PID 1 (USR1) once the artifacts are read, and a stop that ends
 * the command without ending PID 1, so artifacts are collected after a timeout or cancel.
 */
import type Dockerode from 'dockerode';
import { runCollector } from './collector-run.js';
import type { DockerHandle, SandboxLogger } from './docker-handle.js';
import type { ArtifactCollection, ExitResult, SandboxHandle } from './sandbox.js';
import { dockerFailure } from './sandbox-error.js';
import type { CollectPlan } from './supervisor.js';

/** Longest time from READY to the end of the artifact stream. */
export const COLLECT_DEADLINE_MS = 30_000;
/** How long PID 1 may take to exit after USR1 before the container is killed. */
const RELEASE_MS = 10_000;
/** Time after USR2 (KILL of every process) for PID 1 to become READY before the container is killed. */
const KILL_SETTLE_MS = 5_000;
/** A collector that lived less than this before dying is restarted after a back-off. */
const QUICK_DEATH_MS = 200;

function delay(ms: number, abort: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    abort.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

function emptyCollection(error: string): ArtifactCollection {
  return { files: [], skipped: [], truncated: false, error };
}

/** See the file comment. */
export class SupervisedHandle implements SandboxHandle {
  readonly containerId: string;
  private waiting: Promise<ExitResult> | null = null;
  private stopping: Promise<void> | null = null;
  private collected: ArtifactCollection | null = null;
  private ready = false;
  private exited = false;
  /** Aborted when the container exited or the handle was detached. */
  private readonly over = new AbortController();
  private readonly readyWaiters: Array<() => void> = [];

  constructor(
    private readonly container: Dockerode.Container,
    private readonly inner: DockerHandle,
    private readonly plan: CollectPlan,
    private readonly logger: SandboxLogger | undefined,
    private readonly onSettled: (h: SupervisedHandle) => void = () => {},
  ) {
    this.containerId = inner.containerId;
  }

  /** Collects the artifacts, releases PID 1, and resolves with the command's exit. Never rejects. */
  wait(): Promise<ExitResult> {
    this.waiting ??= this.run().finally(() => this.onSettled(this));
    return this.waiting;
  }

  /** The collection; settles with wait(). */
  async artifacts(): Promise<ArtifactCollection> {
    await this.wait();
    return this.collected ?? emptyCollection('artifacts were not collected');
  }

  /** Ends the command (TERM to every process but PID 1, then KILL), never PID 1 before READY unless it is stuck. Idempotent. */
  stop(graceSeconds: number): Promise<void> {
    if (this.ready || this.exited) return Promise.resolve();
    this.stopping ??= this.stopOnce(graceSeconds).finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  /** Force-removes the container. */
  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  /** Agent close: release sockets, stop collecting; the container keeps running for the next start. */
  detach(): void {
    this.over.abort();
    this.inner.detach();
  }

  private async run(): Promise<ExitResult> {
    const exit = this.inner.wait().finally(() => {
      this.exited = true;
      this.over.abort();
    });
    this.collected = await this.collect();
    if (this.ready && !this.exited) {
      this.inner.expectStop();
      await this.signal('SIGUSR1');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), RELEASE_MS);
        timer.unref();
      });
      if ((await Promise.race([exit, late])) === 'late') {
        this.logger?.warn({ containerId: this.containerId }, 'supervisor did not exit after its release; killing the container');
        await this.inner.stop(0).catch(() => undefined);
      }
      clearTimeout(timer);
    }
    return exit;
  }

  private async collect(): Promise<ArtifactCollection> {
    let backoff = 100;
    while (!this.over.signal.aborted) {
      const t0 = Date.now();
      try {
        const r = await runCollector(this.container, this.plan, COLLECT_DEADLINE_MS, this.over.signal);
        if (r.ready) {
          this.markReady();
          return r.collection;
        }
      } catch (e) {
        if (this.over.signal.aborted) break;
        this.logger?.warn({ containerId: this.containerId, err: e }, 'artifact collector could not run; retrying');
      }
      if (Date.now() - t0 < QUICK_DEATH_MS) {
        await delay(backoff, this.over.signal);
        backoff = Math.min(1000, backoff * 2);
      } else {
        backoff = 100;
      }
    }
    return emptyCollection(this.exited ? 'the container ended before its artifacts could be collected' : 'artifact collection was interrupted');
  }

  private markReady(): void {
    this.ready = true;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Resolves true once READY (or the exit), false after `ms`. */
  private readyWithin(ms: number): Promise<boolean> {
    if (this.ready || this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.ready || this.exited), ms);
      t.unref();
      const done = (): void => {
        clearTimeout(t);
        resolve(true);
      };
      this.readyWaiters.push(done);
      this.over.signal.addEventListener('abort', done, { once: true });
    });
  }

  private async stopOnce(graceSeconds: number): Promise<void> {
    this.inner.expectStop();
    await this.signal('SIGTERM');
    if (await this.readyWithin(Math.max(0, graceSeconds) * 1000)) return;
    await this.signal('SIGUSR2');
    if (await this.readyWithin(KILL_SETTLE_MS)) return;
    this.logger?.warn({ containerId: this.containerId }, 'supervisor did not report the end of the command; killing the container');
    await this.inner.stop(0);
  }

  /** Sends a signal to PID 1; an exited or vanished container is not an error. */
  private async signal(signal: string): Promise<void> {
    try {
      await this.container.kill({ signal });
    } catch (e) {
      const f = dockerFailure(e);
      if (f.status === 404 || f.status === 409 || f.status === 304) return;
      this.logger?.warn({ containerId: this.containerId, err: e, signal }, 'could not signal the supervisor');
    }
  }
}
