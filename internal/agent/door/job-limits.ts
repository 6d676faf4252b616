/**
 * Pure: turn a verified payload's `candidate_metadata.sandbox` request into the job's
 * execution spec, checked against the config's allowed images and ceilings (SPEC §3).
 * Malformed requests are INVALID_PAYLOAD naming the field; requests beyond what the
 * config allows are 403 IMAGE_NOT_ALLOWED, RUNTIME_NOT_ALLOWED or LIMIT_EXCEEDED. A named command (SPEC §11)
 * brings its own image and limits as the job's defaults; its image is fixed (asking for
 * another is IMAGE_NOT_ALLOWED) and it takes no `env` (nothing but the operator's
 * definition may steer the program).
 * And the other end of the same limits: the sandbox request a stored job is started
 * with (`sandboxSpecFor`).
 */
import type { SandboxSpec } from '../../sandbox/sandbox.js';
import { MIN_MEMORY_BYTES } from '../config/config-schema.js';
import type { AgentConfig } from '../config/config.js';
import { RejectionError } from '../errors.js';
import type { JobRecord, JobSpec } from '../jobs/job.js';
import { runtimeOfJob } from '../jobs/job-ledger.js';
import type { ResolvedCall } from './named-command.js';
import { isEnvName } from '../wire/env-name.js';
import type { JobPayload } from '../wire/payload.js';
import { chooseRuntime, DEFAULT_RUNTIME, isolationRank, parseRuntime, RuntimeRefusal, type RuntimeName } from '../../sandbox/runtimes.js';

const SANDBOX_KEYS = new Set(['image', 'cpu_limit', 'memory_limit', 'timeout_seconds', 'env', 'runtime']);
export { MIN_MEMORY_BYTES };
/** Most environment variables a job may set. */
export const MAX_ENV_VARS = 64;
/** Largest value of one environment variable, in bytes. */
export const MAX_ENV_VALUE_BYTES = 32 * 1024;

type Limits = Pick<AgentConfig, 'allowed_images' | 'default_image' | 'default_cpu_limit' | 'max_cpu_limit' | 'default_memory_limit' | 'max_memory_limit' | 'default_timeout_seconds' | 'max_timeout_seconds' | 'default_pids_limit' | 'allowed_runtimes' | 'default_runtime' | 'image_runtimes'>;

/**
 * The runtime a job of `image` runs with, `requested` being what the job (or a named command,
 * SPEC §11, `where` naming it) asked for: unknown, not allowed, or below the image's minimum
 * is 403 RUNTIME_NOT_ALLOWED. A named command's fixed runtime goes through here too.
 */
export function runtimeFor(requested: unknown, image: string, limits: Pick<Limits, 'allowed_runtimes' | 'default_runtime' | 'image_runtimes'>, where = 'payload.candidate_metadata.sandbox.runtime'): RuntimeName {
  let asked: RuntimeName | null = null;
  if (requested !== undefined && requested !== null) {
    if (typeof requested !== 'string' || requested === '') throw new RejectionError('INVALID_PAYLOAD', `${where} must be a non-empty string`);
    asked = parseRuntime(requested);
    if (asked === null) throw new RejectionError('RUNTIME_NOT_ALLOWED', `runtime ${JSON.stringify(requested)} is not allowed on this agent`, `${where} ${JSON.stringify(requested)} is not a runtime this agent knows`);
  }
  // Defaults for callers built before SPEC §14 that pass limits without the runtime keys.
  const policy = {
    allowed_runtimes: limits.allowed_runtimes ?? [DEFAULT_RUNTIME],
    default_runtime: limits.default_runtime ?? DEFAULT_RUNTIME,
    image_runtimes: limits.image_runtimes ?? {},
  };
  try {
    return chooseRuntime(asked, image, policy);
  } catch (e) {
    if (!(e instanceof RuntimeRefusal)) throw e;
    throw new RejectionError('RUNTIME_NOT_ALLOWED', `runtime ${JSON.stringify(asked ?? limits.default_runtime)} is not allowed for image ${JSON.stringify(image)} on this agent`, e.reason);
  }
}

