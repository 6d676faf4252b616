/**
 * The pure part of the warm pool: which jobs may take a warm container, the profile key
 * that groups identical containers, the create options of a warm container and the stdin
 * protocol that hands it its command.
 *
 * A warm container runs a tiny POSIX shell loop as PID 1 that reads the command from
 * stdin with the `read` builtin only (it reads byte by byte, so it never consumes past
 * what it was sent; `head -c` over-reads from a pipe), then replaces itself with
 * `/bin/sh -c <command>` and stdin reopened on /dev/null: from the exec on, the process
 * tree, argv, environment, user, cwd and stdin are exactly those of a cold container.
 * Framing: every line of the command is sent prefixed with `:`, and a final `.` line says
 * "run it". A connection that drops mid-command leaves the loop without its `.`, so a
 * partial command can never run; the shell then exits with WARM_PROTOCOL_EXIT.
 */
import crypto from 'node:crypto';
import type Dockerode from 'dockerode';
import { containerOptions, type LogOptions } from './container-options.js';
import { runtimeOf } from './container-options.js';
import type { RuntimeName } from './runtimes.js';
import type { SandboxSpec } from './sandbox.js';

/** `io.quickcmd.job` of a warm container: its job is unknown until it is taken (recovery matches jobs.sandbox_id). */
export const WARM_JOB_LABEL = 'warm';

/** Label carrying the profile key of a warm container. */
export const LABEL_POOL = 'io.quickcmd.pool';

/** Exit code of a warm container whose command never arrived completely (the command did not run). */
export const WARM_PROTOCOL_EXIT = 97;

/**
 * Longest command (UTF-8 bytes) sent over stdin: `read` costs one system call per byte,
 * about 1 µs each; beyond this a cold start is as fast and the job starts cold.
 */
export const WARM_MAX_COMMAND_BYTES = 16 * 1024;

/**
 * PID 1 of a warm container. `unset SHLVL` so the exec'd shell counts itself as level 1
 * as in a cold container; `<>/dev/null` opens stdin read-write as Docker does for a
 * container without OpenStdin.
 */
export const WARM_SCRIPT = [
  'unset SHLVL; c=; s=',
  'while IFS= read -r l; do',
  '  case $l in',
  '    .) exec /bin/sh -c "$c" <>/dev/null ;;',
  "    :*) c=$c$s${l#:}; s='",
  "' ;;",
  `    *) exit ${WARM_PROTOCOL_EXIT} ;;`,
  '  esac',
  'done',
  `exit ${WARM_PROTOCOL_EXIT}`,
].join('\n');

/** The container settings two jobs must share to use the same warm container. */
export interface WarmProfile {
  readonly image: string;
  readonly cpuLimit: number;
  readonly memoryLimit: number;
  readonly pidsLimit: number;
  readonly tmpfsSizeBytes: number;
  readonly sandboxUser: string;
  /** Docker runtime (SPEC §14): a runc container never serves a runsc job, nor the reverse. */
  readonly runtime?: RuntimeName;
}

/** The profile the pool keeps warm, with the agent that owns its containers. */
export interface WarmTemplate extends WarmProfile {
  readonly agentId: string;
}

/** The profile of a job's spec. */
export function profileOf(spec: WarmProfile): WarmProfile {
  return {
    image: spec.image,
    cpuLimit: spec.cpuLimit,
    memoryLimit: spec.memoryLimit,
    pidsLimit: spec.pidsLimit,
    tmpfsSizeBytes: spec.tmpfsSizeBytes,
    sandboxUser: spec.sandboxUser,
    runtime: runtimeOf(spec),
  };
}

/** Stable short key of a profile (the `io.quickcmd.pool` label). */
export function profileKey(p: WarmProfile): string {
  const canonical = JSON.stringify([p.image, p.cpuLimit, p.memoryLimit, p.pidsLimit, p.tmpfsSizeBytes, p.sandboxUser, runtimeOf(p)]);
  return crypto.createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** Why a job must start cold, or null when a warm container of profile `key` may run it. */
export function coldReason(spec: SandboxSpec, key: string): string | null {
  // Env is set at create time; sending it over stdin would make the pool's shell parse
  // job-controlled assignments (IFS, PATH) before the exec. Jobs with env start cold.
  if (Object.keys(spec.env).length > 0) return 'job sets environment variables';
  // A named command's argv must reach exec without any shell parsing it; the pool's PID 1
  // is a shell that runs `/bin/sh -c`, so argv jobs always start cold.
  if (spec.argv !== undefined) return 'job runs a named command (argv without a shell)';
  // A warm PID 1 is already waiting for its command: input files and artifacts need the
  // file-job supervisor as PID 1 from the create on (supervisor.ts), so those jobs start cold.
  if ((spec.files?.length ?? 0) > 0 || (spec.artifacts?.length ?? 0) > 0) return 'job has input files or artifacts';
  if (spec.command.includes('\0')) return 'command contains a NUL byte';
  if (Buffer.byteLength(spec.command, 'utf8') > WARM_MAX_COMMAND_BYTES) return 'command is longer than the warm protocol carries';
  if (profileKey(profileOf(spec)) !== key) return 'limits or image differ from the warm profile';
  return null;
}

/** Create options of a warm container: a cold container's options with the pool's PID 1 and an open stdin. */
export function warmContainerOptions(t: WarmTemplate, log: LogOptions): Dockerode.ContainerCreateOptions {
  const spec: SandboxSpec = { ...profileOf(t), agentId: t.agentId, jobId: WARM_JOB_LABEL, command: WARM_SCRIPT, env: {} };
  const base = containerOptions(spec, log);
  return {
    ...base,
    Labels: { ...base.Labels, [LABEL_POOL]: profileKey(t) },
    AttachStdin: true,
    OpenStdin: true,
    StdinOnce: true,
  };
}

/** The stdin bytes that make a warm container run `command`. */
export function encodeCommand(command: string): Buffer {
  const lines = command.split('\n').map((l) => `:${l}\n`);
  return Buffer.from(`${lines.join('')}.\n`, 'utf8');
}
