/**
 * Loads and validates the agent configuration: YAML → zod schema → resolved, typed
 * `AgentConfig` with secrets read from files and every cross-key rule checked. Any problem
 * is a ConfigError naming the key; the agent does not start on one (exit 2).
 */
import fs from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { checkCommandLimits } from './commands-schema.js';
import { configFileSchema, type ConfigFile } from './config-schema.js';
import { ConfigError } from '../errors.js';
import { checkRuntimeKeys } from './runtime-schema.js';
import { checkSchedules } from './schedules-schema.js';
import { scheduleCall, ScheduleCommandError } from '../door/schedule-call.js';
import { checkFleetKeys } from './broker-config.js';

/** Where the daemon looks when neither --config nor QUICKCMD_CONFIG says otherwise. */
export const DEFAULT_CONFIG_PATH = '/etc/quickcmd/agent-config.yaml';
/** The placeholder the original shipped; refused anywhere a secret is expected. */
export const PLACEHOLDER_SECRET = 'CHANGE_ME';
/** Minimum secret length in bytes (HMAC-SHA256 key strength). */
export const MIN_SECRET_BYTES = 32;

/** One controller's verification material. */
export interface ControllerKeys {
  readonly id: string;
  /** Keys accepted for this controller, newest first; several during a rotation. */
  readonly secrets: readonly Buffer[];
  readonly scopes: ReadonlySet<string>;
}

type ResolvedKeys = 'hmac_secret' | 'hmac_secret_file' | 'controllers' | 'max_cpu_limit' | 'max_memory_limit' | 'max_timeout_seconds';

/** The validated configuration the agent runs on. Secrets live only in `shared_secret` and `controller_keys`. */
export type AgentConfig = Readonly<
  Omit<ConfigFile, ResolvedKeys> & {
    /** Ceiling for a job's cpu_limit. */
    max_cpu_limit: number;
    /** Ceiling for a job's memory_limit. */
    max_memory_limit: number;
    /** Ceiling for a job's timeout_seconds. */
    max_timeout_seconds: number;
    /** The shared (legacy) secret, if any. */
    shared_secret: Buffer | null;
    /** Per-controller keys by controller id. */
    controller_keys: ReadonlyMap<string, ControllerKeys>;
    /** File the config came from (for reloads and messages). */
    source_path: string;
  }
>;

/** Environment variables the loader honours. */
export interface ConfigEnv {
  QUICKCMD_CONFIG?: string;
  QUICKCMD_HMAC_SECRET?: string;
}

/** How the loader sees the file system and the process; injectable for tests. */
export interface ConfigDeps {
  readFile(path: string): string;
  stat(path: string): { mode: number; gid: number; isFile(): boolean };
  /** gid of a group name, or null when the group does not exist. */
  groupId(name: string): number | null;
  /** The process's effective gid. */
  currentGid(): number;
}

/** Real file system and process. */
export const nodeConfigDeps: ConfigDeps = {
  readFile: (p) => fs.readFileSync(p, 'utf8'),
  stat: (p) => fs.statSync(p),
  groupId: (name) => lookupGroupId(name),
  currentGid: () => (typeof process.getegid === 'function' ? process.getegid() : -1),
};

