/**
 * Narrow fakes of the Sandbox for error paths a real engine cannot be made to take on cue:
 * a real DockerSandbox underneath, with chosen calls failing or held at a gate.
 */
import Dockerode from 'dockerode';
import { DockerSandbox } from '../../internal/sandbox/docker-sandbox.js';
import { createLogger } from '../../internal/agent/logger.js';
import type { ManagedContainer, OutputSink, Sandbox, SandboxHandle, SandboxSpec } from '../../internal/sandbox/sandbox.js';

/** A promise that a test opens when it wants. */
export interface Gate {
  readonly opened: Promise<void>;
  /** Resolves once something waits at the gate. */
  readonly reached: Promise<void>;
  open(): void;
  /** Called by what waits at the gate. */
  arrive(): void;
}

/** A closed gate. */
export function gate(): Gate {
  let open = (): void => undefined;
  let reach = (): void => undefined;
  const opened = new Promise<void>((r) => (open = r));
  const reached = new Promise<void>((r) => (reach = r));
  return { opened, reached, open: () => open(), arrive: () => reach() };
}

/** What to break. */
export interface Faults {
  /** Called on each handle.stop(); throw to make it reject. */
  stop?: (n: number) => void;
  /** Called on each handle.destroy(); throw to make it reject. */
  destroy?: (n: number) => void;
  /** start() resolves only once this gate opens (the container is already started). */
  afterStart?: Gate;
  /** listManaged() waits at this gate. */
  listManaged?: Gate;
}

/** A real DockerSandbox with the given faults. */
export function faultySandbox(faults: Faults, docker: Dockerode = new Dockerode()): Sandbox & { stops: number; destroys: number } {
  const real = new DockerSandbox({ docker, logger: process.env["QUICKCMD_TEST_LOGS"] ? createLogger("debug") : undefined });
  const wrap = (h: SandboxHandle): SandboxHandle => ({
    containerId: h.containerId,
    wait: () => h.wait(),
    async stop(grace) {
      out.stops += 1;
      faults.stop?.(out.stops);
      return h.stop(grace);
    },
    async destroy() {
      out.destroys += 1;
      faults.destroy?.(out.destroys);
      return h.destroy();
    },
  });
  const out = {
    stops: 0,
    destroys: 0,
    async start(spec: SandboxSpec, sink: OutputSink) {
      const h = await real.start(spec, sink);
      if (faults.afterStart !== undefined) {
        faults.afterStart.arrive();
        await faults.afterStart.opened;
      }
      return wrap(h);
    },
    reattach: async (id: string, sink: OutputSink, skip: { stdout: number; stderr: number }) => wrap(await real.reattach(id, sink, skip)),
    async listManaged(agentId: string): Promise<ManagedContainer[]> {
      if (faults.listManaged !== undefined) {
        faults.listManaged.arrive();
        await faults.listManaged.opened;
      }
      return real.listManaged(agentId);
    },
    remove: (id: string) => real.remove(id),
    ping: () => real.ping(),
    runtimes: () => real.runtimes(),
    hasImage: (image: string) => real.hasImage(image),
    close: () => real.close(),
  };
  return out;
}
