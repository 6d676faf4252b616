/**
 * Fleet (SPEC §10): one agent answering both transports, `true` submitted → final frame
 * through the broker against the same over HTTPS (WebSocket follow), alternating; then N
 * agents in this one process (each its own database, identity and broker connection,
 * sharing the engine) and how long discovery takes to list them all; and the RSS the
 * extra agents add, per agent. Bounded: N is 200 (50 with --quick).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { AgentClient } from '../internal/controller/client.js';
import { BrokerSession } from '../internal/controller/broker-session.js';
import { brokerClient, controllerConnection, startBrokerAgent, waitForAgents } from '../test/helpers/fleet.js';
import { startNats } from '../test/helpers/nats.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { alternate, median } from './stats.js';

/** Run the fleet section. */
export async function fleetSection(ctx: BenchContext): Promise<Figure[]> {
  const n = ctx.n(200, 50);
  const names = Array.from({ length: n }, (_, i) => `f${i}`);
  const nats = await startNats({ agents: ['both', ...names], controllers: ['controller-1'] });
  const stops: (() => Promise<void>)[] = [];
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
    for (let i = 0; i < names.length; i += 20) {
      const batch = await Promise.all(names.slice(i, i + 20).map((name) => startBrokerAgent(nats, name, { listen: false, labels: { fleet: 'bench' }, heartbeat_seconds: 15, default_image: ctx.image, allowed_images: [ctx.image] }, { dir: fs.mkdtempSync(`${both.dir}-${name}-`), pki: both.pki, secret: both.secret })));
      for (const a of batch) stops.push(() => a.stop());
    }
    await waitForAgents(nc, names, 60_000);
    const rssPerAgent = (process.memoryUsage().rss - rssBefore) / names.length / (1024 * 1024);
    const session = new BrokerSession(nc, both.controllerId, Buffer.from(both.secret));
    const t0 = performance.now();
    const listed = await session.discover({ fleet: 'bench' });
    const discoverMs = performance.now() - t0;
    ctx.log(`fleet: ${listed.length}/${n} agents listed in ${discoverMs.toFixed(0)} ms; +${rssPerAgent.toFixed(1)} MiB RSS per agent`);
    await nc.close();
    const ratio = ratioOf(median(brokerMs), median(httpsMs));
    return [
      { section: 'fleet', figure: 'true: submit → final frame, broker vs HTTPS', unit: 'ms', agent: median(brokerMs), raw: median(httpsMs), ratio, target: 'ratio ≤ 1.05', met: ratio === null ? null : ratio <= 1.05, details: { rounds } },
      { section: 'fleet', figure: `discovery lists ${n} agents`, unit: 'ms', agent: discoverMs, raw: null, ratio: null, target: `all ${n} within 2000 ms`, met: listed.length === n && discoverMs <= 2000, details: { listed: listed.length } },
      { section: 'fleet', figure: 'RSS added per in-process agent (agent + broker connection)', unit: 'MiB', agent: rssPerAgent, raw: null, ratio: null, target: '≤ 10 MiB (broker connection alone)', met: null, details: { agents: n } },
    ];
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await nats.stop();
  }
}
