/**
 * The Sandbox capability: run one command in one fresh container and report how it ended.
 * The job manager depends only on this interface; `docker-sandbox.ts` implements it over
 * dockerode. Verbs follow Nomad's docker driver: start, wait, stop, destroy, recover.
 */

import type { RuntimeName } from './runtimes.js';

/** Which output stream a chunk came from. */
export type StreamName = 'stdout' | 'stderr';

/** Everything needed to create one job's container; limits are already checked by the caller. */
export interface SandboxSpec {
  readonly jobId: string;
  /** Id of this agent, put on the container as `io.quickcmd.agent`. */
  readonly agentId: string;
  readonly image: string;
  /** Run as `/bin/sh -c <command>` unless `argv` is set. */
  readonly command: string;
  /** Run exactly this argv as the container's Cmd, with no shell (named commands). */
  readonly argv?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** CPUs (fractional). */
  readonly cpuLimit: number;
  /** Bytes; swap is capped to the same value. */
  readonly memoryLimit: number;
  readonly pidsLimit: number;
  readonly tmpfsSizeBytes: number;
  /** `uid:gid` inside the container. */
  readonly sandboxUser: string;
  /** Docker runtime (SPEC §14), already checked against the config; runc when absent. */
  readonly runtime?: RuntimeName;
  /** Files placed in /workspace before the command starts (SPEC §12); absent or empty: none. */
  readonly files?: readonly InputFile[];
  /** Paths under /workspace collected after the command ends; absent or empty: none. */
  readonly artifacts?: readonly string[];
  /** Bounds of the collection; required when `artifacts` is non-empty. */
  readonly artifactLimits?: ArtifactLimits;
}

/** One input file, already validated (path rules, mode, caps) by the door. */
export interface InputFile {
  /** Relative to /workspace, `/`-separated, every component `[A-Za-z0-9._-]{1,100}`. */
  readonly path: string;
  /** 0o644 or 0o755. */
  readonly mode: number;
  readonly content: Buffer;
}

/** Caps of one job's artifact collection. */
export interface ArtifactLimits {
  readonly maxFiles: number;
  readonly maxBytes: number;
}

/** One collected regular file. */
export interface CollectedArtifact {
  /** Relative to /workspace. */
  readonly path: string;
  readonly size: number;
  /** Lowercase hex SHA-256 of `data`. */
  readonly sha256: string;
  readonly data: Buffer;
}

/** Something asked for (or found under an asked-for directory) that was not collected, and why. */
export interface SkippedArtifact {
  readonly path: string;
  /** symlink | fifo | hardlink | other | missing | parent-not-directory | bad-name */
  readonly reason: string;
}

/** What collection brought back; bounded by ArtifactLimits whatever the container sent. */
export interface ArtifactCollection {
  readonly files: readonly CollectedArtifact[];
  readonly skipped: readonly SkippedArtifact[];
  /** A cap was reached: collection stopped there. */
  readonly truncated: boolean;
  /** Set when collection could not complete (container gone, stream broken, deadline). */
  readonly error: string | null;
}

/** Receives demultiplexed output as it arrives, in order, uncapped (the caller caps). */
export interface OutputSink {
  write(stream: StreamName, data: Buffer): void;
}

/** How a container ended (Nomad's ExitResult). */
export interface ExitResult {
  readonly exitCode: number;
  /** Signal number that killed the process (exit code 128+n), or null. */
  readonly signal: number | null;
  readonly oomKilled: boolean;
  /** Set when the container could not be waited on (engine gone, container vanished). */
  readonly error: string | null;
}

/** A started (or re-attached) container. */
export interface SandboxHandle {
  readonly containerId: string;
  /** Resolves once the container has exited AND all its output has been delivered to the sink. Never rejects. */
  wait(): Promise<ExitResult>;
  /** SIGTERM, then SIGKILL after `graceSeconds`. Idempotent; "no such container" is success. */
  stop(graceSeconds: number): Promise<void>;
  /** Remove the container (force). Idempotent; "no such container" is success. */
  destroy(): Promise<void>;
  /** The artifacts collected after the command ended; settles with or after `wait()`. Absent when none were asked for. */
  artifacts?(): Promise<ArtifactCollection>;
}

/** A container carrying this agent's label. */
export interface ManagedContainer {
  readonly containerId: string;
  /** Value of `io.quickcmd.job`, or null if missing. */
  readonly jobId: string | null;
  readonly running: boolean;
}

/** Bytes of each stream the caller already holds, skipped when replaying after a restart. */
export interface ReplayOffsets {
  readonly stdout: number;
  readonly stderr: number;
}

/** The capability the job manager needs from a container engine. */
export interface Sandbox {
  /** Create, attach and start a container. Rejects with SandboxError (IMAGE_MISSING, DOCKER_UNAVAILABLE, SANDBOX_ERROR). */
  start(spec: SandboxSpec, sink: OutputSink): Promise<SandboxHandle>;
  /**
   * Re-attach to an existing container after an agent restart: replays the output it has
   * printed (minus `skip` bytes per stream the caller already stored), then follows it
   * live if still running. Rejects with SandboxError('SANDBOX_ERROR') if the container is gone.
   */
  reattach(containerId: string, sink: OutputSink, skip: ReplayOffsets): Promise<SandboxHandle>;
  /** Containers labelled `io.quickcmd.agent=<agentId>` (running or not). */
  listManaged(agentId: string): Promise<ManagedContainer[]>;
  /** Force-remove a container; "no such container" is success. */
  remove(containerId: string): Promise<void>;
  /** True when the engine answers. */
  ping(): Promise<boolean>;
  /** True when the image is present locally. */
  hasImage(image: string): Promise<boolean>;
  /** Runtime names the engine lists (`docker info`); rejects with SandboxError if it cannot be asked. */
  runtimes(): Promise<string[]>;
  /** Release resources (warm pools, sockets). Idempotent. */
  close(): Promise<void>;
}
