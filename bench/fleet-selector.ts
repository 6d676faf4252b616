/**
 * Fleet fan-out: the real CLI (`dist/cmd/quickcmd.js run --selector fleet=bench --parallel P
 * -- true`, its own process, talking to the broker) on every in-process bench agent,
 * against the same number of containers created → started → waited → removed straight on
 * the engine through dockerode with the agent's container options, at the same total
 * concurrency P. Whole runs, timed from spawn to exit (the CLI: discovery, sealing,
 * signing, every agent's door, job and container, the final frames, the summary) and
 * from the first create to the last remove (raw), alternated run by run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Dockerode from 'dockerode';
import { agentBinary } from './agent-process.js';
import { timedSpawn } from './timed-spawn.js';
import type { BenchContext } from './context.js';
import { alternate, median, until } from './stats.js';

/** What a selector run needs to reach the fleet. */
export interface SelectorFleet {
  readonly brokerUrl: string;
  readonly brokerCa: string;
  readonly brokerCreds: string;
  readonly controllerId: string;
  readonly secretFile: string;
  /** Agent ids of the selected agents (their containers are watched until gone). */
  readonly agentIds: ReadonlySet<string>;
  readonly agents: number;
}

/** Samples of the two sides. */
export interface SelectorSamples {
  readonly cliMs: number[];
  readonly rawMs: number[];
  /** Spawn to the last of the agents' containers removed (the CLI exits before its agents have removed the last few). */
  readonly cliAllRemovedMs: number[];
  readonly parallel: number;
}

/** Containers of `ids` still on the engine. */
async function leftOf(docker: Dockerode, ids: ReadonlySet<string>): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: ['io.quickcmd.agent'] } });
  return list.filter((c) => ids.has(c.Labels?.['io.quickcmd.agent'] ?? '')).length;
}

/** One CLI run; resolves with its wall time after checking every agent succeeded. */
async function cliRun(argv: readonly string[], env: NodeJS.ProcessEnv, agents: number): Promise<number> {
  const r = await timedSpawn(argv, env, 1_000_000);
  const ok = r.stderr.split('\n').filter((l) => /^f\d+\s+completed\s+0\s/.test(l)).length;
  if (r.code !== 0 || ok !== agents) throw new Error(`run --selector exited ${r.code} with ${ok}/${agents} succeeded: ${r.stderr.trim().slice(-500)}`);
  return r.ms;
}

/** `n` raw runs of `true`, at most `parallel` at a time; resolves with the wall time. */
async function rawRuns(ctx: BenchContext, n: number, parallel: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const r = await ctx.raw.run('true');
      if (r.exitCode !== 0) throw new Error(`raw true exited ${r.exitCode}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker));
  return performance.now() - t0;
}

/** Alternate `rounds` CLI fan-outs with `rounds` raw batches (after one unrecorded warm-up each). */
export async function measureSelector(ctx: BenchContext, f: SelectorFleet, rounds: number, parallel = 10): Promise<SelectorSamples> {
  const cli = path.join(path.dirname(agentBinary()), 'quickcmd.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-bench-fleet-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: home,
    XDG_CONFIG_HOME: home,
    NO_COLOR: '1',
    QUICKCMD_BROKER: f.brokerUrl,
    QUICKCMD_BROKER_CA: f.brokerCa,
    QUICKCMD_BROKER_CREDS: f.brokerCreds,
    QUICKCMD_CONTROLLER_ID: f.controllerId,
    QUICKCMD_SECRET_FILE: f.secretFile,
  };
  const argv = [process.execPath, cli, 'run', '--selector', 'fleet=bench', '--parallel', String(parallel), '--image', ctx.image, '--', 'true'];
  const out: SelectorSamples = { cliMs: [], rawMs: [], cliAllRemovedMs: [], parallel };
  try {
    for (let i = 0; i <= rounds; i++) {
      const record = i > 0;
      await alternate(
        i,
        async () => {
          const t0 = performance.now();
          const ms = await cliRun(argv, env, f.agents);
          // The next sample starts on an engine the previous one has left.
          await until('the fleet\'s containers to be removed', async () => (await leftOf(ctx.raw.docker, f.agentIds)) === 0, 120_000, 20);
          if (record) out.cliMs.push(ms);
          if (record) out.cliAllRemovedMs.push(performance.now() - t0);
          ctx.log(`fleet: run --selector on ${f.agents} agents: ${ms.toFixed(0)} ms${record ? '' : ' (warm-up)'}`);
        },
        async () => {
          const ms = await rawRuns(ctx, f.agents, parallel);
          if (record) out.rawMs.push(ms);
          ctx.log(`fleet: ${f.agents} raw dockerode runs at ${parallel}: ${ms.toFixed(0)} ms${record ? '' : ' (warm-up)'}`);
        },
      );
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  return out;
}

/** Median of the pairs' ratios (drift of the machine during the section cancels out). */
export function pairRatio(s: SelectorSamples): number {
  return median(s.cliMs.map((c, i) => c / (s.rawMs[i] as number)));
}
