/**
 * The isolation runtimes the conformance tests run against (SPEC §14): every runtime the
 * agent knows. scripts/docker-up.sh registers runsc with the engine, so a runtime the engine
 * does not list FAILS its tests (requireRuntime), never skips them.
 */
import fs from 'node:fs';
import type Dockerode from 'dockerode';
import { RUNTIMES, type RuntimeName } from '../../internal/sandbox/runtimes.js';

/** Every runtime the agent knows, runc first; each conformance suite runs once per entry. */
export const RUNTIMES_UNDER_TEST: readonly RuntimeName[] = RUNTIMES;

/** Throws unless `docker info` lists `runtime`. */
export async function requireRuntime(docker: Dockerode, runtime: RuntimeName): Promise<void> {
  const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
  const listed = Object.keys(info.Runtimes ?? {});
  if (!listed.includes(runtime)) throw new Error(`the Docker engine does not list runtime ${runtime} (it lists ${listed.join(', ')}): run scripts/docker-up.sh`);
}

/** The limits the host kernel applies to a running container, read from its cgroup (v1 or v2). */
export interface HostLimits {
  /** CPU quota over period (CPUs), or null when unlimited. */
  readonly cpus: number | null;
  readonly memoryBytes: number;
  readonly pidsMax: number;
  /** Periods in which the container was throttled so far. */
  readonly throttled: number;
  /** CPU time the container used so far, in nanoseconds. */
  readonly usageNs: number;
}

function read(file: string): string {
  return fs.readFileSync(file, 'utf8').trim();
}

function statField(text: string, key: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

/** Reads a running container's cgroup limits on the host; throws when its cgroup cannot be found. */
export function hostLimits(containerId: string): HostLimits {
  const v1 = (ctrl: string): string => `/sys/fs/cgroup/${ctrl}/docker/${containerId}`;
  if (fs.existsSync(v1('pids'))) {
    const quota = Number(read(`${v1('cpu')}/cpu.cfs_quota_us`));
    const period = Number(read(`${v1('cpu')}/cpu.cfs_period_us`));
    return {
      cpus: quota < 0 ? null : quota / period,
      memoryBytes: Number(read(`${v1('memory')}/memory.limit_in_bytes`)),
      pidsMax: Number(read(`${v1('pids')}/pids.max`)),
      throttled: statField(read(`${v1('cpu')}/cpu.stat`), 'nr_throttled'),
      usageNs: Number(read(`${v1('cpuacct')}/cpuacct.usage`)),
    };
  }
  const v2 = [`/sys/fs/cgroup/system.slice/docker-${containerId}.scope`, `/sys/fs/cgroup/docker/${containerId}`].find((d) => fs.existsSync(d));
  if (v2 === undefined) throw new Error(`no cgroup found for container ${containerId}`);
  const [quota, period] = read(`${v2}/cpu.max`).split(' ');
  return {
    cpus: quota === 'max' ? null : Number(quota) / Number(period),
    memoryBytes: Number(read(`${v2}/memory.max`)),
    pidsMax: Number(read(`${v2}/pids.max`)),
    throttled: statField(read(`${v2}/cpu.stat`), 'nr_throttled'),
    usageNs: statField(read(`${v2}/cpu.stat`), 'usage_usec') * 1000,
  };
}
