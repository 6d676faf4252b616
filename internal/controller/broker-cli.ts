/**
 * The CLI over the broker (SPEC §10): `quickcmd agents` (who is online, by label), and
 * `run` / `job …` with --agent NAME, --agents a,b or --selector k=v through the broker.
 * Running goes through the same runSingleOn / runFanOutOn as HTTPS: the same live
 * prefixed output, progress, summary, --parallel, --max-failures and exit status.
 */
import { ControllerError, SettingsError } from './controller-error.js';
import type { ControllerConfig } from './controller-config.js';
import { parseSelector, type BrokerSession, type OnlineAgent } from './broker-session.js';
import type { BrokerAgentClient } from './broker-client.js';
import type { JobClient } from './job-client.js';
import type { RunSpec } from './job-request.js';
import { formatTable } from './render.js';
import { runFanOutOn, runSingleOn, type ControllerIo, type FanOutFlags, type RunContext } from './run-cli.js';
import type { ConnectionFlags } from './settings.js';

/** `quickcmd agents [--selector k=v] [--json]`. */
export async function listAgents(session: BrokerSession, selector: string | undefined, json: boolean, io: ControllerIo): Promise<number> {
  const found = await session.discover(selector === undefined ? {} : parseSelector(selector));
  if (json) {
    io.stdout.write(`${JSON.stringify(found.map(({ answeredMs: _a, ...rest }) => rest))}\n`);
    return 0;
  }
  const rows = [['NAME', 'LABELS', 'VERSION', 'RUNNING', 'QUEUED', 'LAST SEEN']];
  for (const a of found) {
    const labels = Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(',');
    rows.push([a.agent, labels === '' ? '-' : labels, a.version, `${a.running}/${a.max_concurrent_jobs}`, String(a.queued), `${(a.answeredMs / 1000).toFixed(1)}s ago`]);
  }
  io.stdout.write(found.length === 0 ? 'no agents online\n' : formatTable(rows));
  return 0;
}

/** The agent names a command addresses through the broker. */
export async function brokerAgentNames(session: BrokerSession, flags: ConnectionFlags & { selector?: string }, cfg: ControllerConfig, env: Readonly<Record<string, string | undefined>>): Promise<{ names: string[]; many: boolean }> {
  if (flags.selector !== undefined) {
    if (flags.agents !== undefined || flags.group !== undefined || flags.agent !== undefined) throw new SettingsError('use --selector alone, without --agent/--agents/--group');
    const found: OnlineAgent[] = await session.discover(parseSelector(flags.selector));
    if (found.length === 0) throw new ControllerError('broker', 'AGENT_OFFLINE', `no online agent matches --selector ${flags.selector}`);
    return { names: found.map((a) => a.agent), many: true };
  }
  const list = (flags.agents ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (flags.group !== undefined) {
    const members = Object.hasOwn(cfg.groups, flags.group) ? cfg.groups[flags.group] : undefined;
    if (members === undefined) throw new SettingsError(`--group ${flags.group}: no such group in the controller config`);
    list.push(...members);
  }
  if (flags.agents !== undefined || flags.group !== undefined) {
    if (flags.agent !== undefined) throw new SettingsError('use either --agent or --agents/--group');
    if (list.length === 0) throw new SettingsError('--agents: no agent named');
    return { names: [...new Set(list)], many: true };
  }
  const one = flags.agent ?? (env['QUICKCMD_AGENT'] !== '' ? env['QUICKCMD_AGENT'] : undefined) ?? cfg.default_agent;
  if (one === undefined) throw new SettingsError('no agent: pass --agent NAME (the agent_name of an agent on the broker), or --selector k=v');
  return { names: [one], many: false };
}

/** `quickcmd run` through the broker. */
export async function runViaBroker(session: BrokerSession, names: readonly string[], many: boolean, spec: RunSpec, ctx: RunContext, flags: FanOutFlags, wrap?: (c: BrokerAgentClient) => JobClient): Promise<number> {
  const clients = names.map((n) => (wrap === undefined ? session.client(n) : wrap(session.client(n))));
  if (!many) return runSingleOn(clients[0] as (typeof clients)[number], spec, ctx, flags.json);
  return runFanOutOn(clients, spec, ctx, flags);
}
