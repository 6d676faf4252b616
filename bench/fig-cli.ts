/**
 * CLI start: what a user feels on every command. Whole processes, timed from spawn to
 * exit (wall), each paired with its yardstick in the same round (the order flipping
 * every round): `quickcmd --version` against a bare `node -e 0`, and `quickcmd run -- true`
 * against a local bench agent against `docker run --rm --network none <image> true`, the
 * engine's own CLI doing the same container work. The ratio is the median of the pairs'
 * ratios, so drift of the machine's speed during the section cancels out.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agentBinary } from './agent-process.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { untilGone } from './engine-watch.js';
import { alternate, median, percentile } from './stats.js';
import { timedSpawn } from './timed-spawn.js';

/** The CLI next to the daemon the bench runs. */
function cliBinary(): string {
  return path.join(path.dirname(agentBinary()), 'quickcmd.js');
}

/** Spawn `argv` with empty stdin and discarded output; resolves with wall milliseconds, throws on a wrong exit code. */
async function timed(argv: readonly string[], env: NodeJS.ProcessEnv, want = 0): Promise<number> {
  const r = await timedSpawn(argv, env, 4000);
  if (r.code !== want) throw new Error(`${argv.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(0, 500)}`);
  return r.ms;
}

/** Paired samples of a command and its yardstick. */
interface Paired {
  readonly a: number[];
  readonly b: number[];
  readonly ratios: number[];
}

async function paired(n: number, warmup: number, a: () => Promise<number>, b: () => Promise<number>): Promise<Paired> {
  const out: Paired = { a: [], b: [], ratios: [] };
  for (let i = 0; i < warmup + n; i++) {
    let ta = 0;
    let tb = 0;
    await alternate(i, async () => void (ta = await a()), async () => void (tb = await b()));
    if (i < warmup) continue;
    out.a.push(ta);
    out.b.push(tb);
    out.ratios.push(ta / tb);
  }
  return out;
}

function figure(figure: string, p: Paired, target: string, limit: number | null): Figure {
  const ratio = p.ratios.length === 0 ? ratioOf(median(p.a), median(p.b)) : median(p.ratios);
  const details = { samples: p.a.length, agent_p90_ms: percentile(p.a, 90), raw_p90_ms: percentile(p.b, 90), ratio_of_medians: ratioOf(median(p.a), median(p.b)) };
  return { section: 'cli', figure, unit: 'ms', agent: median(p.a), raw: median(p.b), ratio, target, met: limit === null ? null : ratio !== null && ratio <= limit, details };
}

/** Run the cli section. */
export async function cliSection(ctx: BenchContext): Promise<Figure[]> {
  const cli = cliBinary();
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const node = process.execPath;
  // No controller config file: the connection comes from the environment alone.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-bench-cli-'));
  const agent = await ctx.startAgent('cli', { max_concurrent_jobs: 4 });
  const agentId = agent.agentId() ?? '';
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: home,
    XDG_CONFIG_HOME: home,
    QUICKCMD_AGENT: agent.url,
    QUICKCMD_CONTROLLER_ID: agent.controllerId,
    QUICKCMD_SECRET_FILE: path.join(agent.dir, 'hmac-secret'),
    QUICKCMD_CA_FILE: agent.caFile,
  };
  const figures: Figure[] = [];
  try {
    const version = await paired(ctx.n(20, 8), 2, () => timed([node, cli, '--version'], env), () => timed([node, '-e', '0'], env));
    figures.push(figure('`quickcmd --version` vs `node -e 0` (wall p50)', version, 'ratio ≤ 1.6', 1.6));
    const help = await paired(ctx.n(10, 4), 1, () => timed([node, cli, '--help'], env), () => timed([node, '-e', '0'], env));
    figures.push(figure('`quickcmd --help` (loads every command) vs `node -e 0`', help, '(context)', null));
    const runTrue = async (): Promise<number> => {
      const jobId = `bench-cli-${crypto.randomUUID()}`;
      const ms = await timed([node, cli, 'run', '--job-id', jobId, '--', 'true'], env);
      // The engine's `docker run --rm` returns once its container is removed; ours is
      // removed by the agent after the final frame: wait for it so samples never overlap.
      await untilGone(ctx.raw.docker, agentId, jobId);
      return ms;
    };
    const dockerTrue = (): Promise<number> => timed(['docker', 'run', '--rm', '--network', 'none', ctx.image, 'true'], env);
    const run = await paired(ctx.n(20, 8), 2, runTrue, dockerTrue);
    figures.push(figure('`quickcmd run -- true` vs `docker run --rm --network none` (wall p50)', run, 'ratio ≤ 1.0', 1.0));
  } finally {
    await ctx.stopAgent(agent);
    fs.rmSync(home, { recursive: true, force: true });
  }
  for (const f of figures) ctx.log(`cli: ${f.figure}: ${f.agent.toFixed(1)} ms vs ${(f.raw ?? Number.NaN).toFixed(1)} ms (pair ratio p50 ${(f.ratio ?? Number.NaN).toFixed(2)})`);
  return figures;
}
