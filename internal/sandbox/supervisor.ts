/**
 * The pure part of file jobs (SPEC §12): the PID 1 script of a container that receives
 * input files or gives back artifacts, the collector script run through `exec` once the
 * command has ended, and their create options.
 *
 * Docker's archive API cannot be used: it does not see tmpfs mounts (/workspace) and
 * refuses a read-only root file system. So:
 * - Inputs travel as a tar stream on PID 1's stdin (attached with StdinOnce, so closing our
 *   side is EOF). PID 1 is the sandbox user, so busybox tar creates every file owned by
 *   `sandbox_user`; umask 0 keeps the 0644/0755 modes of the archive; `sha256sum -c`
 *   checks every file against the signed content, so a cut stream never runs the command.
 *   Stdin is then reopened on /dev/null.
 * - Without artifacts, PID 1 then execs the job's argv (`/bin/sh -c <command>` or a named
 *   command's argv, never through a shell) exactly as a cold container.
 * - With artifacts, PID 1 runs the command as its child and waits; a stop is TERM (PID 1
 *   forwards it to every other process with kill -1) then USR2 (kill -KILL -1), so PID 1
 *   itself survives the command's end in every case (exit, failure, timeout, cancel). It
 *   then kills every leftover process (nothing can still write to /workspace), opens fd 7
 *   as its READY mark and waits for USR1 (bounded by HOLD) to exit with the command's code.
 *   The mark is unforgeable: no other process can open a descriptor in PID 1.
 * - The collector is an exec as the sandbox user with the container's own isolation
 *   (capabilities, seccomp, no-new-privileges, no network). It waits for the mark (a
 *   collector started earlier is killed by PID 1's kill -1 and started again by the
 *   agent), prints `ready` on its stderr, refuses artifacts whose parent is not a real
 *   directory, and streams `tar -c` of the rest: tar never follows a symlink and never
 *   opens a FIFO. The agent parses that stream with its own bounds (artifact-reader.ts).
 */
import type Dockerode from 'dockerode';
import { cmdOf, containerOptions, type LogOptions } from './container-options.js';
import type { SandboxSpec } from './sandbox.js';

/** Label of a container whose PID 1 is the supervisor (value: JSON of CollectPlan), read on reattach. */
export const LABEL_ARTIFACTS = 'io.quickcmd.artifacts';

/** Exit code of PID 1 when the input files did not arrive whole (the command did not run). */
export const INPUT_FAILED_EXIT = 96;

/** Seconds PID 1 waits for the agent's USR1 after the command ended before exiting by itself. */
export const HOLD_SECONDS = 120;

/** The descriptor PID 1 opens once every other process is dead (READY). */
const READY_FD = 7;

/**
 * PID 1 of a file job. $1 sha256sum manifest, $2 inputs on stdin (1/0), $3 artifacts wanted
 * (1/0), then the job's argv (`/bin/sh -c <command>`, or a named command's argv). No shell
 * variable is set before the command is started: the job's env is imported (and exported)
 * by this shell, so any assignment would change the command's environment.
 */
export const SUPERVISOR_SCRIPT = [
  'unset SHLVL',
  'if [ "$2" = 1 ]; then',
  '  umask 0',
  `  /bin/tar -xf - -C /workspace && (cd /workspace && printf '%s' "$1" | /bin/sha256sum -c -s -) || {`,
  `    echo 'quickcmd: the input files did not arrive whole; the command did not run' >&2; exit ${INPUT_FAILED_EXIT}; }`,
  '  umask 022',
  'fi',
  'exec <>/dev/null',
  'if [ "$3" != 1 ]; then shift 3; exec "$@"; fi',
  'shift 3',
  "trap 'kill -TERM -1 2>/dev/null' TERM",
  "trap 'kill -KILL -1 2>/dev/null' USR2",
  '"$@" &',
  'p=$!',
  'while :; do wait $p; rc=$?; kill -0 $p 2>/dev/null || break; done',
  "trap '' TERM USR2",
  'kill -KILL -1 2>/dev/null',
  "trap 'exit $rc' USR1",
  `exec ${READY_FD}</dev/null`,
  `/bin/sleep ${HOLD_SECONDS} &`,
  'wait $!',
  'exit $rc',
].join('\n');

/**
 * The collector. Arguments: artifact paths as `./p`. Prints `ready` on stderr once PID 1 is
 * READY, `skip <n> <reason>` for the n-th (1-based) path it refuses, then tar on stdout.
 * The wait is `read -t` on a private FIFO (no fork per tick); `sleep` if none can be made.
 * mkfifo and rm are called by bare name (PATH is pinned to /bin) so busybox runs them in
 * process: under gVisor (runsc 2022) with a pids limit, a child process of an exec session
 * brings the whole sandbox down; the collector's only child is none (tar is exec'd).
 */