function lookupGroupId(name: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync('/etc/group', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return null;
}

/** Resolve the config path from argv value, environment, default (in that order). */
export function resolveConfigPath(flag: string | undefined, env: ConfigEnv): string {
  return flag ?? env.QUICKCMD_CONFIG ?? DEFAULT_CONFIG_PATH;
}

/** Read, parse and validate a config file. Throws ConfigError naming the key. */
export function loadConfig(path: string, env: ConfigEnv = {}, deps: ConfigDeps = nodeConfigDeps): AgentConfig {
  let text: string;
  try {
    text = deps.readFile(path);
  } catch (e) {
    throw new ConfigError('(file)', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parseConfig(text, path, env, deps);
}

/** Validate config text (YAML). Throws ConfigError naming the key. */
export function parseConfig(text: string, path: string, env: ConfigEnv = {}, deps: ConfigDeps = nodeConfigDeps): AgentConfig {
  let raw: unknown;
  try {
    // maxAliasCount bounds alias expansion ("billion laughs"); uniqueKeys rejects duplicate keys.
    raw = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true, prettyErrors: false });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw new ConfigError('(yaml)', `not valid YAML: ${msg}`);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('(root)', 'must be a mapping of keys');
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) throw zodToConfigError(parsed.error);
  return resolve(parsed.data, path, env, deps);
}

function zodToConfigError(err: z.ZodError): ConfigError {
  const issue = err.issues[0];
  if (issue === undefined) return new ConfigError('(root)', 'invalid');
  const base = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.join(', ');
    return new ConfigError(base ? `${base}.${issue.keys[0]}` : String(issue.keys[0]), `unknown key (${keys}); check its spelling`);
  }
  return new ConfigError(base || '(root)', issue.message);
}

function checkSecret(key: string, value: string): Buffer {
  if (value.trim() === PLACEHOLDER_SECRET) throw new ConfigError(key, `the placeholder ${PLACEHOLDER_SECRET} is not a secret; generate one with 'quickcmd agent gen-key'`);
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length < MIN_SECRET_BYTES) throw new ConfigError(key, `secret is ${bytes.length} bytes; at least ${MIN_SECRET_BYTES} are required`);
  return bytes;
}

