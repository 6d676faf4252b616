/**
 * What a person asks to run, and the signed payload it becomes (SPEC §3): a fresh job id,
 * timestamp now, ttl now + 300, and the sandbox requests in candidate_metadata.sandbox.
 * Also the parsers for the run flags (--memory 256m, --cpus 0.5, --timeout 90, --env K=V).
 */
import crypto from 'node:crypto';
import { isEnvName } from '../agent/wire/env-name.js';
import { isJobId } from '../agent/wire/job-id.js';
import { NAMED_COMMAND_KEY } from '../agent/wire/named-command-request.js';
import type { JobPayload } from '../agent/wire/payload.js';
import { SettingsError } from './controller-error.js';
import type { FileArg } from './job-files.js';

/** Seconds a submitted job stays valid (the payload's ttl - timestamp). */
export const JOB_TTL_SECONDS = 300;

/** A parameter value of a named command as it travels (JSON). */
export type ParamValue = string | number | boolean;

/** A named-command call (SPEC §11): sent as candidate_metadata.named_command with an empty command. */
export interface NamedCall {
  readonly name: string;
  readonly params: Readonly<Record<string, ParamValue>>;
  /** The params are `--param` text still to be typed by each agent's definition (named-commands.ts namedSpecs). */
  readonly untyped?: true;
}

/** A job as the person asked for it. */
export interface RunSpec {
  /** Shell command line run by `/bin/sh -c` on the agent ("" for a named command). */
  readonly command: string;
  /** A named command instead of the shell. */
  readonly named?: NamedCall;
  /** Job id; a fresh random one when absent. */
  readonly jobId?: string;
  readonly image?: string;
  readonly timeoutSeconds?: number;
  readonly memoryBytes?: number;
  readonly cpus?: number;
  /** Isolation runtime to ask for (SPEC §14: runc, runsc); the agent decides what is allowed. */
  readonly runtime?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly requiredScopes?: readonly string[];
  /** The agent's name, signed into candidate_metadata.target_agent (SPEC §10 target binding). */
  readonly targetAgent?: string;
  /** Input files placed in /workspace (SPEC §12), signed with the job. */
  readonly files?: readonly FileArg[];
  /** Paths under /workspace to collect after the command (SPEC §12). */
  readonly artifacts?: readonly string[];
  /** `quickcmd run --download DIR`: where the artifacts are written (not sent). */
  readonly download?: string;
  /** Seconds the job stays valid (ttl - timestamp); JOB_TTL_SECONDS when absent. */
  readonly ttlSeconds?: number;
}

/** A fresh, unique job id: `job-<uuid>`. */
export function newJobId(): string {
  return `job-${crypto.randomUUID()}`;
}

/** The payload to sign for `spec`, submitted by `controllerId` at `nowSec`. */
export function buildPayload(spec: RunSpec, controllerId: string, nowSec: number, jobId: string): JobPayload {
  const sandbox: Record<string, unknown> = {};
  if (spec.image !== undefined) sandbox['image'] = spec.image;
  if (spec.cpus !== undefined) sandbox['cpu_limit'] = spec.cpus;
  if (spec.memoryBytes !== undefined) sandbox['memory_limit'] = spec.memoryBytes;
  if (spec.timeoutSeconds !== undefined) sandbox['timeout_seconds'] = spec.timeoutSeconds;
  if (spec.runtime !== undefined) sandbox['runtime'] = spec.runtime;
  if (spec.env !== undefined && Object.keys(spec.env).length > 0) sandbox['env'] = { ...spec.env };
  const meta: Record<string, unknown> = Object.keys(sandbox).length > 0 ? { sandbox } : {};
  if (spec.named !== undefined) meta[NAMED_COMMAND_KEY] = { name: spec.named.name, params: { ...spec.named.params } };
  if (spec.files !== undefined && spec.files.length > 0) meta['files'] = spec.files.map((f) => ({ ...f }));
  if (spec.artifacts !== undefined && spec.artifacts.length > 0) meta['artifacts'] = [...spec.artifacts];
  return {
    jobId,
    prompt: '',
    command: spec.named !== undefined ? '' : spec.command,
    candidateMetadata: { ...meta, ...(spec.targetAgent !== undefined ? { target_agent: spec.targetAgent } : {}) },
    pluginMetadata: {},
    requiredScopes: spec.requiredScopes === undefined ? [] : [...spec.requiredScopes],
    snapshotMetadata: '',
    ttl: nowSec + (spec.ttlSeconds ?? JOB_TTL_SECONDS),
    timestamp: nowSec,
    controllerId,
  };
}

/** Check a job id given with --job-id. */
export function parseJobId(v: string): string {
  if (!isJobId(v)) {
    throw new SettingsError(`--job-id ${JSON.stringify(v)}: use only letters, digits, ".", "_", ":" and "-"`);
  }
  return v;
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)$/i;
const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `--memory`: bytes, or with a Docker-style suffix (k, m, g; binary multiples): 256m, 1g, 512MiB. */
export function parseMemory(v: string): number {
  const m = SIZE_RE.exec(v.trim());
  const unit = m === null ? undefined : UNITS[(m[2] ?? '').toLowerCase()];
  const bytes = m === null || unit === undefined ? NaN : Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new SettingsError(`--memory ${JSON.stringify(v)}: expected a size such as 268435456, 256m or 1g`);
  return bytes;
}

/** `--cpus`: a positive number of CPUs, e.g. 0.5. */
export function parseCpus(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new SettingsError(`--cpus ${JSON.stringify(v)}: expected a positive number such as 0.5`);
  return n;
}

/** `--timeout`: whole seconds, or with a suffix s, m or h (90, 90s, 5m, 1h). */
export function parseTimeout(v: string): number {
  const m = /^(\d+)\s*([smh]?)$/.exec(v.trim());
  const n = m === null ? NaN : Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600 }[m[2] ?? ''] ?? NaN);
  if (!Number.isSafeInteger(n) || n <= 0) throw new SettingsError(`--timeout ${JSON.stringify(v)}: expected whole seconds such as 90, 90s or 5m`);
  return n;
}

/** `--env K=V` (repeatable); `--env K` takes K's value from this environment, as `docker run` does. */
export function parseEnv(items: readonly string[], localEnv: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!isEnvName(key)) throw new SettingsError(`--env ${JSON.stringify(item)}: expected NAME=VALUE`);
    const value = eq < 0 ? localEnv[key] : item.slice(eq + 1);
    if (value === undefined) throw new SettingsError(`--env ${key}: ${key} is not set here; use ${key}=VALUE`);
    env[key] = value;
  }
  return env;
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one word for /bin/sh. */
export function shellQuote(word: string): string {
  if (word !== '' && SHELL_SAFE.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line from the words after `--`. One word is taken as a shell command line
 * as is (`quickcmd run -- 'ls | wc -l'`); several are an argv, each quoted for the shell,
 * so `quickcmd run -- sh -c 'exit 3'` means what it says.
 */
export function commandLine(words: readonly string[]): string {
  if (words.length === 1) return words[0] as string;
  return words.map(shellQuote).join(' ');
}
