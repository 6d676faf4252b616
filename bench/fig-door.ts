/**
 * Figure 4, the door under attack: two client processes send invalid-signature
 * submissions over keep-alive HTTPS as fast as they can (door-worker.ts) while this
 * process measures `GET /health` latency every 10 ms. Reported: 401 rejections/s and
 * health p99. The comparison is a bare Node HTTPS server that only reads the body and
 * answers 401 (bare-server.ts): there is no engine work at the door, so Node's own TLS
 * and HTTP ceiling on this machine is the meaningful baseline.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchAgent } from './agent-process.js';
import { BenchClient } from './bench-client.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import type { DoorWorkerReport, DoorWorkerTask } from './door-worker.js';
import { pause, percentile } from './stats.js';

const WORKERS = 2;
const CONNECTIONS_PER_WORKER = 16;

/** Node argv running a sibling bench script (compiled .js, or .ts through tsx). */
export function siblingScript(name: string): string[] {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const file = path.join(path.dirname(here), `${name}${ext}`);
  return ext === '.ts' ? ['--import', 'tsx', file] : [file];
}

/** Result of attacking one server. */
interface Attack {
  readonly rejectionsPerSec: number;
  readonly otherAnswers: number;
  readonly errors: number;
  readonly healthP50: number;
  readonly healthP99: number;
  readonly healthSamples: number;
  readonly cpuPercent: number;
  /** Server CPU milliseconds per rejection inside the window (load-independent where the rate is not). */
  readonly cpuMsPerRejection: number;
  /** Legitimate signed submissions' submit → 202 latencies during the attack (agent only). */
  readonly submitMs: readonly number[];
}

/** Legitimate submissions, one every SUBMIT_EVERY_MS: what a user feels while strangers knock. */
const SUBMIT_EVERY_MS = 200;

/** submit → 202 of signed `true` jobs, one at a time every SUBMIT_EVERY_MS, until `more()` says stop. */
async function legitSubmits(server: BenchAgent, more: () => boolean, max: number): Promise<number[]> {
  const client = new BenchClient({ url: server.url, caFile: server.caFile, secret: server.secret, controllerId: server.controllerId }, 1);
  const out: number[] = [];
  try {
    while (more() && out.length < max) {
      const s = performance.now();
      const r = await client.submit('true');
      out.push(r.acceptedAt - s);
      await pause(SUBMIT_EVERY_MS);
    }
  } finally {
    client.close();
  }
  return out;
}

async function attack(ctx: BenchContext, server: BenchAgent, durationMs: number, legit: boolean): Promise<Attack> {
  const url = new URL(server.url);
  const forger = new BenchClient({ url: server.url, caFile: server.caFile, secret: 'not-the-secret-'.repeat(4), controllerId: server.controllerId });
  const task: DoorWorkerTask = {
    host: url.hostname,
    port: Number(url.port),
    ca: fs.readFileSync(server.caFile, 'utf8'),
    path: '/api/v1/jobs',
    body: forger.jobBody('true').body,
    connections: CONNECTIONS_PER_WORKER,
    warmupMs: 1000,
    durationMs,
  };
  forger.close();
  const argv = siblingScript('door-worker');
  const reports = Array.from({ length: WORKERS }, () => {
    const child = fork(argv[argv.length - 1] as string, [], { execArgv: argv.slice(0, -1), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise<DoorWorkerReport>((resolve, reject) => {
      child.once('message', (m) => resolve(m as DoorWorkerReport));
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`door worker exited with ${code} before reporting`)));
      child.send(task);
    });
  });
  const health = new BenchClient({ url: server.url, caFile: server.caFile, secret: server.secret, controllerId: server.controllerId }, 1);
  const latencies: number[] = [];
  let attacking = true;
  const all = Promise.all(reports).finally(() => {
    attacking = false;
  });
  await pause(task.warmupMs);
  const cpu0 = server.cpuSeconds();
  const t0 = performance.now();
  const submits = legit ? legitSubmits(server, () => performance.now() - t0 < durationMs, Number.POSITIVE_INFINITY) : Promise.resolve([]);
  let cpu1 = Number.NaN;
  let t1 = Number.NaN;
  while (attacking) {
    const s = performance.now();
    const r = await health.health();
    if (performance.now() - t0 < durationMs) {
      if (r.status !== 200) throw new Error(`/health answered ${r.status} under attack: ${r.text}`);
      latencies.push(r.at - s);
    } else if (Number.isNaN(t1)) {
      cpu1 = server.cpuSeconds();
      t1 = performance.now();
    }
    await pause(10);
  }
  const results = await all;
  health.close();
  const submitMs = await submits;
  let rejected = 0;
  let other = 0;
  let errors = 0;
  for (const r of results) {
    errors += r.errors;
    for (const [status, n] of Object.entries(r.statuses)) {
      if (status === '401') rejected += n;
      else other += n;
    }
  }
  return {
    rejectionsPerSec: rejected / (durationMs / 1000),
    otherAnswers: other,
    errors,
    healthP50: percentile(latencies, 50),
    healthP99: percentile(latencies, 99),
    healthSamples: latencies.length,
    cpuPercent: ((cpu1 - cpu0) / ((t1 - t0) / 1000)) * 100,
    cpuMsPerRejection: ((cpu1 - cpu0) * 1000) / Math.max(1, rejected * ((t1 - t0) / durationMs)),
    submitMs,
  };
}

