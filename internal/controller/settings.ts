/**
 * Where the connection settings come from. For each setting the most specific source
 * wins: a command-line flag, then the agent's own entry in the controller config file,
 * then the environment (QUICKCMD_AGENT, QUICKCMD_CONTROLLER_ID, QUICKCMD_SECRET_FILE,
 * QUICKCMD_CA_FILE), then the file's top-level defaults. Agents are named in the file
 * (`agents:`, `groups:`) or given as URLs; a URL without a port means port 8443.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultConfigPath, loadControllerConfig, resolvePath, type AgentEntry, type ControllerConfig } from './controller-config.js';
import { SettingsError } from './controller-error.js';
import type { AgentTarget } from './transport.js';

/** Keys of the config file that name files. */
type PathKey = 'secret_file' | 'ca_file' | 'cert_file' | 'key_file';

/** Port of an agent URL that names none. */
export const DEFAULT_AGENT_PORT = 8443;

/** The connection flags every agent-facing subcommand takes. */
export interface ConnectionFlags {
  readonly agent?: string;
  readonly agents?: string;
  readonly group?: string;
  readonly controllerId?: string;
  readonly secretFile?: string;
  readonly caFile?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecure?: boolean;
  readonly config?: string;
}

/** The outside world settings are read from. */
export interface SettingsDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly home?: string;
  readonly cwd?: string;
  readonly readFile?: (p: string) => Buffer;
  readonly stat?: (p: string) => { mode: number };
}

/** Resolved agents plus warnings to print (insecure TLS, plain HTTP, readable secret). */
export interface ResolvedTargets {
  readonly targets: AgentTarget[];
  readonly warnings: string[];
}

