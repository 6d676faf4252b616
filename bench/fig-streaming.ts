/**
 * Figure 3, streaming: one job printing 200 MiB as fast as it can, followed by one
 * WebSocket client, against a raw dockerode attach of the same container. Rate = bytes
 * received / (last byte − first byte) at the receiver. The producer asks for 2 CPUs so it
 * is not the bottleneck; max_output_bytes is raised so every byte is kept and streamed
 * (the engine log bound follows it, identically for the raw container).
 */
import { BenchClient } from './bench-client.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { untilGone } from './engine-watch.js';
import { median, alternate } from './stats.js';
import { logBoundFor } from '../internal/sandbox/container-options.js';

const BYTES = 200 * 1024 * 1024;
const MAX_OUTPUT = 256 * 1024 * 1024;
const CPU = 2;
/** 200 MiB of 'a' without a newline, in 64 KiB writes. */
const COMMAND = `dd if=/dev/zero bs=65536 count=${BYTES / 65536} 2>/dev/null | tr '\\0' a`;

/** Run the streaming section. */
export async function streamingSection(ctx: BenchContext): Promise<Figure[]> {
  const agent = await ctx.startAgent('streaming', { max_output_bytes: MAX_OUTPUT, max_cpu_limit: CPU });
  const client = new BenchClient(agent);
  const agentId = agent.agentId() ?? '';
  const agentRates: number[] = [];
  const rawRates: number[] = [];
  /** CPU seconds of the agent and of this process (the follower) per agent run, to show who was busy. */
  const cpu: Array<{ agent_s: number; follower_s: number; wall_s: number }> = [];
  const mb = (bytes: number, ms: number): number => bytes / (1024 * 1024) / (ms / 1000);
  const agentRun = async (): Promise<void> => {
    const a0 = agent.cpuSeconds();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const { jobId } = await client.submit(COMMAND, { cpu_limit: CPU });
    const f = await client.follow(jobId);
    const c1 = process.cpuUsage(c0);
    cpu.push({ agent_s: agent.cpuSeconds() - a0, follower_s: (c1.user + c1.system) / 1e6, wall_s: (performance.now() - t0) / 1000 });
    if (f.bytes !== BYTES || f.firstFrameAt === null) throw new Error(`streaming job delivered ${f.bytes} bytes (${f.status})`);
    agentRates.push(mb(f.bytes, f.finalAt - f.firstFrameAt));
    await untilGone(ctx.raw.docker, agentId, jobId);
  };
  const rawRun = async (): Promise<void> => {
    const r = await ctx.raw.run(COMMAND, { cpuLimit: CPU, logMaxBytes: logBoundFor(MAX_OUTPUT) });
    if (r.bytes !== BYTES || r.firstByteMs === null || r.lastByteMs === null) throw new Error(`raw streaming got ${r.bytes} bytes`);
    rawRates.push(mb(r.bytes, r.lastByteMs - r.firstByteMs));
  };
  try {
    const runs = ctx.n(3, 1);
    for (let i = 0; i < runs; i++) {
      await alternate(i, agentRun, rawRun);
      const c = cpu.at(-1);
      ctx.log(`streaming run ${i + 1}/${runs}: agent ${agentRates.at(-1)?.toFixed(1)} MiB/s (agent CPU ${c?.agent_s.toFixed(1)} s, follower CPU ${c?.follower_s.toFixed(1)} s in ${c?.wall_s.toFixed(1)} s), raw ${rawRates.at(-1)?.toFixed(1)} MiB/s`);
    }
  } finally {
    client.close();
    await ctx.stopAgent(agent);
  }
  const a = median(agentRates);
  const r = median(rawRates);
  const ratio = ratioOf(a, r);
  return [{ section: 'streaming', figure: '200 MiB job → one WebSocket follower', unit: 'MiB/s', agent: a, raw: r, ratio, target: 'ratio ≥ 0.8', met: ratio !== null && ratio >= 0.8, details: { agent_runs: agentRates, raw_runs: rawRates, cpu } }];
}