function readSecretFile(key: string, file: string, cfg: ConfigFile, deps: ConfigDeps): Buffer {
  let st: ReturnType<ConfigDeps['stat']>;
  try {
    st = deps.stat(file);
  } catch (e) {
    throw new ConfigError(key, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (!st.isFile()) throw new ConfigError(key, `${file} is not a regular file`);
  if ((st.mode & 0o007) !== 0) throw new ConfigError(key, `${file} is accessible by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  if ((st.mode & 0o020) !== 0) throw new ConfigError(key, `${file} is group-writable (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  if ((st.mode & 0o040) !== 0) {
    // Group read is the layout setup-agent.sh writes (root:quickcmd 0640): allowed only when
    // that group is the agent's own, so no other account can read the secret.
    const own = new Set<number>([deps.currentGid()]);
    const runGid = deps.groupId(cfg.run_as_group);
    if (runGid !== null) own.add(runGid);
    if (!own.has(st.gid)) throw new ConfigError(key, `${file} is readable by group ${st.gid}, which is not the agent's group (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  let content: string;
  try {
    content = deps.readFile(file);
  } catch (e) {
    throw new ConfigError(key, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  // A trailing newline from `echo`/editors is not part of the secret.
  return checkSecret(key, content.replace(/\r?\n$/, ''));
}

function resolve(cfg: ConfigFile, path: string, env: ConfigEnv, deps: ConfigDeps): AgentConfig {
  let shared: Buffer | null = null;
  if (env.QUICKCMD_HMAC_SECRET !== undefined && env.QUICKCMD_HMAC_SECRET !== '') {
    shared = checkSecret('QUICKCMD_HMAC_SECRET', env.QUICKCMD_HMAC_SECRET);
  } else if (cfg.hmac_secret !== undefined && cfg.hmac_secret_file !== undefined) {
    throw new ConfigError('hmac_secret_file', 'set either hmac_secret or hmac_secret_file, not both');
  } else if (cfg.hmac_secret !== undefined) {
    shared = checkSecret('hmac_secret', cfg.hmac_secret);
  } else if (cfg.hmac_secret_file !== undefined) {
    shared = readSecretFile('hmac_secret_file', cfg.hmac_secret_file, cfg, deps);
  }

  const keys = new Map<string, ControllerKeys>();
  cfg.controllers.forEach((c, i) => {
    if (keys.has(c.id)) throw new ConfigError(`controllers.${i}.id`, `duplicate controller id ${JSON.stringify(c.id)}`);
    const secrets: Buffer[] = [];
    (c.secrets ?? []).forEach((s, j) => secrets.push(checkSecret(`controllers.${i}.secrets.${j}`, s)));
    (c.secret_files ?? []).forEach((f, j) => secrets.push(readSecretFile(`controllers.${i}.secret_files.${j}`, f, cfg, deps)));
    if (secrets.length === 0) throw new ConfigError(`controllers.${i}.secrets`, `controller ${JSON.stringify(c.id)} has no secrets or secret_files`);
    keys.set(c.id, { id: c.id, secrets, scopes: new Set(c.scopes) });
  });
  if (shared === null && keys.size === 0) throw new ConfigError('hmac_secret', 'no secret configured: set hmac_secret_file, hmac_secret or controllers');
  if (shared === null && cfg.allowed_controllers.length > 0) {
    throw new ConfigError('allowed_controllers', 'lists controllers for the shared secret, but no hmac_secret or hmac_secret_file is set');
  }

  checkFleetKeys(cfg, deps);
  // Without a listener (listen: false) there is no HTTPS and no certificate to load.
  if (!cfg.insecure_http && cfg.listen) {
    if (cfg.tls_cert_file === undefined) throw new ConfigError('tls_cert_file', 'required unless insecure_http is true');
    if (cfg.tls_key_file === undefined) throw new ConfigError('tls_key_file', 'required unless insecure_http is true');
  } else if (cfg.insecure_http && cfg.tls_client_ca_file !== undefined) {
    throw new ConfigError('tls_client_ca_file', 'mTLS needs TLS; it cannot be combined with insecure_http');
  }
  if (!cfg.allowed_images.includes(cfg.default_image)) throw new ConfigError('default_image', `${cfg.default_image} is not in allowed_images`);
  checkRuntimeKeys(cfg);

  checkSchedules(cfg.schedules, [...cfg.controllers.map((c, i) => [`controllers.${i}.id`, c.id] as const), ...cfg.allowed_controllers.map((id, i) => [`allowed_controllers.${i}`, id] as const)], Date.now());
  checkScheduledCommands(cfg);

  const maxCpu = cfg.max_cpu_limit ?? cfg.default_cpu_limit;
  const maxMem = cfg.max_memory_limit ?? cfg.default_memory_limit;
  const maxTimeout = cfg.max_timeout_seconds ?? cfg.default_timeout_seconds;
  if (maxCpu < cfg.default_cpu_limit) throw new ConfigError('max_cpu_limit', 'is below default_cpu_limit');
  if (maxMem < cfg.default_memory_limit) throw new ConfigError('max_memory_limit', 'is below default_memory_limit');
  if (maxTimeout < cfg.default_timeout_seconds) throw new ConfigError('max_timeout_seconds', 'is below default_timeout_seconds');
  checkCommandLimits(cfg.commands, { allowed_images: cfg.allowed_images, max_cpu_limit: maxCpu, max_memory_limit: maxMem, max_timeout_seconds: maxTimeout });

  const { hmac_secret: _s, hmac_secret_file: _f, controllers: _c, max_cpu_limit: _a, max_memory_limit: _b, max_timeout_seconds: _t, ...rest } = cfg;
  return Object.freeze({
    ...rest,
    max_cpu_limit: maxCpu,
    max_memory_limit: maxMem,
    max_timeout_seconds: maxTimeout,
    shared_secret: shared,
    controller_keys: keys,
    source_path: path,
  });
}

/** Each schedule must call a named command with valid parameters (SPEC §11, §13). */
function checkScheduledCommands(cfg: ConfigFile): void {
  cfg.schedules.forEach((s, i) => {
    try {
      scheduleCall(cfg, s);
    } catch (e) {
      if (e instanceof ScheduleCommandError) throw new ConfigError(`schedules.${i}.${e.key}`, e.message);
      throw e;
    }
  });
}