/** Run the door section. */
export async function doorSection(ctx: BenchContext): Promise<Figure[]> {
  const durationMs = ctx.n(10_000, 5_000);
  const agent = await ctx.startAgent('door');
  let a: Attack;
  let idleSubmitMs: number[];
  try {
    // The same pacing before the attack: the yardstick of the legitimate user's latency.
    idleSubmitMs = await legitSubmits(agent, () => true, ctx.n(40, 20));
    a = await attack(ctx, agent, durationMs, true);
  } finally {
    await ctx.stopAgent(agent);
  }
  ctx.log(`door: agent ${a.rejectionsPerSec.toFixed(0)} rejections/s (cpu ${a.cpuPercent.toFixed(0)}%), health p50 ${a.healthP50.toFixed(1)} ms p99 ${a.healthP99.toFixed(1)} ms, other answers ${a.otherAnswers}, errors ${a.errors}`);
  const bare = await ctx.startAgent('bare-door', {}, siblingScript('bare-server'));
  let b: Attack;
  try {
    b = await attack(ctx, bare, durationMs, false);
  } finally {
    await ctx.stopAgent(bare);
  }
  ctx.log(`door: bare Node ${b.rejectionsPerSec.toFixed(0)} rejections/s, health p99 ${b.healthP99.toFixed(1)} ms`);
  const ok = a.otherAnswers === 0;
  const idleP99 = percentile(idleSubmitMs, 99);
  const floodP99 = percentile(a.submitMs, 99);
  const submitRatio = ratioOf(floodP99, idleP99);
  ctx.log(`door: legitimate submit → 202 p99 idle ${idleP99.toFixed(1)} ms (${idleSubmitMs.length}), during the attack ${floodP99.toFixed(1)} ms (${a.submitMs.length}); cpu per rejection agent ${a.cpuMsPerRejection.toFixed(3)} ms, bare ${b.cpuMsPerRejection.toFixed(3)} ms`);
  return [
    { section: 'door', figure: 'invalid-signature rejections/s (2 client processes)', unit: '/s', agent: a.rejectionsPerSec, raw: b.rejectionsPerSec, ratio: ratioOf(a.rejectionsPerSec, b.rejectionsPerSec), target: '≥ 5000/s', met: ok && a.rejectionsPerSec >= 5000, details: { agent: a, bare: b, workers: WORKERS, connections_per_worker: CONNECTIONS_PER_WORKER, window_ms: durationMs } },
    { section: 'door', figure: '/health p99 latency during the attack', unit: 'ms', agent: a.healthP99, raw: b.healthP99, ratio: ratioOf(a.healthP99, b.healthP99), target: '< 50 ms', met: a.healthP99 < 50, details: { agent_p50_ms: a.healthP50, samples: a.healthSamples } },
    { section: 'door', figure: 'signed submit → 202 p99 during the attack vs idle (raw: idle)', unit: 'ms', agent: floodP99, raw: idleP99, ratio: submitRatio, target: 'ratio ≤ 3', met: submitRatio !== null && submitRatio <= 3, details: { idle_p50_ms: percentile(idleSubmitMs, 50), flood_p50_ms: percentile(a.submitMs, 50), idle_samples: idleSubmitMs.length, flood_samples: a.submitMs.length } },
    { section: 'door', figure: 'server CPU per rejection (raw: bare Node)', unit: 'ms', agent: a.cpuMsPerRejection, raw: b.cpuMsPerRejection, ratio: ratioOf(a.cpuMsPerRejection, b.cpuMsPerRejection), target: '(context: load-independent)', met: null },
  ];
}
