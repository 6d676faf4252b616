/**
 * Isolation runtimes (SPEC §14), pure: the runtimes this agent knows with their isolation
 * order (runc < runsc), the choice of a job's runtime under the config, what the engine
 * says it has, and the host-side pids bound a runtime needs.
 *
 * runc runs the job's processes on the host kernel, separated by namespaces, cgroups,
 * seccomp and dropped capabilities; runsc (gVisor) runs them on a user-space kernel (the
 * Sentry), so a host kernel bug reachable by a system call is no longer reachable.
 */

/** Docker runtime names the agent accepts, in increasing isolation. */
export const RUNTIMES = ['runc', 'runsc'] as const;

/** A Docker runtime the agent knows. */
export type RuntimeName = (typeof RUNTIMES)[number];

/** The runtime of jobs and configs that predate SPEC §14. */
export const DEFAULT_RUNTIME: RuntimeName = 'runc';

/** Position in the isolation order (higher isolates more). */
export function isolationRank(r: RuntimeName): number {
  switch (r) {
    case 'runc':
      return 0;
    case 'runsc':
      return 1;
  }
}

/** Narrow a string (a stored spec, a request) to a known runtime, or null. */
export function parseRuntime(s: unknown): RuntimeName | null {
  return typeof s === 'string' && (RUNTIMES as readonly string[]).includes(s) ? (s as RuntimeName) : null;
}

/** The config keys the runtime choice reads. */
export interface RuntimePolicy {
  readonly allowed_runtimes: readonly RuntimeName[];
  readonly default_runtime: RuntimeName;
  /** Image → least isolation it may run with. */
  readonly image_runtimes: Readonly<Record<string, RuntimeName>>;
}

/** Why a runtime choice was refused (the caller turns it into 403 RUNTIME_NOT_ALLOWED). */
export class RuntimeRefusal extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'RuntimeRefusal';
  }
}

/**
 * The runtime a job of `image` runs with. An explicit request (job or named command) must be
 * allowed and not below the image's minimum; without one, `default_runtime` is raised to the
 * image's minimum, so "this image always runs under gVisor" needs no cooperation from jobs.
 */
export function chooseRuntime(requested: RuntimeName | null, image: string, policy: RuntimePolicy): RuntimeName {
  const floor = policy.image_runtimes[image] ?? DEFAULT_RUNTIME;
  let chosen: RuntimeName;
  if (requested !== null) {
    if (isolationRank(requested) < isolationRank(floor)) {
      throw new RuntimeRefusal(`runtime ${requested} is below the minimum ${floor} that image_runtimes sets for ${image}`);
    }
    chosen = requested;
  } else {
    chosen = isolationRank(policy.default_runtime) >= isolationRank(floor) ? policy.default_runtime : floor;
  }
  if (!policy.allowed_runtimes.includes(chosen)) {
    throw new RuntimeRefusal(`runtime ${chosen} is not in allowed_runtimes (${policy.allowed_runtimes.join(', ')})`);
  }
  return chosen;
}

/** Names under `Runtimes` of a `GET /info` answer; throws when the answer has none. */
export function engineRuntimes(info: unknown): string[] {
  const runtimes = typeof info === 'object' && info !== null ? (info as Record<string, unknown>)['Runtimes'] : undefined;
  if (typeof runtimes !== 'object' || runtimes === null || Array.isArray(runtimes)) {
    throw new TypeError('docker info answer has no Runtimes');
  }
  return Object.keys(runtimes).sort();
}

/** The allowed runtimes the engine does not list (empty when all are there). */
export function missingRuntimes(allowed: readonly RuntimeName[], listed: readonly string[]): RuntimeName[] {
  return allowed.filter((r) => !listed.includes(r));
}

/**
 * Host threads gVisor needs besides the job's processes: the Sentry and Gofer are Go
 * programs with ~50 threads at rest (measured with runsc 20221219, ptrace platform), and
 * the host pids cgroup counts them.
 */
export const RUNSC_PIDS_BASE = 128;
/** Host threads per sandboxed process under runsc (ptrace platform: a stub and its threads; ~7.5 measured). */
export const RUNSC_PIDS_PER_PROCESS = 8;

/**
 * The `PidsLimit` to give the engine so the job gets about `pidsLimit` processes. Under runc
 * the host cgroup counts the job's processes only. Under runsc it counts the Sentry's own
 * threads too; the job's `pidsLimit` as is would not even let the sandbox boot (it dies
 * with exit 2 when the Go runtime cannot make a thread), so it is scaled.
 */
export function hostPidsLimit(runtime: RuntimeName, pidsLimit: number): number {
  switch (runtime) {
    case 'runc':
      return pidsLimit;
    case 'runsc':
      return RUNSC_PIDS_BASE + RUNSC_PIDS_PER_PROCESS * pidsLimit;
  }
}
