/**
 * Warm pool figure: submit → first output byte of `echo x` through an agent with a warm
 * pool, through one without, and the raw engine's create → attach → start → first byte.
 * The three alternate (the order rotates every round); a pooled sample starts only when
 * the pool is full again, so every sample measures a take, never a cold fallback.
 */
import { BenchClient } from './bench-client.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { untilGone, untilPoolFull } from './engine-watch.js';
import { percentile } from './stats.js';

const POOL = 2;

/** Run the warm pool section. */
export async function warmStartSection(ctx: BenchContext): Promise<Figure[]> {
  const warm = await ctx.startAgent('warm', { max_concurrent_jobs: 4, warm_pool_size: POOL });
  const cold = await ctx.startAgent('cold', { max_concurrent_jobs: 4 });
  const warmClient = new BenchClient(warm);
  const coldClient = new BenchClient(cold);
  const warmId = warm.agentId() ?? '';
  const coldId = cold.agentId() ?? '';
  const samples = { warm: [] as number[], cold: [] as number[], raw: [] as number[] };
  const agentSample = async (client: BenchClient, agentId: string, pooled: boolean, into: number[] | null): Promise<void> => {
    if (pooled) await untilPoolFull(ctx.raw.docker, agentId, POOL);
    const t0 = performance.now();
    const { jobId } = await client.submit('echo x');
    const f = await client.follow(jobId);
    if (f.firstFrameAt === null || f.status !== 'completed') throw new Error(`warm-start job ended ${f.status} without output`);
    into?.push(f.firstFrameAt - t0);
    // Never overlap the next sample: the taken container is gone and its replacement is ready.
    if (pooled) await untilPoolFull(ctx.raw.docker, agentId, POOL);
    else await untilGone(ctx.raw.docker, agentId, jobId);
  };
  const steps = [
    (rec: boolean) => agentSample(warmClient, warmId, true, rec ? samples.warm : null),
    (rec: boolean) => agentSample(coldClient, coldId, false, rec ? samples.cold : null),
    async (rec: boolean) => {
      const r = await ctx.raw.run('echo x');
      if (rec && r.firstByteMs !== null) samples.raw.push(r.firstByteMs);
    },
  ];
  try {
    for (const s of steps) await s(false);
    const n = ctx.n(30, 10);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < steps.length; k++) await (steps[(i + k) % steps.length] as (rec: boolean) => Promise<void>)(true);
    }
  } finally {
    warmClient.close();
    coldClient.close();
    await ctx.stopAgent(warm);
    await ctx.stopAgent(cold);
  }
  const w = percentile(samples.warm, 50);
  const c = percentile(samples.cold, 50);
  const r = percentile(samples.raw, 50);
  ctx.log(`warm start: pooled p50 ${w.toFixed(1)} ms, cold p50 ${c.toFixed(1)} ms, raw cold first byte p50 ${r.toFixed(1)} ms`);
  return [
    { section: 'warm pool', figure: 'submit → first output byte, warm pool (p50)', unit: 'ms', agent: w, raw: r, ratio: ratioOf(w, r), target: 'p50 ≤ 50 ms', met: w <= 50, details: { p90_ms: percentile(samples.warm, 90), samples: samples.warm.length, pool_size: POOL } },
    { section: 'warm pool', figure: 'submit → first output byte, no pool (p50)', unit: 'ms', agent: c, raw: r, ratio: ratioOf(c, r), target: '(context)', met: null, details: { p90_ms: percentile(samples.cold, 90), raw_p90_ms: percentile(samples.raw, 90) } },
  ];
}
