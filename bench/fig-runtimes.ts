/**
 * Figure "runtimes" (SPEC §14): per isolation runtime, the agent beside raw dockerode with
 * the SAME runtime in the same run: submit → final frame p50 of `true` (one at a time,
 * alternating, each sample waiting until the container is gone, as in fig-latency) and
 * throughput of `true` jobs at concurrency 4 (as in fig-throughput, fewer jobs per round
 * because a runsc container costs more). Then the absolute start cost of runsc over runc on
 * the raw engine: the price of gVisor, independent of the agent.
 */
import { BenchClient } from './bench-client.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { untilGone } from './engine-watch.js';
import { alternate, median, percentile } from './stats.js';
import { RUNTIMES, type RuntimeName } from '../internal/sandbox/runtimes.js';

const CONCURRENCY = 4;

/** The engine lists `runtime` (scripts/docker-up.sh registers runsc); a missing one fails the section. */
async function requireRuntime(ctx: BenchContext, runtime: RuntimeName): Promise<void> {
  const info = (await ctx.raw.docker.info()) as { Runtimes?: Record<string, unknown> };
  if (!Object.keys(info.Runtimes ?? {}).includes(runtime)) throw new Error(`the engine does not list runtime ${runtime}: run scripts/docker-up.sh`);
}

async function oneRuntime(ctx: BenchContext, runtime: RuntimeName): Promise<{ figures: Figure[]; rawExitMs: number[] }> {
  const config = runtime === 'runc' ? { max_concurrent_jobs: CONCURRENCY, max_queued_jobs: 200 } : { max_concurrent_jobs: CONCURRENCY, max_queued_jobs: 200, allowed_runtimes: ['runc', runtime], default_runtime: runtime };
  const agent = await ctx.startAgent(`runtimes-${runtime}`, config);
  const client = new BenchClient(agent, 32);
  const agentId = agent.agentId() ?? '';
  const agentMs: number[] = [];
  const rawMs: number[] = [];
  const rawExitMs: number[] = [];
  const agentRates: number[] = [];
  const rawRates: number[] = [];
  const jobs = ctx.n(40, 16);
  const one = async (record: boolean): Promise<void> => {
    const t0 = performance.now();
    const { jobId } = await client.submit('true');
    const f = await client.follow(jobId);
    if (f.status !== 'completed' || f.exitCode !== 0) throw new Error(`${runtime} job ended ${f.status}/${f.exitCode}`);
    if (record) agentMs.push(f.finalAt - t0);
    await untilGone(ctx.raw.docker, agentId, jobId);
  };
  const raw = async (record: boolean): Promise<void> => {
    const r = await ctx.raw.run('true', { runtime });
    if (r.exitCode !== 0) throw new Error(`raw ${runtime} true exited ${r.exitCode}`);
    if (record) {
      rawMs.push(r.removedMs);
      rawExitMs.push(r.exitedMs);
    }
  };
  const agentRound = async (): Promise<void> => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: jobs }, async () => {
      const { jobId } = await client.submit('true');
      const f = await client.follow(jobId);
      if (f.status !== 'completed') throw new Error(`${runtime} throughput job ended ${f.status}`);
    }));
    await untilGone(ctx.raw.docker, agentId);
    agentRates.push(jobs / ((performance.now() - t0) / 1000));
  };
  const rawRound = async (): Promise<void> => {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs) {
        next++;
        await ctx.raw.run('true', { runtime });
      }
    }));
    rawRates.push(jobs / ((performance.now() - t0) / 1000));
  };
  try {
    for (let i = 0; i < 2; i++) {
      await one(false);
      await raw(false);
    }
    const n = ctx.n(20, 8);
    for (let i = 0; i < n; i++) await alternate(i, () => one(true), () => raw(true));
    const rounds = ctx.n(3, 1);
    for (let i = 0; i < rounds; i++) {
      await alternate(i, agentRound, rawRound);
      ctx.log(`runtimes ${runtime} throughput round ${i + 1}/${rounds}: agent ${agentRates.at(-1)?.toFixed(2)} jobs/s, raw ${rawRates.at(-1)?.toFixed(2)} jobs/s`);
    }
  } finally {
    client.close();
    await ctx.stopAgent(agent);
  }
  const a = median(agentMs);
  const r = median(rawMs);
  const latencyRatio = ratioOf(a, r);
  const ta = median(agentRates);
  const tr = median(rawRates);
  const rateRatio = ratioOf(ta, tr);
  ctx.log(`runtimes ${runtime}: latency agent p50 ${a.toFixed(1)} ms vs raw ${r.toFixed(1)} ms; throughput agent ${ta.toFixed(2)} vs raw ${tr.toFixed(2)} jobs/s`);
  return {
    rawExitMs,
    figures: [
      { section: 'runtimes', figure: `${runtime}: submit → final frame, \`true\` (p50) vs raw create…remove (${runtime})`, unit: 'ms', agent: a, raw: r, ratio: latencyRatio, target: 'ratio ≤ 1.05', met: latencyRatio !== null && latencyRatio <= 1.05, details: { samples: agentMs.length, agent_p90_ms: percentile(agentMs, 90), raw_p90_ms: percentile(rawMs, 90) } },
      { section: 'runtimes', figure: `${runtime}: ${jobs} jobs, concurrency ${CONCURRENCY} (median of rounds) vs raw (${runtime})`, unit: 'jobs/s', agent: ta, raw: tr, ratio: rateRatio, target: 'ratio ≥ 0.95', met: rateRatio !== null && rateRatio >= 0.95, details: { agent_rounds: agentRates, raw_rounds: rawRates } },
    ],
  };
}

/** Run the runtimes section: every runtime the agent knows, then the runsc/runc start cost. */
export async function runtimesSection(ctx: BenchContext): Promise<Figure[]> {
  for (const rt of RUNTIMES) await requireRuntime(ctx, rt);
  const out: Figure[] = [];
  const exits = new Map<RuntimeName, number>();
  for (const rt of RUNTIMES) {
    const { figures, rawExitMs } = await oneRuntime(ctx, rt);
    out.push(...figures);
    exits.set(rt, median(rawExitMs));
  }
  const runc = exits.get('runc') ?? Number.NaN;
  const runsc = exits.get('runsc') ?? Number.NaN;
  out.push({ section: 'runtimes', figure: 'raw create…exit of `true` (p50): runsc (agent column) vs runc (raw column)', unit: 'ms', agent: runsc, raw: runc, ratio: ratioOf(runsc, runc), target: '(context: the cost of gVisor)', met: null, details: { extra_ms_per_job: runsc - runc } });
  return out;
}