/** Parse `https://host:port`, `host:port` or `host` into a base URL (port 8443 unless given). */
export function parseAgentUrl(raw: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new SettingsError(`agent ${JSON.stringify(raw)} is not a URL or host name`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SettingsError(`agent ${JSON.stringify(raw)}: use https:// (or http:// for an agent with insecure_http)`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new SettingsError(`agent ${JSON.stringify(raw)}: give only scheme, host and port`);
  }
  // URL drops a port equal to the scheme's default; only a port absent from the text means 8443.
  const authority = withScheme.replace(/^[^:]+:\/\//, '').split('/')[0] ?? '';
  if (url.port === '' && !/:\d+$/.test(authority)) url.port = String(DEFAULT_AGENT_PORT);
  return new URL(url.origin);
}

function looksLikeHost(s: string): boolean {
  return s.includes('://') || s.includes(':') || s.includes('.') || s === 'localhost';
}

/** The agent names or URLs selected by the flags, environment or the file's default_agent. */
function selection(flags: ConnectionFlags, env: SettingsDeps['env'], cfg: ControllerConfig, cfgPath: string, many: boolean): string[] {
  const list = (flags.agents ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (flags.group !== undefined) {
    const members = Object.hasOwn(cfg.groups, flags.group) ? cfg.groups[flags.group] : undefined;
    if (members === undefined) throw new SettingsError(`--group ${flags.group}: no such group in ${cfgPath}`);
    list.push(...members);
  }
  if (flags.agents !== undefined || flags.group !== undefined) {
    if (!many) throw new SettingsError('--agents and --group work with `quickcmd run` only; use --agent here');
    if (flags.agent !== undefined) throw new SettingsError('use either --agent or --agents/--group');
    if (list.length === 0) throw new SettingsError('--agents: no agent named');
    return [...new Set(list)];
  }
  const one = flags.agent ?? (env['QUICKCMD_AGENT'] !== '' ? env['QUICKCMD_AGENT'] : undefined) ?? cfg.default_agent;
  if (one === undefined) throw new SettingsError(`no agent: pass --agent URL, set QUICKCMD_AGENT, or set default_agent in ${cfgPath}`);
  return [one];
}

/** Resolve every selected agent into a ready-to-use target. Throws SettingsError. */
/** The controller config a command uses (--config, QUICKCMD_CONTROLLER_CONFIG, or the default), loaded, with where it was found. */
export function locateControllerConfig(flags: Pick<ConnectionFlags, 'config'>, deps: SettingsDeps): { env: SettingsDeps['env']; home: string; cwd: string; envVar: (k: string) => string | undefined; cfg: ControllerConfig; cfgPath: string; cfgDir: string } {
  const env = deps.env;
  const home = deps.home ?? os.homedir();
  const cwd = deps.cwd ?? process.cwd();
  const envVar = (k: string): string | undefined => (env[k] === '' ? undefined : env[k]);
  const explicitCfg = flags.config ?? envVar('QUICKCMD_CONTROLLER_CONFIG');
  const cfgPath = explicitCfg !== undefined ? path.resolve(cwd, explicitCfg) : defaultConfigPath(env, home);
  return { env, home, cwd, envVar, cfg: loadControllerConfig(cfgPath, explicitCfg !== undefined), cfgPath, cfgDir: path.dirname(cfgPath) };
}

export function resolveTargets(flags: ConnectionFlags, deps: SettingsDeps, opts: { many: boolean }): ResolvedTargets {
  const { env, home, cwd, envVar, cfg, cfgPath, cfgDir } = locateControllerConfig(flags, deps);
  const readFile = deps.readFile ?? ((p: string) => fs.readFileSync(p));
  const stat = deps.stat ?? ((p: string) => fs.statSync(p));
  const cache = new Map<string, Buffer>();
  const warnings: string[] = [];
  const read = (what: string, p: string): Buffer => {
    const hit = cache.get(p);
    if (hit !== undefined) return hit;
    let b: Buffer;
    try {
      b = readFile(p);
    } catch (e) {
      throw new SettingsError(`cannot read ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    cache.set(p, b);
    return b;
  };

  const targets = selection(flags, env, cfg, cfgPath, opts.many).map((sel): AgentTarget => {
    const entry: AgentEntry | undefined = Object.hasOwn(cfg.agents, sel) ? cfg.agents[sel] : undefined;
    if (entry === undefined && !looksLikeHost(sel)) {
      throw new SettingsError(`no agent named ${JSON.stringify(sel)} in ${cfgPath}; give a URL such as https://${sel}:${DEFAULT_AGENT_PORT}`);
    }
    const url = parseAgentUrl(entry?.url ?? sel);
    const name = entry !== undefined ? sel : url.host;
    // Most specific first: flag (cwd-relative), agent entry, environment, file default.
    const pick = (flag: string | undefined, key: PathKey, envKey?: string): string | undefined => {
      if (flag !== undefined) return path.resolve(cwd, flag);
      const fromEntry = entry?.[key];
      if (fromEntry !== undefined) return resolvePath(fromEntry, cfgDir, home);
      const fromEnv = envKey === undefined ? undefined : envVar(envKey);
      if (fromEnv !== undefined) return path.resolve(cwd, fromEnv);
      const fromFile = cfg[key];
      return fromFile === undefined ? undefined : resolvePath(fromFile, cfgDir, home);
    };
    const controllerId = flags.controllerId ?? entry?.controller_id ?? envVar('QUICKCMD_CONTROLLER_ID') ?? cfg.controller_id;
    if (controllerId === undefined) throw new SettingsError('no controller id: pass --controller-id, set QUICKCMD_CONTROLLER_ID, or set controller_id in the controller config');
    const secretFile = pick(flags.secretFile, 'secret_file', 'QUICKCMD_SECRET_FILE');
    if (secretFile === undefined) throw new SettingsError('no secret: pass --secret-file, set QUICKCMD_SECRET_FILE, or set secret_file in the controller config');
    // A trailing newline from `echo` or an editor is not part of the secret (as on the agent).
    const secret = Buffer.from(read('secret file', secretFile).toString('utf8').replace(/\r?\n$/, ''), 'utf8');
    if (secret.length === 0) throw new SettingsError(`secret file ${secretFile} is empty`);
    try {
      if ((stat(secretFile).mode & 0o004) !== 0) warnings.push(`warning: secret file ${secretFile} is readable by every user; chmod 600 it`);
    } catch {
      // Already read above; a stat failure now changes nothing.
    }
    const caFile = pick(flags.caFile, 'ca_file', 'QUICKCMD_CA_FILE');
    const certFile = pick(flags.cert, 'cert_file');
    const keyFile = pick(flags.key, 'key_file');
    if ((certFile === undefined) !== (keyFile === undefined)) throw new SettingsError('a client certificate needs both --cert and --key');
    const insecure = flags.insecure === true;
    if (url.protocol === 'http:') warnings.push(`warning: ${name}: plain HTTP; requests are signed but not encrypted`);
    else if (insecure) warnings.push(`warning: --insecure: the TLS certificate of ${name} is NOT verified; anyone on the network path can impersonate the agent`);
    return {
      name,
      url,
      controllerId,
      secret,
      ca: caFile === undefined ? undefined : read('CA file', caFile),
      cert: certFile === undefined ? undefined : read('client certificate', certFile),
      key: keyFile === undefined ? undefined : read('client key', keyFile),
      insecure,
    };
  });
  return { targets, warnings: [...new Set(warnings)] };
}