function bad(field: string, why: string): RejectionError {
  return new RejectionError('INVALID_PAYLOAD', `payload.candidate_metadata.sandbox.${field} ${why}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveNumber(req: Record<string, unknown>, key: string): number | undefined {
  const v = req[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw bad(key, 'must be a positive number');
  return v;
}

function positiveInteger(req: Record<string, unknown>, key: string): number | undefined {
  const v = positiveNumber(req, key);
  if (v !== undefined && !Number.isSafeInteger(v)) throw bad(key, 'must be a positive integer');
  return v;
}

function parseEnv(v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw bad('env', 'must be an object of strings');
  const keys = Object.keys(v);
  if (keys.length > MAX_ENV_VARS) throw bad('env', `has ${keys.length} variables; at most ${MAX_ENV_VARS} are allowed`);
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const k of keys) {
    if (!isEnvName(k)) throw bad(`env.${k}`, 'is not a valid variable name');
    const val = v[k];
    if (typeof val !== 'string') throw bad(`env.${k}`, 'must be a string');
    if (val.includes('\0')) throw bad(`env.${k}`, 'must not contain NUL');
    if (Buffer.byteLength(val) > MAX_ENV_VALUE_BYTES) throw bad(`env.${k}`, `is longer than ${MAX_ENV_VALUE_BYTES} bytes`);
    env[k] = val;
  }
  return { ...env };
}

/** A job's runtime when a named command may fix one: the job may ask for more isolation, never less. */
function namedRuntimeFor(requested: unknown, named: ResolvedCall | null, image: string, limits: Limits): RuntimeName {
  const fixed = named?.overrides.runtime;
  if (fixed === undefined) return runtimeFor(requested, image, limits);
  if (requested === undefined || requested === null) return runtimeFor(fixed, image, limits, `commands.${named?.name ?? ''}.runtime`);
  const asked = runtimeFor(requested, image, limits);
  if (isolationRank(asked) < isolationRank(fixed)) {
    throw new RejectionError('RUNTIME_NOT_ALLOWED', `runtime ${JSON.stringify(asked)} is not allowed for command ${named?.name ?? ''}`, `runtime ${asked} is below the runtime ${fixed} that command ${named?.name ?? ''} fixes`);
  }
  return asked;
}

/** The execution spec of a payload under `limits` (`named`: its checked named-command call); throws RejectionError. */
export function jobSpecFor(p: JobPayload, limits: Limits, named: ResolvedCall | null = null): JobSpec {
  const raw = p.candidateMetadata?.['sandbox'];
  if (raw !== undefined && raw !== null && !isRecord(raw)) {
    throw new RejectionError('INVALID_PAYLOAD', 'payload.candidate_metadata.sandbox must be an object');
  }
  const req = raw ?? {};
  for (const k of Object.keys(req)) if (!SANDBOX_KEYS.has(k)) throw bad(k, 'is not a known sandbox setting');
  return specOf(req, limits, named, p.command, p.requiredScopes ?? []);
}

/** The execution spec of a named-command call with no sandbox request (e.g. a schedule's fire); throws RejectionError. */
export function namedJobSpec(call: ResolvedCall, limits: Limits): JobSpec {
  return specOf({}, limits, call, '', []);
}

function specOf(req: Record<string, unknown>, limits: Limits, named: ResolvedCall | null, command: string, requiredScopes: readonly string[]): JobSpec {
  const fixedImage = named?.overrides.image;
  let image = fixedImage ?? limits.default_image;
  if (req['image'] !== undefined && req['image'] !== null) {
    if (typeof req['image'] !== 'string' || req['image'] === '') throw bad('image', 'must be a non-empty string');
    if (fixedImage !== undefined && req['image'] !== fixedImage) {
      throw new RejectionError('IMAGE_NOT_ALLOWED', `command ${named?.name ?? ''} runs in ${fixedImage} only`);
    }
    image = req['image'];
  }
  if (!limits.allowed_images.includes(image)) {
    throw new RejectionError('IMAGE_NOT_ALLOWED', `image ${JSON.stringify(image)} is not allowed on this agent`);
  }
  const runtime = namedRuntimeFor(req['runtime'], named, image, limits);
  const cpu = positiveNumber(req, 'cpu_limit') ?? named?.overrides.cpu_limit ?? limits.default_cpu_limit;
  if (cpu > limits.max_cpu_limit) throw new RejectionError('LIMIT_EXCEEDED', `cpu_limit ${cpu} exceeds the maximum ${limits.max_cpu_limit}`);
  const mem = positiveInteger(req, 'memory_limit') ?? named?.overrides.memory_limit ?? limits.default_memory_limit;
  if (mem > limits.max_memory_limit) throw new RejectionError('LIMIT_EXCEEDED', `memory_limit ${mem} exceeds the maximum ${limits.max_memory_limit}`);
  if (mem < MIN_MEMORY_BYTES) throw bad('memory_limit', `must be at least ${MIN_MEMORY_BYTES} bytes (Docker's minimum is 6 MB)`);
  const timeout = positiveInteger(req, 'timeout_seconds') ?? named?.overrides.timeout_seconds ?? limits.default_timeout_seconds;
  if (timeout > limits.max_timeout_seconds) {
    throw new RejectionError('LIMIT_EXCEEDED', `timeout_seconds ${timeout} exceeds the maximum ${limits.max_timeout_seconds}`);
  }
  if (named !== null && req['env'] !== undefined && req['env'] !== null) throw bad('env', 'is not allowed with a named command');
  const base = {
    image,
    // Absent means runc, as in every job stored before SPEC §14 (one shape for both).
    ...(runtime === DEFAULT_RUNTIME ? {} : { runtime }),
    cpuLimit: cpu,
    memoryLimit: mem,
    timeoutSeconds: timeout,
    pidsLimit: limits.default_pids_limit,
    env: parseEnv(req['env']),
    requiredScopes,
  };
  if (named === null) return { command, ...base };
  return { command: '', argv: [...named.argv], named: { name: named.name, params: { ...named.params }, sha256: named.sha256 }, ...base };
}

/** The sandbox request of a stored job under the current config. */
export function sandboxSpecFor(rec: JobRecord, cfg: AgentConfig, agentId: string): SandboxSpec {
  return {
    jobId: rec.jobId,
    agentId,
    image: rec.spec.image,
    command: rec.spec.command,
    ...(rec.spec.argv !== undefined ? { argv: rec.spec.argv } : {}),
    env: rec.spec.env,
    cpuLimit: rec.spec.cpuLimit,
    memoryLimit: rec.spec.memoryLimit,
    pidsLimit: rec.spec.pidsLimit,
    tmpfsSizeBytes: cfg.tmpfs_size_bytes,
    sandboxUser: cfg.sandbox_user,
    runtime: runtimeOfJob(rec),
  };
}
