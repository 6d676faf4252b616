/**
 * A CLI command's broker session (SPEC §10): where the broker is (--broker, --broker-ca,
 * --broker-creds; QUICKCMD_BROKER, QUICKCMD_BROKER_CA, QUICKCMD_BROKER_CREDS; `broker:`
 * in controller.yaml, most specific first), who this side is (controller id and secret,
 * resolved exactly as for HTTPS), one connection, clients per agent name, discovery.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { AGENT_NAME_PATTERN, DISCOVER_SUBJECT, type AgentPresence } from '../agent/broker/subjects.js';
import { BrokerAgentClient } from './broker-client.js';
import { connectBroker, type BrokerSettings } from './broker-link.js';
import { resolvePath, type ControllerConfig } from './controller-config.js';
import { SettingsError } from './controller-error.js';
import { locateControllerConfig, resolveTargets, type ConnectionFlags, type SettingsDeps } from './settings.js';

/** The broker flags. */
export interface BrokerFlags {
  readonly broker?: string;
  readonly brokerCa?: string;
  readonly brokerCreds?: string;
}

/** One online agent, as discovery answered. */
export interface OnlineAgent extends AgentPresence {
  /** Milliseconds after the question that the answer came. */
  readonly answeredMs: number;
}

/** Discovery collects answers for at most this long. */
export const DISCOVERY_WINDOW_MS = 2000;

