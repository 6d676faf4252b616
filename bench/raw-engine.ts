/**
 * The comparison baseline: the same container work the agent does, done directly against
 * the Docker engine through dockerode in the bench process, with the agent's own
 * containerOptions (identical isolation and log settings): create → attach → start →
 * wait → remove. Output is demultiplexed and counted, not stored.
 */
import crypto from 'node:crypto';
import Dockerode from 'dockerode';
import { containerOptions, DEFAULT_LOG_MAX_BYTES } from '../internal/sandbox/container-options.js';
import { Demuxer } from '../internal/sandbox/demux.js';
import { readableOf } from '../internal/sandbox/docker-answers.js';
import type { SandboxSpec } from '../internal/sandbox/sandbox.js';
import type { WarmProfile } from '../internal/sandbox/warm-pool-protocol.js';

/** Label prefix of containers made by the bench's raw runs (removed at the end whatever happens). */
export const RAW_AGENT_ID = 'quickcmd-bench-raw';

/** Limits shared by raw runs and the bench agents' defaults. */
export interface RawProfile extends WarmProfile {
  readonly logMaxBytes: number;
}

/** Timings of one raw run, in ms from just before the create. */
export interface RawRun {
  /** First output byte (null without output). */
  readonly firstByteMs: number | null;
  /** Last output byte (null without output). */
  readonly lastByteMs: number | null;
  /** The container exited and its output ended. */
  readonly exitedMs: number;
  /** The container was removed (the end of the whole job). */
  readonly removedMs: number;
  readonly exitCode: number;
  readonly bytes: number;
}

/** Runs containers straight on the engine. */
export class RawEngine {
  readonly docker = new Dockerode();
  /**
   * This bench process's own label value: another bench on the same engine cleaning up
   * its raw containers must not remove this one's mid-run (a 409 "marked for removal").
   */
  readonly agentId = `${RAW_AGENT_ID}-${process.pid}`;

  constructor(private readonly profile: RawProfile) {}

  /** The spec the agent would build for `command` under the profile (with `over` applied). */
  spec(command: string, over: Partial<RawProfile> = {}): SandboxSpec {
    const p = { ...this.profile, ...over };
    return {
      jobId: `raw-${crypto.randomUUID()}`,
      agentId: this.agentId,
      image: p.image,
      command,
      env: {},
      cpuLimit: p.cpuLimit,
      memoryLimit: p.memoryLimit,
      pidsLimit: p.pidsLimit,
      tmpfsSizeBytes: p.tmpfsSizeBytes,
      sandboxUser: p.sandboxUser,
      runtime: p.runtime,
    };
  }

  /** One create → attach → start → wait → remove of `command` (profile settings overridable). */
  async run(command: string, over: Partial<RawProfile> = {}): Promise<RawRun> {
    const t0 = performance.now();
    const at = (): number => performance.now() - t0;
    const logMaxBytes = over.logMaxBytes ?? this.profile.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES;
    const container = await this.docker.createContainer(containerOptions(this.spec(command, over), { logMaxBytes }));
    try {
      const socket = readableOf(await container.attach({ stream: true, stdout: true, stderr: true, hijack: true }));
      let firstByteMs: number | null = null;
      let lastByteMs: number | null = null;
      let bytes = 0;
      const demux = new Demuxer();
      const ended = new Promise<void>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          for (const piece of demux.push(chunk)) {
            if (piece.data.length === 0) continue;
            const now = at();
            firstByteMs ??= now;
            lastByteMs = now;
            bytes += piece.data.length;
          }
        });
        socket.once('end', () => resolve());
        socket.once('close', () => resolve());
        socket.once('error', () => resolve());
      });
      await container.start();
      const [wait] = await Promise.all([container.wait({ condition: 'not-running' }) as Promise<{ StatusCode: number }>, ended]);
      socket.destroy();
      const exitedMs = at();
      await container.remove({ force: true, v: true });
      return { firstByteMs, lastByteMs, exitedMs, removedMs: at(), exitCode: wait.StatusCode, bytes };
    } catch (e) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw e;
    }
  }

  /** Remove every container a raw run left behind (a crash mid-run). */
  async cleanup(): Promise<void> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`io.quickcmd.agent=${this.agentId}`] } });
    await Promise.all(list.map((c) => this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  }
}
