/**
 * One warm container: created, attached (stdin, stdout, stderr on one hijacked socket)
 * and started ahead of time, its shell waiting on stdin. Output is pumped from the start
 * into a sink bound only when a job takes the container, so not one byte can be missed
 * between the take and the first output. Taken at most once.
 */
import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import { containerRuntime, readableOf } from './docker-answers.js';
import { DockerHandle, removeContainer, type SandboxLogger } from './docker-handle.js';
import { OutputPump } from './output-pump.js';
import type { OutputSink, StreamName } from './sandbox.js';
import { isNotFound, SandboxError, toSandboxError } from './sandbox-error.js';
import { encodeCommand } from './warm-pool-protocol.js';

/** Holds output until a job's sink is bound (a waiting shell prints nothing, but nothing is lost if it did). */
class DeferredSink implements OutputSink {
  private target: OutputSink | null = null;
  private held: Array<[StreamName, Buffer]> = [];

  /** Forward to the bound sink, or hold. */
  write(stream: StreamName, data: Buffer): void {
    if (this.target !== null) this.target.write(stream, data);
    else this.held.push([stream, data]);
  }

  /** Bind the job's sink and hand it what was held. */
  bind(sink: OutputSink): void {
    this.target = sink;
    for (const [s, d] of this.held) sink.write(s, d);
    this.held = [];
  }
}

function isDuplex(s: unknown): s is Duplex {
  return typeof s === 'object' && s !== null && typeof (s as Duplex).write === 'function' && typeof (s as Duplex).end === 'function';
}

/** A started warm container waiting for its one command. */
export class WarmContainer {
  /** Full id of the container. */
  readonly containerId: string;
  private taken = false;

  private constructor(
    private readonly container: Dockerode.Container,
    private readonly socket: Duplex,
    private readonly pump: OutputPump,
    private readonly sink: DeferredSink,
  ) {
    this.containerId = container.id;
  }

  /** Create, attach and start one warm container; removes it again if any step fails. */
  static async create(docker: Dockerode, options: Dockerode.ContainerCreateOptions, logger?: SandboxLogger): Promise<WarmContainer> {
    let container: Dockerode.Container;
    try {
      container = await docker.createContainer(options);
    } catch (e) {
      if (isNotFound(e)) throw new SandboxError('IMAGE_MISSING', `image ${String(options.Image)} is not present on this host`, { cause: e });
      throw toSandboxError(e, 'creating a warm container');
    }
    let pump: OutputPump | null = null;
    try {
      const [attached, inspected] = await Promise.all([
        container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
        container.inspect().catch((e: unknown) => ({ failed: e })),
      ]);
      const socket = readableOf(attached);
      if ('failed' in inspected) throw inspected.failed;
      // Fail closed as for a cold container: never start one the engine gave another runtime.
      const wanted = options.HostConfig?.Runtime ?? '';
      if (containerRuntime(inspected) !== wanted) throw new SandboxError('SANDBOX_ERROR', `warm container was created with runtime ${JSON.stringify(containerRuntime(inspected))}, not ${wanted}`);
      if (!isDuplex(socket)) throw new TypeError('docker attach with stdin did not give a writable socket');
      const sink = new DeferredSink();
      pump = new OutputPump(socket, sink);
      await container.start();
      return new WarmContainer(container, socket, pump, sink);
    } catch (e) {
      pump?.destroy();
      await removeContainer(container).catch((err: unknown) => logger?.warn({ containerId: container.id, err }, 'could not remove a warm container that failed to start'));
      throw toSandboxError(e, 'starting a warm container');
    }
  }

  /** Settles when the attach stream ends: for an idle container, it died or the engine went away. */
  get ended(): Promise<void> {
    return this.pump.done;
  }

  /**
   * Bind the job's sink, send the command and close stdin. Resolves once the bytes are in
   * the kernel (so a job recorded as started after this has its command delivered even if
   * the agent dies now). Rejects if the socket is gone; the command has then not run.
   */
  async take(command: string, sink: OutputSink, logger?: SandboxLogger, onSettled?: (h: DockerHandle) => void): Promise<DockerHandle> {
    if (this.taken) throw new SandboxError('SANDBOX_ERROR', 'a warm container is used for one job only');
    this.taken = true;
    if (this.socket.destroyed || !this.socket.writable) throw new SandboxError('SANDBOX_ERROR', 'warm container attach stream is closed');
    this.sink.bind(sink);
    await new Promise<void>((resolve, reject) => {
      this.socket.write(encodeCommand(command), (err) => (err ? reject(toSandboxError(err, 'sending the command to a warm container')) : resolve()));
    });
    // Half-close: with StdinOnce the engine closes the container's stdin (the command
    // itself reads /dev/null); our read side stays open for the output.
    this.socket.end();
    return new DockerHandle(this.container, this.pump, logger, null, onSettled);
  }

  /** Stop reading and force-remove the container (never taken, or failed to take). Gone is success. */
  async discard(): Promise<void> {
    this.taken = true;
    this.pump.destroy();
    await removeContainer(this.container);
  }
}
