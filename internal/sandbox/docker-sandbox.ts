/**
 * The Sandbox over dockerode (SPEC §5). One job = create → attach → start → wait → remove,
 * with the attach made before the start so no byte is lost, and no image inspect before the
 * create: the create itself answers 404 for a missing image (it never pulls), which saves a
 * round trip on every job. Between create and start the container is inspected (beside the
 * attach) and started only if the engine recorded the chosen runtime (SPEC §14).
 */
import type Dockerode from 'dockerode';
import { containerOptions, DEFAULT_LOG_MAX_BYTES, runtimeOf } from './container-options.js';
import { agentFilter, containerRuntime, containerState, managedContainers, readableOf } from './docker-answers.js';
import { DockerHandle, removeContainer, type SandboxLogger } from './docker-handle.js';
import { OutputPump, SkipSink } from './output-pump.js';
import type { ManagedContainer, OutputSink, ReplayOffsets, Sandbox, SandboxHandle, SandboxSpec } from './sandbox.js';
import { dockerFailure, isNotFound, SandboxError, toSandboxError } from './sandbox-error.js';
import { engineRuntimes } from './runtimes.js';
import { startFileJob, supervisedReattach } from './file-job-start.js';
import { isFileJob } from './supervisor.js';

export { SandboxError } from './sandbox-error.js';
export type { SandboxErrorCode } from './sandbox-error.js';
export type { SandboxLogger } from './docker-handle.js';

/** Dependencies of a DockerSandbox. */
export interface DockerSandboxDeps {
  /** Client for the engine (socket path, TLS…) built by the caller. */
  readonly docker: Dockerode;
  readonly logger?: SandboxLogger;
  /** Bytes of log the engine keeps per container for replay after a restart; ~32 × max_output_bytes (default 128 MiB). */
  readonly logMaxBytes?: number;
}

/** Sandbox backed by a Docker engine. */
export class DockerSandbox implements Sandbox {
  private readonly docker: Dockerode;
  private readonly logger: SandboxLogger | undefined;
  private readonly logMaxBytes: number;
  private readonly live = new Set<{ detach(): void }>();
  private closed = false;

  constructor(deps: DockerSandboxDeps) {
    this.docker = deps.docker;
    this.logger = deps.logger;
    this.logMaxBytes = deps.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES;
  }

