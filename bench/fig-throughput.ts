/**
 * Figure 2, throughput: 100 `true` jobs through an agent with max_concurrent_jobs 4 (all
 * submitted at once, each followed over WebSocket to its final frame) against the raw
 * engine running the same 100 containers with 4 workers. A round ends when every job has
 * ended AND every container is removed, as a raw worker's does. Rounds alternate.
 */
import { BenchClient } from './bench-client.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { untilGone } from './engine-watch.js';
import { median, alternate } from './stats.js';

const JOBS = 100;
const CONCURRENCY = 4;

/** Run the throughput section. */
export async function throughputSection(ctx: BenchContext): Promise<Figure[]> {
  const agent = await ctx.startAgent('throughput', { max_concurrent_jobs: CONCURRENCY, max_queued_jobs: 200 });
  const client = new BenchClient(agent, 32);
  const agentId = agent.agentId() ?? '';
  const agentRates: number[] = [];
  const rawRates: number[] = [];
  /** CPU seconds of the agent per agent round (what it costs on top of the engine's work). */
  const agentCpu: number[] = [];
  const agentRound = async (): Promise<void> => {
    const cpu0 = agent.cpuSeconds();
    const t0 = performance.now();
    const jobs = Array.from({ length: JOBS }, async () => {
      const { jobId } = await client.submit('true');
      const f = await client.follow(jobId);
      if (f.status !== 'completed') throw new Error(`throughput job ended ${f.status}`);
    });
    await Promise.all(jobs);
    await untilGone(ctx.raw.docker, agentId);
    agentRates.push(JOBS / ((performance.now() - t0) / 1000));
    agentCpu.push(agent.cpuSeconds() - cpu0);
  };
  const rawRound = async (): Promise<void> => {
    const t0 = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < JOBS) {
        next++;
        await ctx.raw.run('true');
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    rawRates.push(JOBS / ((performance.now() - t0) / 1000));
  };
  try {
    const rounds = ctx.n(3, 1);
    for (let i = 0; i < rounds; i++) {
      await alternate(i, agentRound, rawRound);
      ctx.log(`throughput round ${i + 1}/${rounds}: agent ${agentRates.at(-1)?.toFixed(2)} jobs/s (agent CPU ${agentCpu.at(-1)?.toFixed(1)} s), raw ${rawRates.at(-1)?.toFixed(2)} jobs/s`);
    }
  } finally {
    client.close();
    await ctx.stopAgent(agent);
  }
  const a = median(agentRates);
  const r = median(rawRates);
  const ratio = ratioOf(a, r);
  return [{ section: 'throughput', figure: `${JOBS} jobs, concurrency ${CONCURRENCY} (median of rounds)`, unit: 'jobs/s', agent: a, raw: r, ratio, target: 'ratio ≥ 0.95', met: ratio !== null && ratio >= 0.95, details: { agent_rounds: agentRates, raw_rounds: rawRates, agent_cpu_s: agentCpu } }];
}
