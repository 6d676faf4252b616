/**
 * A started or re-attached container (Nomad's task handle): one memoized wait that settles
 * only after the exit AND the end of its output, plus idempotent stop and destroy.
 */
import type Dockerode from 'dockerode';
import { containerState, exitResult, failedResult, parseEngineEvents, readableOf, type EngineEvents } from './docker-answers.js';
import { waitNotRunning } from './docker-wait.js';
import type { OutputPump } from './output-pump.js';
import type { ExitResult, SandboxHandle } from './sandbox.js';
import { dockerFailure, isConnectionError, isNotFound, toSandboxError } from './sandbox-error.js';

/** Minimal structured logger (pino-compatible). */
export interface SandboxLogger {
  warn(obj: object, msg: string): void;
}

/** How long output may lag behind the exit before the stream is cut (daemon never closed it). */
const OUTPUT_DRAIN_MS = 5000;

/** Runs after the container exited and the first stream ended, before the result is read (replay catch-up). */
export type AfterExit = () => Promise<void>;

/** The part of docker-modem the events query needs (`Container.modem` is untyped). */
interface EventsModem {
  dial(options: object, callback: (err: unknown, data: unknown) => void): void;
}

/** Longest wait for the engine's event log when explaining a signal exit. */
const EVENTS_QUERY_MS = 3000;
/** A SIGKILL nobody sent is looked up this many more times, this far apart, for a late `oom` event. */
const OOM_LOOKUPS = 12;
const OOM_LOOKUP_MS = 250;
const SIGKILL = 9;

/** Handle over one container; created by DockerSandbox. */
export class DockerHandle implements SandboxHandle {
  /** Full id of the container. */
  readonly containerId: string;
  private waiting: Promise<ExitResult> | null = null;
  private stopping: Promise<void> | null = null;
  private destroying: Promise<void> | null = null;
  private readonly abort = new AbortController();
  /** Set once the agent asked this container to stop: a signal exit is then explained. */
  private stopRequested = false;
  /** Unix seconds just before this handle existed; the engine's kill events are searched from here. */
  private readonly sinceSeconds = Date.now() / 1000 - 1;

  constructor(
    private readonly container: Dockerode.Container,
    private readonly pump: OutputPump,
    private readonly logger: SandboxLogger | undefined,
    private readonly afterExit: AfterExit | null = null,
    private readonly onSettled: (h: DockerHandle) => void = () => {},
  ) {
    this.containerId = container.id;
  }

  /** Resolves once the container exited and its output was delivered; never rejects. */
  wait(): Promise<ExitResult> {
    this.waiting ??= this.waitOnce().finally(() => this.onSettled(this));
    return this.waiting;
  }