  /** Creates, attaches and starts one job's container; output flows to `sink` from the first byte. */
  async start(spec: SandboxSpec, sink: OutputSink): Promise<SandboxHandle> {
    this.assertOpen();
    if (isFileJob(spec)) return startFileJob({ docker: this.docker, logger: this.logger, logMaxBytes: this.logMaxBytes, live: this.live, checkRuntime: assertRuntime }, spec, sink);
    let options: Dockerode.ContainerCreateOptions;
    try {
      options = containerOptions(spec, { logMaxBytes: this.logMaxBytes });
    } catch (e) {
      throw new SandboxError('SANDBOX_ERROR', `invalid sandbox spec: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    let container: Dockerode.Container;
    try {
      container = await this.docker.createContainer(options);
    } catch (e) {
      if (isNotFound(e)) {
        throw new SandboxError('IMAGE_MISSING', `image ${spec.image} is not present on this host (pull_images is false)`, { cause: e });
      }
      throw toSandboxError(e, `creating the container of job ${spec.jobId}`);
    }
    let pump: OutputPump | null = null;
    try {
      // The inspect runs beside the attach, so checking the runtime costs no extra round trip.
      const [attached, inspected] = await Promise.all([
        container.attach({ stream: true, stdout: true, stderr: true, hijack: true }),
        container.inspect().catch((e: unknown) => ({ failed: e })),
      ]);
      pump = new OutputPump(readableOf(attached), sink);
      if ('failed' in inspected) throw inspected.failed;
      assertRuntime(spec, containerRuntime(inspected));
      await container.start();
    } catch (e) {
      pump?.destroy();
      await removeContainer(container).catch((err: unknown) =>
        this.logger?.warn({ containerId: container.id, err }, 'could not remove a container that failed to start'),
      );
      throw toSandboxError(e, `starting the container of job ${spec.jobId}`);
    }
    return this.track(new DockerHandle(container, pump, this.logger, null, (h) => this.live.delete(h)));
  }

  /**
   * Re-attaches after a restart. Reads the engine's log with `follow` (the log file, so
   * there is no gap or duplicate between replay and live output, unlike attach logs+stream)
   * and, for a container that was still running, reads the log once more after the exit:
   * the follow reader may end before the last unterminated line is written.
   */
  async reattach(containerId: string, sink: OutputSink, skip: ReplayOffsets): Promise<SandboxHandle> {
    this.assertOpen();
    const container = this.docker.getContainer(containerId);
    let running: boolean;
    let answer: unknown;
    try {
      answer = await container.inspect();
      running = containerState(answer).running;
    } catch (e) {
      if (isNotFound(e)) throw new SandboxError('SANDBOX_ERROR', `container ${containerId} is gone`, { cause: e });
      throw toSandboxError(e, `inspecting container ${containerId}`);
    }
    const replay = new SkipSink(sink, skip);
    let pump: OutputPump;
    try {
      pump = new OutputPump(readableOf(await container.logs({ stdout: true, stderr: true, follow: true })), replay);
    } catch (e) {
      if (isNotFound(e)) throw new SandboxError('SANDBOX_ERROR', `container ${containerId} is gone`, { cause: e });
      throw toSandboxError(e, `reading the log of container ${containerId}`);
    }
    const catchUp = async (): Promise<void> => {
      const seen = replay.position;
      const rest = new SkipSink(sink, { stdout: Math.max(skip.stdout, seen.stdout), stderr: Math.max(skip.stderr, seen.stderr) });
      const last = new OutputPump(readableOf(await container.logs({ stdout: true, stderr: true, follow: true })), rest);
      await last.done;
      if (last.error !== null) throw last.error;
    };
    const plain = new DockerHandle(container, pump, this.logger, running ? catchUp : null, (h) => this.live.delete(h));
    const supervised = running ? supervisedReattach(container, answer, plain, this.logger, (h) => this.live.delete(h)) : null;
    if (supervised !== null) {
      this.live.add(supervised);
      return supervised;
    }
    return this.track(plain);
  }

  /** Containers labelled with this agent's id, running or not. */
  async listManaged(agentId: string): Promise<ManagedContainer[]> {
    try {
      return managedContainers(await this.docker.listContainers({ all: true, filters: agentFilter(agentId) }));
    } catch (e) {
      throw toSandboxError(e, 'listing containers');
    }
  }

  /** Force-removes a container; gone is success. */
  async remove(containerId: string): Promise<void> {
    await removeContainer(this.docker.getContainer(containerId));
  }

  /** True when the engine answers. */
  async ping(): Promise<boolean> {
    try {
      await this.docker.ping();
      return true;
    } catch {
      return false;
    }
  }

  /** True when the image is present locally; rejects if the engine cannot be asked. */
  async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (e) {
      if (dockerFailure(e).status === 404) return false;
      throw toSandboxError(e, `inspecting image ${image}`);
    }
  }

  /** Runtime names the engine lists under `Runtimes` in `docker info`. */
  async runtimes(): Promise<string[]> {
    let info: unknown;
    try {
      info = await this.docker.info();
    } catch (e) {
      throw toSandboxError(e, 'asking the engine for its runtimes');
    }
    try {
      return engineRuntimes(info);
    } catch (e) {
      throw new SandboxError('SANDBOX_ERROR', `docker info: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }

  /** Releases every attach socket and pending wait; containers keep running for the next reattach. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const h of this.live) h.detach();
    this.live.clear();
  }

  private track(h: DockerHandle): DockerHandle {
    this.live.add(h);
    return h;
  }

  private assertOpen(): void {
    if (this.closed) throw new SandboxError('SANDBOX_ERROR', 'sandbox is closed');
  }
}

/**
 * Fail closed on the runtime: a container whose `HostConfig.Runtime` is not the one chosen
 * (an engine or proxy that ignored or rewrote it) is never started; the caller removes it.
 */
export function assertRuntime(spec: Pick<SandboxSpec, 'runtime' | 'jobId'>, actual: string): void {
  const wanted = runtimeOf(spec);
  if (actual !== wanted) {
    throw new SandboxError('SANDBOX_ERROR', `container of job ${spec.jobId} was created with runtime ${JSON.stringify(actual)}, not ${wanted}; it was removed unstarted`);
  }
}
