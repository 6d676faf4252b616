/**
 * SandboxSpec → Docker create options. Pure, so every hardening flag of SPEC §5 is
 * checked by a unit test without an engine. Anything not set here is Docker's default,
 * which is why the defaults that matter (privileged, auto-remove, init) are spelled out.
 */
import type Dockerode from 'dockerode';
import type { SandboxSpec } from './sandbox.js';
import { LABEL_AGENT, LABEL_JOB } from './labels.js';
import { DEFAULT_RUNTIME, hostPidsLimit, parseRuntime, type RuntimeName } from './runtimes.js';

export { LABEL_AGENT, LABEL_JOB } from './labels.js';

/** Log driver options: bound the disk a job's log may use on the host. */
export interface LogOptions {
  /** Bytes the log driver keeps for one container (two files); all output is kept up to this size. */
  readonly logMaxBytes: number;
}

/**
 * Default log bound. Replay after a restart needs every byte the caller may still keep, and
 * the `local` driver spends ~30 bytes per line (16× for 1-character lines), so the bound
 * should be about 32 × max_output_bytes: 128 MiB covers the default 4 MiB.
 */
export const DEFAULT_LOG_MAX_BYTES = 128 * 1024 * 1024;

/** The engine log bound that lets a job's kept output (`max_output_bytes`) be replayed whole. */
export function logBoundFor(maxOutputBytes: number): number {
  return Math.max(DEFAULT_LOG_MAX_BYTES, 32 * maxOutputBytes);
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SANDBOX_USER = /^(\d{1,10}):(\d{1,10})$/;

/** `uid:gid` split into numbers; throws on anything else (names cannot go into tmpfs options). */
export function parseSandboxUser(user: string): { uid: number; gid: number } {
  const m = SANDBOX_USER.exec(user);
  if (m === null) throw new TypeError(`sandboxUser must be numeric uid:gid, got ${JSON.stringify(user)}`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** `K=V` list from a record; throws on a key Docker or a shell could misread, or a NUL in a value. */
export function envList(env: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (!ENV_KEY.test(key)) throw new TypeError(`invalid environment variable name ${JSON.stringify(key)}`);
    if (typeof value !== 'string' || value.includes('\0')) {
      throw new TypeError(`environment variable ${key} has a NUL byte or is not a string`);
    }
    out.push(`${key}=${value}`);
  }
  return out;
}

/** The container's Cmd: the argv of a named command as is, else the shell with the command line. */
export function cmdOf(spec: Pick<SandboxSpec, 'command' | 'argv'>): string[] {
  if (spec.argv === undefined) return ['/bin/sh', '-c', spec.command];
  if (spec.argv.length === 0 || spec.argv[0] === '') throw new TypeError('argv needs a program');
  for (const a of spec.argv) if (typeof a !== 'string' || a.includes('\0')) throw new TypeError('argv elements must be strings without NUL');
  return [...spec.argv];
}

/** The spec's runtime; throws on a name the agent does not know (never passed to the engine). */
export function runtimeOf(spec: Pick<SandboxSpec, 'runtime'>): RuntimeName {
  const raw: unknown = spec.runtime;
  // Absent only in callers outside the job path (tests, benchmarks): the agent always sets it.
  if (raw === undefined) return DEFAULT_RUNTIME;
  const r = parseRuntime(raw);
  if (r === null) throw new TypeError(`unknown runtime ${JSON.stringify(raw)}`);
  return r;
}

function positiveInt(name: string, n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new TypeError(`${name} must be a positive integer, got ${n}`);
  return n;
}

/** Create options for one job's container: no network, read-only root, no capabilities, bounded everything. */
export function containerOptions(
  spec: SandboxSpec,
  log: LogOptions = { logMaxBytes: DEFAULT_LOG_MAX_BYTES },
): Dockerode.ContainerCreateOptions {
  const { uid, gid } = parseSandboxUser(spec.sandboxUser);
  const tmpfsSize = positiveInt('tmpfsSizeBytes', spec.tmpfsSizeBytes);
  const memory = positiveInt('memoryLimit', spec.memoryLimit);
  const runtime = runtimeOf(spec);
  const pids = hostPidsLimit(runtime, positiveInt('pidsLimit', spec.pidsLimit));
  if (!Number.isFinite(spec.cpuLimit) || spec.cpuLimit <= 0) throw new TypeError(`cpuLimit must be > 0, got ${spec.cpuLimit}`);
  const nanoCpus = Math.max(1, Math.round(spec.cpuLimit * 1e9));
  // Two files so rotation keeps the older half; the `local` driver stores bytes verbatim
  // (json-file rewrites invalid UTF-8 as U+FFFD, which would break replay offsets).
  const logFileBytes = Math.max(1024 * 1024, Math.ceil(positiveInt('logMaxBytes', log.logMaxBytes) / 2));
  return {
    Image: spec.image,
    Cmd: cmdOf(spec),
    Entrypoint: [],
    User: `${uid}:${gid}`,
    WorkingDir: '/workspace',
    Env: envList(spec.env),
    Labels: { [LABEL_AGENT]: spec.agentId, [LABEL_JOB]: spec.jobId },
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    NetworkDisabled: true,
    HostConfig: {
      // Always named, never the engine's default: the agent checks after create that this is what it got.
      Runtime: runtime,
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      Tmpfs: {
        '/tmp': `rw,noexec,nosuid,nodev,size=${tmpfsSize},uid=${uid},gid=${gid},mode=1777`,
        '/workspace': `rw,nosuid,nodev,size=${tmpfsSize},uid=${uid},gid=${gid},mode=0700`,
      },
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: pids,
      Memory: memory,
      MemorySwap: memory,
      NanoCpus: nanoCpus,
      Privileged: false,
      AutoRemove: false,
      Init: false,
      // 'none' rather than 'private': no /dev/shm, so /tmp and /workspace stay the only writable places.
      IpcMode: 'none',
      PidMode: '',
      Binds: [],
      Mounts: [],
      VolumesFrom: [],
      Devices: [],
      PublishAllPorts: false,
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      LogConfig: { Type: 'local', Config: { 'max-size': String(logFileBytes), 'max-file': '2', compress: 'false' } },
    },
  };
}
