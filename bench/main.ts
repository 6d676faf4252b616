/**
 * `npm run bench`: measures the agent end to end (a separate daemon process, real HTTPS,
 * WebSocket, SQLite and Docker) beside the raw engine doing the same container work, and
 * prints one table. Not part of `npm test`.
 *
 * Options: --quick (fewer samples, ~1/3 of the time), --json (machine-readable only on
 * stdout), --only=a,b (sections: cli, latency, throughput, streaming, door, footprint, warm, runtimes, commands, fleet;
 * opt-in, run only when named: flood), --cpu-prof[=DIR] (agents write V8 CPU profiles to DIR on exit, default
 * ./bench-profiles), --flood-seconds=N (the flood section floods literally for N s per kind instead of
 * extrapolating a 10-minute flood from 20 s).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { agentBinary, makeBenchPki } from './agent-process.js';
import { BenchContext, type Figure } from './context.js';
import { cliSection } from './fig-cli.js';
import { commandsSection } from './fig-commands.js';
import { doorSection } from './fig-door.js';
import { fleetSection } from './fig-fleet.js';
import { floodSection } from './fig-flood.js';
import { footprintSection } from './fig-footprint.js';
import { latencySection } from './fig-latency.js';
import { runtimesSection } from './fig-runtimes.js';
import { streamingSection } from './fig-streaming.js';
import { throughputSection } from './fig-throughput.js';
import { warmStartSection } from './fig-warm-start.js';
import { RawEngine } from './raw-engine.js';
import { LEGEND, renderTable } from './report.js';

/** Every section, in run order; a new section is one import and one line here. */
const SECTIONS: Record<string, (ctx: BenchContext) => Promise<Figure[]>> = {
  cli: cliSection,
  latency: latencySection,
  throughput: throughputSection,
  streaming: streamingSection,
  door: doorSection,
  footprint: footprintSection,
  warm: warmStartSection,
  runtimes: runtimesSection,
  commands: commandsSection,
  fleet: fleetSection,
};

/** Sections run only when --only names them (long, and they measure one thing each). */
const OPT_IN_SECTIONS: Record<string, (ctx: BenchContext, o: Options) => Promise<Figure[]>> = {
  flood: (ctx, o) => floodSection(ctx, o.floodSeconds),
};

/** Parsed command line. */
interface Options {
  readonly quick: boolean;
  readonly json: boolean;
  readonly only: readonly string[];
  readonly cpuProfDir: string | null;
  /** --flood-seconds: a literal flood of this many seconds per kind; null extrapolates. */
  readonly floodSeconds: number | null;
}

function parseArgs(argv: readonly string[]): Options {
  let quick = false;
  let json = false;
  let only = Object.keys(SECTIONS);
  let cpuProfDir: string | null = null;
  let floodSeconds: number | null = null;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a === '--json') json = true;
    else if (a.startsWith('--only=')) only = a.slice('--only='.length).split(',').filter((s) => s !== '');
    else if (a === '--cpu-prof') cpuProfDir = path.resolve('bench-profiles');
    else if (a.startsWith('--cpu-prof=')) cpuProfDir = path.resolve(a.slice('--cpu-prof='.length));
    else if (a.startsWith('--flood-seconds=')) {
      floodSeconds = Number(a.slice('--flood-seconds='.length));
      if (!Number.isInteger(floodSeconds) || floodSeconds < 1 || floodSeconds > 3600) throw new Error('--flood-seconds must be a whole number of seconds from 1 to 3600');
    } else throw new Error(`unknown option ${a} (use --quick, --json, --only=${[...Object.keys(SECTIONS), ...Object.keys(OPT_IN_SECTIONS)].join(',')}, --cpu-prof[=DIR], --flood-seconds=N)`);
  }
  for (const s of only) if (!(s in SECTIONS) && !(s in OPT_IN_SECTIONS)) throw new Error(`unknown section ${s}`);
  return { quick, json, only, cpuProfDir, floodSeconds };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const image = process.env['QUICKCMD_SANDBOX_IMAGE'] ?? 'quickcmd-sandbox:latest';
  if (!fs.existsSync(agentBinary())) throw new Error(`${agentBinary()} is missing: run npm run build first`);
  const docker = new Dockerode();
  await docker.ping();
  await docker.getImage(image).inspect();
  const engine = (await docker.version()) as { Version?: string };
  if (opts.cpuProfDir !== null) fs.mkdirSync(opts.cpuProfDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-bench-pki-'));
  const profile = { image, cpuLimit: 0.5, memoryLimit: 268435456, pidsLimit: 64, tmpfsSizeBytes: 67108864, sandboxUser: '65534:65534', logMaxBytes: 128 * 1024 * 1024 };
  const progress = (line: string): void => {
    process.stderr.write(`[bench] ${line}\n`);
  };
  const ctx = new BenchContext(opts.quick, image, makeBenchPki(work), new RawEngine(profile), profile, opts.cpuProfDir, progress);
  const figures: Figure[] = [];
  // Other work on the machine skews every figure; the load is printed so a reader can tell.
  const loadBefore = os.loadavg()[0] ?? Number.NaN;
  const failures: Record<string, string> = {};
  const t0 = performance.now();
  const onSignal = (): void => {
    void ctx.cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const name of opts.only) {
      const s0 = performance.now();
      progress(`${name}: start`);
      try {
        const section = SECTIONS[name] ?? ((c: BenchContext) => (OPT_IN_SECTIONS[name] as (c: BenchContext, o: Options) => Promise<Figure[]>)(c, opts));
        figures.push(...(await section(ctx)));
      } catch (e) {
        failures[name] = e instanceof Error ? e.message : String(e);
        progress(`${name}: FAILED: ${failures[name]}`);
        await ctx.cleanup();
      }
      progress(`${name}: done in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await ctx.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  const machine = { cpus: os.cpus().length, memory_gib: Math.round(os.totalmem() / 2 ** 30), node: process.version, docker: engine.Version ?? 'unknown', kernel: os.release(), load_before: loadBefore, load_after: os.loadavg()[0] ?? Number.NaN };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ quick: opts.quick, seconds, machine, figures, failures }, null, 2)}\n`);
  } else {
    process.stdout.write(`\nQuickCMD bench (${opts.quick ? 'quick' : 'full'}, ${seconds.toFixed(0)} s; ${machine.cpus} CPUs, ${machine.memory_gib} GiB, Node ${machine.node}, Docker ${machine.docker}; 1-min load ${machine.load_before.toFixed(1)} → ${machine.load_after.toFixed(1)})\n\n`);
    process.stdout.write(`${renderTable(figures)}\n\n${LEGEND.join('\n')}\n`);
    for (const [name, why] of Object.entries(failures)) process.stdout.write(`FAILED ${name}: ${why}\n`);
    if (opts.cpuProfDir !== null) process.stdout.write(`CPU profiles: ${opts.cpuProfDir}\n`);
  }
  return Object.keys(failures).length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
