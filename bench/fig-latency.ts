/**
 * Figure 1, latency: submit → final frame of `true`, one job at a time, against the raw
 * engine's create → attach → start → wait → remove with identical container options.
 * Agent and raw samples alternate (the order flips every round), and each agent sample
 * waits until the agent has removed its container, so no sample overlaps another's work.
 */
import { BenchClient } from './bench-client.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { untilGone } from './engine-watch.js';
import { median, percentile, alternate } from './stats.js';

/** Run the latency section. */
export async function latencySection(ctx: BenchContext): Promise<Figure[]> {
  const agent = await ctx.startAgent('latency', { max_concurrent_jobs: 4 });
  const client = new BenchClient(agent);
  const agentId = agent.agentId() ?? '';
  const agentMs: number[] = [];
  const rawMs: number[] = [];
  const rawExitMs: number[] = [];
  const one = async (record: boolean): Promise<void> => {
    const t0 = performance.now();
    const { jobId } = await client.submit('true');
    const f = await client.follow(jobId);
    if (f.status !== 'completed' || f.exitCode !== 0) throw new Error(`latency job ended ${f.status}/${f.exitCode}`);
    if (record) agentMs.push(f.finalAt - t0);
    await untilGone(ctx.raw.docker, agentId, jobId);
  };
  const raw = async (record: boolean): Promise<void> => {
    const r = await ctx.raw.run('true');
    if (r.exitCode !== 0) throw new Error(`raw true exited ${r.exitCode}`);
    if (record) {
      rawMs.push(r.removedMs);
      rawExitMs.push(r.exitedMs);
    }
  };
  try {
    for (let i = 0; i < 3; i++) {
      await one(false);
      await raw(false);
    }
    const n = ctx.n(30, 10);
    for (let i = 0; i < n; i++) {
      await alternate(i, () => one(true), () => raw(true));
    }
  } finally {
    client.close();
    await ctx.stopAgent(agent);
  }
  const a = median(agentMs);
  const r = median(rawMs);
  const rx = median(rawExitMs);
  ctx.log(`latency: agent p50 ${a.toFixed(1)} ms, raw create→remove p50 ${r.toFixed(1)} ms, raw create→exit p50 ${rx.toFixed(1)} ms`);
  const details = { samples: agentMs.length, agent_p90_ms: percentile(agentMs, 90), raw_p90_ms: percentile(rawMs, 90), raw_exit_p50_ms: rx };
  const ratio = ratioOf(a, r);
  const exitRatio = ratioOf(a, rx);
  return [
    { section: 'latency', figure: 'submit → final frame, `true` (p50) vs raw create…remove', unit: 'ms', agent: a, raw: r, ratio, target: 'ratio ≤ 1.05', met: ratio !== null && ratio <= 1.05, details },
    { section: 'latency', figure: 'same, vs raw create…exit (no remove)', unit: 'ms', agent: a, raw: rx, ratio: exitRatio, target: '(context)', met: null },
  ];
}
