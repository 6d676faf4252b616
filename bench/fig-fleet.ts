/**
 * Fleet (SPEC §10): one agent answering both transports, `true` submitted → final frame
 * through the broker against the same over HTTPS (WebSocket follow), alternating; then N
 * agents in this one process (each its own database, identity and broker connection,
 * sharing the engine) and how long discovery takes to list them all; the RSS the extra
 * agents add, per agent, and the broker's own RSS with them connected against the same
 * broker idle; the real CLI's `run --selector` of `true` on all N against N raw dockerode
 * runs at the same concurrency (fleet-selector.ts); and a broker kill and restart with
 * jobs running (fleet-restart.ts). Bounded: N is 200 (50 with --quick).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { AgentClient } from '../internal/controller/client.js';
import { BrokerSession } from '../internal/controller/broker-session.js';
import { brokerClient, controllerConnection, startBrokerAgent, waitForAgents } from '../test/helpers/fleet.js';
import { startNats } from '../test/helpers/nats.js';
import type { TestAgent } from '../test/helpers/agent.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { brokerRestart } from './fleet-restart.js';
import { measureSelector, pairRatio } from './fleet-selector.js';
import { alternate, median, percentile } from './stats.js';

/** Resident memory of process `pid` in MiB (from /proc). */
function rssMiB(pid: number | null): number {
  if (pid === null) return Number.NaN;
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

/** Run the fleet section. */
export async function fleetSection(ctx: BenchContext): Promise<Figure[]> {
  const n = ctx.n(200, 50);
  const names = Array.from({ length: n }, (_, i) => `f${i}`);
  const nats = await startNats({ agents: ['both', ...names], controllers: ['controller-1'] });
  const stops: (() => Promise<void>)[] = [];
  const brokerIdleMiB = rssMiB(nats.pid());
  try {
    process.env['QUICKCMD_SANDBOX_IMAGE'] ??= ctx.image;
    const both = await startBrokerAgent(nats, 'both', { max_concurrent_jobs: 4, default_image: ctx.image, allowed_images: [ctx.image] });
    stops.push(() => both.stop());
    const nc = await controllerConnection(nats);
    await waitForAgents(nc, ['both']);
    const viaBroker = brokerClient(nc, 'both', both);
    const viaHttps = new AgentClient({ name: 'both', url: new URL(both.url), controllerId: both.controllerId, secret: Buffer.from(both.secret), ca: fs.readFileSync(both.pki.caCert), insecure: false });
    const brokerMs: number[] = [];
    const httpsMs: number[] = [];
    const one = (c: AgentClient, into: number[], record: boolean) => async (): Promise<void> => {
      const t0 = performance.now();
      const { jobId } = await c.submit({ command: 'true', image: ctx.image, jobId: `bench-${crypto.randomUUID()}` });
      const fin = await c.follow(jobId, { onFrame: () => undefined });
      if (fin.exit_code !== 0) throw new Error(`true exited ${fin.exit_code}`);
      if (record) into.push(performance.now() - t0);
    };
    const rounds = ctx.n(30, 10);
    await one(viaBroker, [], false)();
    await one(viaHttps, [], false)();
    for (let i = 0; i < rounds; i++) await alternate(i, one(viaBroker, brokerMs, true), one(viaHttps, httpsMs, true));
    viaHttps.close();
    ctx.log(`fleet: broker ${median(brokerMs).toFixed(1)} ms, https ${median(httpsMs).toFixed(1)} ms (median of ${rounds})`);

    const rssBefore = process.memoryUsage().rss;
    const fleet: TestAgent[] = [];
    for (let i = 0; i < names.length; i += 20) {
      const batch = await Promise.all(names.slice(i, i + 20).map((name) => startBrokerAgent(nats, name, { listen: false, labels: { fleet: 'bench' }, heartbeat_seconds: 15, default_image: ctx.image, allowed_images: [ctx.image] }, { dir: fs.mkdtempSync(`${both.dir}-${name}-`), pki: both.pki, secret: both.secret })));
      for (const a of batch) stops.push(() => a.stop());
      fleet.push(...batch);
    }
    await waitForAgents(nc, names, 60_000);
    const rssPerAgent = (process.memoryUsage().rss - rssBefore) / names.length / (1024 * 1024);
    const brokerLoadedMiB = rssMiB(nats.pid());
    ctx.log(`fleet: nats-server RSS ${brokerIdleMiB.toFixed(1)} MiB idle, ${brokerLoadedMiB.toFixed(1)} MiB with ${n + 1} agents and the controller connected`);
    const session = new BrokerSession(nc, both.controllerId, Buffer.from(both.secret));
    const t0 = performance.now();
    const listed = await session.discover({ fleet: 'bench' });
    const discoverMs = performance.now() - t0;
    ctx.log(`fleet: ${listed.length}/${n} agents listed in ${discoverMs.toFixed(0)} ms; +${rssPerAgent.toFixed(1)} MiB RSS per agent`);

    const parallel = 10;
    const sel = await measureSelector(ctx, {
      brokerUrl: nats.url,
      brokerCa: nats.caCert,
      brokerCreds: nats.controllers.get('controller-1')?.seedFile ?? '',
      controllerId: both.controllerId,
      secretFile: both.secretFile,
      agentIds: new Set(fleet.map((a) => a.agent.agentId)),
      agents: n,
    }, ctx.n(3, 1), parallel);
    const selRatio = pairRatio(sel);
    ctx.log(`fleet: run --selector ${median(sel.cliMs).toFixed(0)} ms vs raw ${median(sel.rawMs).toFixed(0)} ms (pair ratio p50 ${selRatio.toFixed(2)})`);

    const jobs = ctx.n(20, 10);
    const step = Math.max(1, Math.floor(n / jobs));
    const clients = names.filter((_, i) => i % step === 0).slice(0, jobs).map((name) => brokerClient(nc, name, both));
    const restart = await brokerRestart(nats, () => controllerConnection(nats), names, clients, ctx.image, (l) => ctx.log(l));
    ctx.log(`fleet: restart: ${restart.finalFrames}/${restart.jobs} jobs ended with their final frame and all output, ${restart.finalByStatus} by status only, ${restart.lost} lost`);
    for (const c of clients) c.close();
    await nc.close();
    const ratio = ratioOf(median(brokerMs), median(httpsMs));
    const restartMet = restart.agentsBack === n && restart.rediscoveredMs <= 30_000 && restart.lost === 0;
    return [
      { section: 'fleet', figure: 'true: submit → final frame, broker vs HTTPS', unit: 'ms', agent: median(brokerMs), raw: median(httpsMs), ratio, target: 'ratio ≤ 1.05', met: ratio === null ? null : ratio <= 1.05, details: { rounds } },
      { section: 'fleet', figure: `discovery lists ${n} agents`, unit: 'ms', agent: discoverMs, raw: null, ratio: null, target: `all ${n} within 2000 ms`, met: listed.length === n && discoverMs <= 2000, details: { listed: listed.length } },
      { section: 'fleet', figure: 'RSS added per in-process agent (whole agent: an upper bound of its broker connection)', unit: 'MiB', agent: rssPerAgent, raw: null, ratio: null, target: '≤ 10 MiB (broker connection)', met: rssPerAgent <= 10, details: { agents: n } },
      { section: 'fleet', figure: `nats-server RSS with ${n + 1} agents + 1 controller connected; raw: the same server idle`, unit: 'MiB', agent: brokerLoadedMiB, raw: brokerIdleMiB, ratio: ratioOf(brokerLoadedMiB, brokerIdleMiB), target: '(no target; per connection in --json)', met: null, details: { connections: n + 2, added_kib_per_connection: ((brokerLoadedMiB - brokerIdleMiB) * 1024) / (n + 2) } },
      { section: 'fleet', figure: `\`quickcmd run --selector\` of true on ${n} agents vs ${n} raw dockerode runs, both ${parallel} at a time`, unit: 'ms', agent: median(sel.cliMs), raw: median(sel.rawMs), ratio: selRatio, target: 'ratio ≤ 1.25', met: Number.isFinite(selRatio) && selRatio <= 1.25, details: { rounds: sel.cliMs.length, parallel, cli_ms: sel.cliMs, raw_ms: sel.rawMs, cli_until_all_removed_ms: sel.cliAllRemovedMs, cli_until_all_removed_p50_ms: percentile(sel.cliAllRemovedMs, 50), ratio_of_medians: ratioOf(median(sel.cliMs), median(sel.rawMs)) } },
      { section: 'fleet', figure: `broker killed and restarted: kill → all ${n} agents back in discovery; ${restart.jobs} running jobs`, unit: 'ms', agent: restart.rediscoveredMs, raw: null, ratio: null, target: `all ${n} within 30000 ms, 0 jobs lost`, met: restartMet, details: { ...restart } },
    ];
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await nats.stop();
  }
}