/** Resolved broker settings plus the config file they came with; null when no broker is configured. */
export function brokerSettings(flags: BrokerFlags & ConnectionFlags, deps: SettingsDeps): { settings: BrokerSettings; cfg: ControllerConfig } | null {
  const { home, cwd, envVar, cfg, cfgPath, cfgDir } = locateControllerConfig(flags, deps);
  const envUrl = envVar('QUICKCMD_BROKER');
  const url = flags.broker ?? envUrl ?? cfg.broker?.url;
  if (url === undefined) return null;
  checkBrokerUrl(url, flags.broker !== undefined ? '--broker' : envUrl !== undefined ? 'QUICKCMD_BROKER' : `${cfgPath}: broker.url`);
  const pick = (flag: string | undefined, envKey: string, key: 'ca_file' | 'creds_file'): string | undefined => {
    if (flag !== undefined) return path.resolve(cwd, flag);
    const e = envVar(envKey);
    if (e !== undefined) return path.resolve(cwd, e);
    const f = cfg.broker?.[key];
    return f === undefined ? undefined : resolvePath(f, cfgDir, home);
  };
  const read = (what: string, p: string | undefined): Buffer | undefined => {
    if (p === undefined) return undefined;
    try {
      return (deps.readFile ?? ((x: string) => fs.readFileSync(x)))(p);
    } catch (e) {
      throw new SettingsError(`cannot read ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  };
  const ca = read('broker CA file', pick(flags.brokerCa, 'QUICKCMD_BROKER_CA', 'ca_file'));
  const creds = read('broker credentials file', pick(flags.brokerCreds, 'QUICKCMD_BROKER_CREDS', 'creds_file'));
  return { settings: { url, ca, creds, insecure: flags.insecure === true }, cfg };
}

/**
 * Refuse, before anything connects, a broker URL this client cannot speak: the Node NATS
 * client used here is TCP only, so `wss://` / `ws://` (NATS over WebSocket) are a usage
 * error naming where the URL came from (exit 2), not an unreachable broker.
 */
export function checkBrokerUrl(url: string, key: string): void {
  const scheme = url.includes('://') ? url.slice(0, url.indexOf(':')).toLowerCase() : 'tls';
  if (scheme === 'wss' || scheme === 'ws') throw new SettingsError(`${key}: ${scheme}:// is not supported by this controller yet (NATS over TCP only); use tls://host:port`);
  if (scheme !== 'tls' && scheme !== 'nats') throw new SettingsError(`${key}: ${JSON.stringify(url)} is not a broker URL; use tls://host:port`);
}

/** An open broker session. */
export class BrokerSession {
  private readonly clients: BrokerAgentClient[] = [];

  constructor(
    readonly nc: NatsConnection,
    readonly controllerId: string,
    private readonly secret: Buffer,
  ) {}

  /** A client for the agent `name` (closed with the session). */
  client(name: string): BrokerAgentClient {
    if (!AGENT_NAME_PATTERN.test(name)) throw new SettingsError(`agent ${JSON.stringify(name)}: through a broker, give the agent's name ([a-z0-9][a-z0-9-]{0,62})`);
    const c = new BrokerAgentClient(this.nc, name, { controllerId: this.controllerId, secret: this.secret });
    this.clients.push(c);
    return c;
  }

  /** Every online agent whose labels match `selector`, by name. */
  async discover(selector: Readonly<Record<string, string>> = {}): Promise<OnlineAgent[]> {
    const started = Date.now();
    const found = new Map<string, OnlineAgent>();
    let replies: AsyncIterable<{ data: Uint8Array }>;
    try {
      replies = await this.nc.requestMany(DISCOVER_SUBJECT, '', { strategy: 'stall', stall: 300, maxWait: DISCOVERY_WINDOW_MS });
    } catch {
      return [];
    }
    try {
      for await (const m of replies) {
        const a = parsePresence(m.data, Date.now() - started);
        if (a !== null && matches(a.labels, selector)) found.set(a.agent, a);
      }
    } catch {
      // No responders at all: nobody is online.
    }
    return [...found.values()].sort((x, y) => x.agent.localeCompare(y.agent));
  }

  /** Close every client and the connection. Idempotent. */
  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Connect, with the controller id and secret resolved as for HTTPS. */
export async function openBrokerSession(flags: BrokerFlags & ConnectionFlags, deps: SettingsDeps, settings: BrokerSettings): Promise<{ session: BrokerSession; warnings: string[] }> {
  // The identity rules are the HTTPS ones: one placeholder target gives id and secret.
  const r = resolveTargets({ ...flags, agent: 'https://broker.invalid', agents: undefined, group: undefined }, deps, { many: false });
  const t = r.targets[0];
  if (t === undefined) throw new SettingsError('no controller identity');
  const nc = await connectBroker(settings, t.controllerId);
  return { session: new BrokerSession(nc, t.controllerId, t.secret), warnings: r.warnings.filter((w) => !w.includes('broker.invalid')) };
}

/** Parse `k=v[,k=v]`. */
export function parseSelector(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([A-Za-z0-9._-]{1,63})=([A-Za-z0-9._-]{1,63})$/.exec(part);
    if (m === null) throw new SettingsError(`--selector ${JSON.stringify(text)}: use key=value[,key=value] (letters, digits, ".", "_", "-")`);
    out[m[1] as string] = m[2] as string;
  }
  if (Object.keys(out).length === 0) throw new SettingsError('--selector: no key=value given');
  return out;
}

function matches(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function parsePresence(data: Uint8Array, answeredMs: number): OnlineAgent | null {
  try {
    const r = JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
    const num = (k: string): number => (typeof r[k] === 'number' ? (r[k] as number) : 0);
    if (typeof r['agent'] !== 'string' || !AGENT_NAME_PATTERN.test(r['agent'])) return null;
    const labels: Record<string, string> = {};
    if (typeof r['labels'] === 'object' && r['labels'] !== null) for (const [k, v] of Object.entries(r['labels'] as Record<string, unknown>)) if (typeof v === 'string') labels[k] = v;
    return { agent: r['agent'], version: typeof r['version'] === 'string' ? r['version'] : '?', labels, running: num('running'), queued: num('queued'), max_concurrent_jobs: num('max_concurrent_jobs'), started_at: typeof r['started_at'] === 'string' ? r['started_at'] : '', answeredMs };
  } catch {
    return null;
  }
}