  /** SIGTERM, SIGKILL after `graceSeconds` (Docker does both); already stopped or gone is success. */
  stop(graceSeconds: number): Promise<void> {
    this.stopRequested = true;
    this.stopping ??= this.stopOnce(graceSeconds).finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  /** Force-removes the container and its anonymous volumes; gone is success. Idempotent. */
  destroy(): Promise<void> {
    this.destroying ??= removeContainer(this.container).finally(() => {
      this.pump.destroy();
      this.onSettled(this);
    });
    return this.destroying;
  }

  /** The agent is about to signal this container itself (supervisor.ts): a signal exit is then not the engine's doing. */
  expectStop(): void {
    this.stopRequested = true;
  }

  /** Releases the socket and the pending wait request (agent shutdown); the container keeps running. */
  detach(): void {
    this.abort.abort();
    this.pump.destroy();
  }

  private async waitOnce(): Promise<ExitResult> {
    let status: number;
    try {
      status = await waitNotRunning(this.container, this.abort.signal);
    } catch (e) {
      this.pump.destroy();
      return failedResult(this.abort.signal.aborted ? 'sandbox closed before the container exited' : describe(e, 'waiting for'));
    }
    await this.drain();
    if (this.afterExit !== null) {
      try {
        await this.afterExit();
      } catch (e) {
        this.logger?.warn({ containerId: this.containerId, err: e }, 'replaying the final output failed');
      }
    }
    let result: ExitResult;
    try {
      result = exitResult(containerState(await this.container.inspect()));
    } catch (e) {
      // The wait answer already holds the exit code; only OOMKilled is unknown.
      this.logger?.warn({ containerId: this.containerId, err: e }, 'inspect after exit failed; OOM state unknown');
      result = exitResult({ exitCode: status, oomKilled: false });
    }
    return this.explainSignal(result);
  }

  /**
   * A signal death the agent did not ask for is not the command's own exit when the engine
   * killed the container: a stopping dockerd (systemctl restart docker) stops every
   * container and answers the pending wait normally, so without this the job would read
   * as completed with exit 137. The engine logs a `kill` event whenever it signals a
   * container, never when the command kills itself, so the event log tells them apart.
   *
   * It also logs `oom` when the kernel's OOM killer struck, but containerd may report that
   * after the exit (containerd#12714), so `State.OOMKilled` read at the exit can still be
   * false: a SIGKILL nobody sent is looked up again for a short while before it counts as
   * the command's own.
   */
  private async explainSignal(r: ExitResult): Promise<ExitResult> {
    if (r.signal === null || r.error !== null || r.oomKilled || this.stopRequested || this.abort.signal.aborted) return r;
    try {
      let seen = await this.engineEvents();
      for (let i = 0; r.signal === SIGKILL && seen.killSignal === null && !seen.oom && i < OOM_LOOKUPS; i++) {
        await new Promise((resolve) => setTimeout(resolve, OOM_LOOKUP_MS));
        seen = await this.engineEvents();
      }
      if (seen.oom) return { ...r, oomKilled: true };
      if (seen.killSignal === null) return r;
      return { ...r, error: `container was killed by the Docker engine (signal ${seen.killSignal}) without the agent asking: the engine stopped or restarted, or someone ran docker stop/kill` };
    } catch (e) {
      if (isConnectionError(e)) return { ...r, error: `docker engine became unavailable as the container died (signal ${r.signal})` };
      this.logger?.warn({ containerId: this.containerId, err: e }, 'could not read the engine events to explain a signal exit');
      return r;
    }
  }

  /** The `kill` and `oom` events the engine logged for this container since the handle existed. */
  private async engineEvents(): Promise<EngineEvents> {
    const modem: EventsModem = this.container.modem;
    const stream = await new Promise<unknown>((resolve, reject) => {
      modem.dial(
        {
          path: '/events?',
          method: 'GET',
          options: {
            since: this.sinceSeconds.toFixed(3),
            until: (Date.now() / 1000).toFixed(3),
            filters: JSON.stringify({ container: [this.containerId], event: ['kill', 'oom'] }),
          },
          abortSignal: AbortSignal.timeout(EVENTS_QUERY_MS),
          isStream: true,
          statusCodes: { 200: true, 500: 'server error' },
        },
        (err, data) => (err ? reject(err) : resolve(data)),
      );
    });
    const chunks: Buffer[] = [];
    for await (const c of readableOf(stream)) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
    return parseEngineEvents(Buffer.concat(chunks).toString('utf8'));
  }

  private async drain(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), OUTPUT_DRAIN_MS);
      timer.unref();
    });
    const cut = await Promise.race([this.pump.done.then(() => false), late]);
    clearTimeout(timer);
    if (cut) {
      this.logger?.warn({ containerId: this.containerId }, 'output stream still open after exit; closing it');
      this.pump.destroy();
      await this.pump.done;
    }
    if (this.pump.error !== null && !this.abort.signal.aborted) {
      this.logger?.warn({ containerId: this.containerId, err: this.pump.error }, 'output stream ended abnormally; output may be incomplete');
    }
  }

  private async stopOnce(graceSeconds: number): Promise<void> {
    const t = Math.max(0, Math.ceil(graceSeconds));
    try {
      await this.container.stop({ t });
    } catch (e) {
      const f = dockerFailure(e);
      if (f.status === 304 || f.status === 404) return;
      throw toSandboxError(e, `stopping container ${this.containerId}`);
    }
  }
}

/** Force-removes a container; 404 and "removal already in progress" (409) are success. */
export async function removeContainer(container: Dockerode.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (e) {
    const f = dockerFailure(e);
    if (f.status === 404) return;
    if (f.status === 409 && /already in progress/i.test(f.message)) return;
    throw toSandboxError(e, `removing container ${container.id}`);
  }
}

function describe(e: unknown, doing: string): string {
  if (isNotFound(e)) return 'container vanished before it could be waited on';
  if (isConnectionError(e)) return `docker engine unavailable while ${doing} the container`;
  return `docker error while ${doing} the container: ${dockerFailure(e).message}`;
}
