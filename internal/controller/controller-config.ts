/**
 * The controller config file (`~/.config/quickcmd/controller.yaml`): defaults for every
 * agent, named agents, and groups of agents. Strict like the agent's own config: an
 * unknown key is an error naming it. `insecure` is deliberately not a key: skipping TLS
 * verification has to be spelled out on the command line each time.
 *
 *   controller_id: controller-1
 *   secret_file: ~/.config/quickcmd/secret
 *   ca_file: ~/.config/quickcmd/ca.crt
 *   default_agent: web1
 *   agents:
 *     web1: { url: https://web1.example.com:8443 }
 *     db1:  { url: db1.example.com, ca_file: /etc/quickcmd/db-ca.crt }
 *   groups:
 *     web: [web1]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { SettingsError } from './controller-error.js';

// zod/mini (same checks and messages as zod, a fraction of the code) because every CLI
// command that talks to an agent loads this file: start-up time is what the user feels.
z.config(en());

const AGENT_NAME = /^[A-Za-z0-9._-]+$/;
const file = z.string().check(z.minLength(1));

/** Connection keys allowed both at the top level (defaults) and per agent. */
const connectionKeys = {
  /** Controller id to sign as. */
  controller_id: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  /** File holding the shared secret (a trailing newline is ignored). */
  secret_file: z.optional(file),
  /** PEM CA bundle (or the agent's self-signed certificate) to verify the agent with. */
  ca_file: z.optional(file),
  /** PEM client certificate for mTLS. */
  cert_file: z.optional(file),
  /** PEM client key for mTLS. */
  key_file: z.optional(file),
};

/** One named agent. */
const agentSchema = z.strictObject({
  /** https://host:port, host:port or host (port 8443). */
  url: z.string().check(z.minLength(1)),
  ...connectionKeys,
});

/** The NATS broker agents are reached through (SPEC §10). */
const brokerSchema = z.strictObject({
  /** tls://host:port of the broker. */
  url: z.string().check(z.minLength(1)),
  /** PEM CA that verifies the broker's certificate. */
  ca_file: z.optional(file),
  /** This controller's nkey seed or .creds file (from `quickcmd broker add-controller ID`). */
  creds_file: z.optional(file),
});

/** The whole file. */
const controllerConfigSchema = z.strictObject({
  ...connectionKeys,
  /** With a broker, --agent NAME, --agents, --selector and `quickcmd agents` go through it. */
  broker: z.optional(brokerSchema),
  /** Agent used when neither --agent nor QUICKCMD_AGENT is given. */
  default_agent: z.optional(z.string().check(z.minLength(1))),
  /** Named agents. */
  agents: z._default(z.record(z.string().check(z.regex(AGENT_NAME, 'agent names may contain letters, digits, ".", "_" and "-"')), agentSchema), {}),
  /** Named groups of agents. */
  groups: z._default(z.record(z.string().check(z.regex(AGENT_NAME)), z.array(z.string().check(z.minLength(1))).check(z.minLength(1))), {}),
});

/** A validated controller config file. */
export type ControllerConfig = z.infer<typeof controllerConfigSchema>;
/** One agent entry of the file. */
export type AgentEntry = z.infer<typeof agentSchema>;

/** An empty config (no file). */
export const EMPTY_CONFIG: ControllerConfig = { agents: {}, groups: {} };

/** Where the config file lives unless --config or QUICKCMD_CONTROLLER_CONFIG says otherwise. */
export function defaultConfigPath(env: Readonly<Record<string, string | undefined>>, home: string = os.homedir()): string {
  const xdg = env['XDG_CONFIG_HOME'];
  return path.join(xdg !== undefined && xdg !== '' ? xdg : path.join(home, '.config'), 'quickcmd', 'controller.yaml');
}

/** `~/x` → home/x; relative paths are taken from the config file's directory. */
export function resolvePath(p: string, baseDir: string, home: string = os.homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return path.resolve(baseDir, p);
}

/** Parse config text; throws SettingsError naming the key. */
export function parseControllerConfig(text: string, where: string): ControllerConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true, prettyErrors: false });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw new SettingsError(`${where}: not valid YAML: ${msg}`);
  }
  if (raw === null || raw === undefined) return EMPTY_CONFIG;
  const parsed = controllerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const base = issue?.path.map(String).join('.') ?? '';
    if (issue?.code === 'unrecognized_keys') {
      const key = base === '' ? String(issue.keys[0]) : `${base}.${String(issue.keys[0])}`;
      throw new SettingsError(`${where}: ${key}: unknown key; check its spelling`);
    }
    throw new SettingsError(`${where}: ${base === '' ? '(root)' : base}: ${issue?.message ?? 'invalid'}`);
  }
  const cfg = parsed.data;
  for (const [group, members] of Object.entries(cfg.groups)) {
    for (const m of members) {
      if (!Object.hasOwn(cfg.agents, m)) throw new SettingsError(`${where}: groups.${group}: no agent named ${JSON.stringify(m)} under agents`);
    }
  }
  if (cfg.default_agent !== undefined && !Object.hasOwn(cfg.agents, cfg.default_agent) && !cfg.default_agent.includes(':') && !cfg.default_agent.includes('.')) {
    throw new SettingsError(`${where}: default_agent: no agent named ${JSON.stringify(cfg.default_agent)} under agents`);
  }
  return cfg;
}

/** Load the file; a missing default file is an empty config, a missing explicit one an error. */
export function loadControllerConfig(file: string, explicit: boolean): ControllerConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return EMPTY_CONFIG;
    throw new SettingsError(`cannot read controller config ${file}: ${code ?? String(e)}`);
  }
  return parseControllerConfig(text, file);
}