export const COLLECT_SCRIPT = [
  "trap '' TERM",
  'set -f',
  'f=/tmp/.quickcmd-collect-$$; w=sleep',
  'if mkfifo -m 600 "$f" 2>/dev/null; then exec 3<>"$f" && w=read; rm -f "$f"; fi',
  `until [ -e /proc/1/fd/${READY_FD} ]; do`,
  '  if [ $w = read ]; then read -t 0.1 x <&3; else sleep 0.1; fi',
  'done',
  'echo ready >&2',
  'cd /workspace || exit 98',
  'i=0',
  'for p do',
  '  shift; i=$((i+1)); ok=1; q=.; d=${p%/*}',
  '  if [ "$d" != . ]; then',
  '    IFS=/',
  '    for c in ${d#./}; do q=$q/$c; if [ -L "$q" ] || [ ! -d "$q" ]; then ok=0; break; fi; done',
  '    unset IFS',
  '  fi',
  '  if [ $ok = 0 ]; then echo "skip $i parent-not-directory" >&2',
  '  elif [ ! -e "$p" ] && [ ! -L "$p" ]; then echo "skip $i missing" >&2',
  '  else set -- "$@" "$p"; fi',
  'done',
  '[ $# -gt 0 ] || exit 0',
  'exec /bin/tar -cf - "$@"',
].join('\n');

/** What a reattached agent needs to collect a supervised container's artifacts. */
export interface CollectPlan {
  readonly paths: readonly string[];
  readonly maxFiles: number;
  readonly maxBytes: number;
  readonly user: string;
}

/** True when the spec needs the supervisor (input files or artifacts). */
export function isFileJob(spec: SandboxSpec): boolean {
  return (spec.files?.length ?? 0) > 0 || (spec.artifacts?.length ?? 0) > 0;
}

/** `sha256sum -c` lines for the inputs. */
export function inputManifest(spec: SandboxSpec, sha256: (b: Buffer) => string): string {
  return (spec.files ?? []).map((f) => `${sha256(f.content)}  ./${f.path}\n`).join('');
}

/** The collect plan of a spec, or null without artifacts. */
export function collectPlanOf(spec: SandboxSpec): CollectPlan | null {
  const paths = spec.artifacts ?? [];
  if (paths.length === 0) return null;
  const limits = spec.artifactLimits;
  if (limits === undefined) throw new TypeError('artifactLimits are required with artifacts');
  return { paths, maxFiles: limits.maxFiles, maxBytes: limits.maxBytes, user: spec.sandboxUser };
}

/** Narrows the label of a supervised container back into its plan; null if absent or malformed. */
export function parseCollectPlan(label: unknown): CollectPlan | null {
  if (typeof label !== 'string') return null;
  try {
    const v = JSON.parse(label) as Partial<CollectPlan>;
    if (!Array.isArray(v.paths) || !v.paths.every((p) => typeof p === 'string')) return null;
    if (!Number.isSafeInteger(v.maxFiles) || !Number.isSafeInteger(v.maxBytes) || typeof v.user !== 'string') return null;
    return { paths: v.paths, maxFiles: v.maxFiles as number, maxBytes: v.maxBytes as number, user: v.user };
  } catch {
    return null;
  }
}

/** Create options of a file job: a cold container's options (every §5 setting) with the supervisor as PID 1. */
export function supervisedContainerOptions(spec: SandboxSpec, manifest: string, log: LogOptions): Dockerode.ContainerCreateOptions {
  const base = containerOptions(spec, log);
  const inputs = (spec.files?.length ?? 0) > 0;
  const plan = collectPlanOf(spec);
  return {
    ...base,
    Cmd: ['/bin/sh', '-c', SUPERVISOR_SCRIPT, 'quickcmd-supervisor', manifest, inputs ? '1' : '0', plan === null ? '0' : '1', ...cmdOf(spec)],
    Labels: plan === null ? base.Labels : { ...base.Labels, [LABEL_ARTIFACTS]: JSON.stringify(plan) },
    AttachStdin: inputs,
    OpenStdin: inputs,
    StdinOnce: inputs,
  };
}

/** Exec options of one collector run. */
export function collectorExecOptions(plan: CollectPlan): Dockerode.ExecCreateOptions {
  return {
    Cmd: ['/bin/sh', '-c', COLLECT_SCRIPT, 'quickcmd-collect', ...plan.paths.map((p) => `./${p}`)],
    User: plan.user,
    WorkingDir: '/workspace',
    // The job's env stays in the container's; only PATH is pinned (every tool is called by absolute path anyway).
    Env: ['PATH=/usr/bin:/bin'],
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    Privileged: false,
  };
}
