/**
 * Figure 5, footprint: time from spawn to a healthy /health, RSS when idle, after 1,000
 * jobs (and after the first 100, to tell warm-up from growth), and with 100 idle
 * WebSocket followers on one quiet job. The baseline is a bare Node HTTPS server
 * (bare-server.ts): Node's own startup and RSS floor on this machine.
 */
import { agentBinary, type BenchAgent } from './agent-process.js';
import { BenchClient } from './bench-client.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { siblingScript } from './fig-door.js';
import { median, pause } from './stats.js';

const MIB = 1024 * 1024;
const SETTLE_MS = 3000;
/**
 * V8's young generation grows to 3 × 16 MiB semi-spaces under load and stays there; this
 * flag caps it. Measured beside the default as a proposal for the daemon's launcher.
 */
const SMALL_YOUNG_GEN = '--max-semi-space-size=1';

/** Run `count` `true` jobs with `inFlight` submitted-and-followed at a time. */
async function runJobs(client: BenchClient, count: number, inFlight: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const { jobId } = await client.submit('true');
      const f = await client.follow(jobId);
      if (f.status !== 'completed') throw new Error(`footprint job ended ${f.status}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

/** Run the footprint section. */
export async function footprintSection(ctx: BenchContext): Promise<Figure[]> {
  const starts: number[] = [];
  const bareStarts: number[] = [];
  const startCpu: number[] = [];
  const bareStartCpu: number[] = [];
  const bareRss: number[] = [];
  for (let i = 0; i < ctx.n(5, 2); i++) {
    const bare = await ctx.startAgent('bare-footprint', {}, siblingScript('bare-server'));
    bareStarts.push(bare.startupMs);
    bareStartCpu.push(bare.startupCpuMs);
    await pause(SETTLE_MS / 3);
    bareRss.push(bare.rss());
    await ctx.stopAgent(bare);
    const a = await ctx.startAgent('startup', { max_concurrent_jobs: 4 });
    starts.push(a.startupMs);
    startCpu.push(a.startupCpuMs);
    await ctx.stopAgent(a);
  }
  const jobs = ctx.n(1000, 300);
  let agent: BenchAgent | null = null;
  let idle = 0;
  let afterWarm = 0;
  let afterJobs = 0;
  let followers = 0;
  try {
    agent = await ctx.startAgent('footprint', { max_concurrent_jobs: 4 });
    const client = new BenchClient(agent, 16);
    await pause(SETTLE_MS);
    idle = agent.rss();
    ctx.log(`footprint: idle RSS ${(idle / MIB).toFixed(1)} MiB; running ${jobs} jobs`);
    await runJobs(client, 100, 8);
    await pause(SETTLE_MS);
    afterWarm = agent.rss();
    await runJobs(client, jobs - 100, 8);
    await pause(SETTLE_MS);
    afterJobs = agent.rss();
    ctx.log(`footprint: RSS after 100 jobs ${(afterWarm / MIB).toFixed(1)} MiB, after ${jobs} ${(afterJobs / MIB).toFixed(1)} MiB`);
    const { jobId } = await client.submit('sleep 120');
    let open = 0;
    const follows = Array.from({ length: 100 }, () => client.follow(jobId, { onOpen: () => open++ }).catch(() => null));
    const deadline = performance.now() + 30_000;
    while (open < 100 && performance.now() < deadline) await pause(20);
    await pause(SETTLE_MS);
    followers = agent.rss();
    ctx.log(`footprint: RSS with ${open} idle followers ${(followers / MIB).toFixed(1)} MiB`);
    await client.cancel(jobId);
    await Promise.all(follows);
    client.close();
  } finally {
    if (agent !== null) await ctx.stopAgent(agent);
  }
  // The same daemon launched with a capped young generation (context rows).
  const smallJobs = ctx.n(300, 150);
  let small = { idle: 0, after: 0 };
  const s = await ctx.startAgent('footprint-small-young', { max_concurrent_jobs: 4 }, [SMALL_YOUNG_GEN, agentBinary()]);
  try {
    const client = new BenchClient(s, 16);
    await pause(SETTLE_MS);
    const sIdle = s.rss();
    await runJobs(client, smallJobs, 8);
    await pause(SETTLE_MS);
    small = { idle: sIdle, after: s.rss() };
    client.close();
  } finally {
    await ctx.stopAgent(s);
  }
  ctx.log(`footprint with ${SMALL_YOUNG_GEN}: idle ${(small.idle / MIB).toFixed(1)} MiB, after ${smallJobs} jobs ${(small.after / MIB).toFixed(1)} MiB`);
  const startup = median(starts);
  const bareStartup = median(bareStarts);
  const bareIdle = median(bareRss);
  const growth = (afterJobs - idle) / idle;
  const leak = (afterJobs - afterWarm) / afterWarm;
  return [
    { section: 'footprint', figure: 'startup: spawn → healthy (p50)', unit: 'ms', agent: startup, raw: bareStartup, ratio: ratioOf(startup, bareStartup), target: '≤ 700 ms', met: startup <= 700, details: { agent_samples: starts, bare_samples: bareStarts } },
    { section: 'footprint', figure: 'startup CPU: spawn → healthy (p50, user + system)', unit: 'ms', agent: median(startCpu), raw: median(bareStartCpu), ratio: ratioOf(median(startCpu), median(bareStartCpu)), target: '(context: load-independent)', met: null, details: { agent_samples: startCpu, bare_samples: bareStartCpu } },
    { section: 'footprint', figure: 'RSS idle', unit: 'MiB', agent: idle / MIB, raw: bareIdle / MIB, ratio: ratioOf(idle, bareIdle), target: '≤ 80 MiB', met: idle <= 80 * MIB },
    { section: 'footprint', figure: `RSS after ${jobs} jobs (growth vs idle)`, unit: 'MiB', agent: afterJobs / MIB, raw: null, ratio: null, target: 'growth ≤ 10%', met: growth <= 0.1, details: { growth_vs_idle: growth, rss_after_100_jobs_mib: afterWarm / MIB, growth_after_first_100: leak, jobs } },
    { section: 'footprint', figure: `RSS growth from job 100 to job ${jobs}`, unit: '%', agent: leak * 100, raw: null, ratio: null, target: '(context: leak check)', met: null },
    { section: 'footprint', figure: 'RSS with 100 idle followers', unit: 'MiB', agent: followers / MIB, raw: null, ratio: null, target: '(reported)', met: null },
    { section: 'footprint', figure: `RSS idle, node ${SMALL_YOUNG_GEN}`, unit: 'MiB', agent: small.idle / MIB, raw: bareIdle / MIB, ratio: ratioOf(small.idle, bareIdle), target: '(context: ≤ 80 MiB)', met: null },
    { section: 'footprint', figure: `RSS growth after ${smallJobs} jobs, node ${SMALL_YOUNG_GEN}`, unit: '%', agent: ((small.after - small.idle) / small.idle) * 100, raw: null, ratio: null, target: '(context: ≤ 10%)', met: null },
  ];
}
