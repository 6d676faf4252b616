/**
 * Per-job lifecycle cost on this machine: N sequential jobs through an in-process agent
 * (signed submit over plain loopback HTTP, queue, create/attach/start, wait, result stored,
 * container removed) against N raw dockerode runs of the same container options
 * (create → attach → start → wait → remove). Prints medians; asserts nothing.
 * Usage: node --import tsx bench/lifecycle.ts [runs=20] [command='true']
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { stringify } from 'yaml';
import { loadConfig } from '../internal/agent/config/config.js';
import { createAgent } from '../internal/agent/create-agent.js';
import { isTerminal } from '../internal/agent/jobs/job.js';
import { silentLogger } from '../internal/agent/logger.js';
import { encodeJobBody } from '../internal/agent/wire/signing.js';
import { containerOptions } from '../internal/sandbox/container-options.js';
import { LABEL_AGENT } from '../internal/sandbox/labels.js';

const runs = Number(process.argv[2] ?? 20);
const command = process.argv[3] ?? 'true';
const image = process.env['QUICKCMD_SANDBOX_IMAGE'] ?? 'quickcmd-sandbox:latest';
const MiB = 1024 * 1024;
const RAW_AGENT = `bench-lifecycle-raw-${process.pid}`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};
const fmt = (ms: number): string => `${ms.toFixed(1).padStart(7)} ms`;
/** Short poll interval: fine enough for the figures without spinning the event loop the agent runs on. */
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 2));

type Samples = Record<string, number[]>;
const push = (t: Samples, k: string, v: number): void => {
  (t[k] ??= []).push(v);
};

/** One raw run: the agent's own container options, straight through dockerode. */
async function rawRun(docker: Dockerode, i: number, t: Samples | null): Promise<void> {
  const opts = containerOptions({
    jobId: `raw-${i}`,
    agentId: RAW_AGENT,
    image,
    command,
    env: {},
    cpuLimit: 1,
    memoryLimit: 256 * MiB,
    pidsLimit: 64,
    tmpfsSizeBytes: 64 * MiB,
    sandboxUser: '65534:65534',
  });
  const t0 = performance.now();
  const c = await docker.createContainer(opts);
  const t1 = performance.now();
  const stream = (await c.attach({ stream: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadableStream;
  stream.resume();
  const ended = new Promise<void>((r) => stream.once('end', () => r()));
  const t2 = performance.now();
  await c.start();
  const t3 = performance.now();
  await c.wait({ condition: 'not-running' });
  await ended;
  await c.inspect();
  const t4 = performance.now();
  await c.remove({ force: true, v: true });
  const t5 = performance.now();
  if (t === null) return;
  push(t, 'create', t1 - t0);
  push(t, 'attach', t2 - t1);
  push(t, 'start', t3 - t2);
  push(t, 'create+attach+start', t3 - t0);
  push(t, 'wait (exit+output)', t4 - t3);
  push(t, 'remove', t5 - t4);
  push(t, 'total', t5 - t0);
}

/** An in-process agent on plain loopback HTTP (TLS is not what is measured here). */
async function benchAgent(docker: Dockerode, dir: string) {
  const secret = crypto.randomBytes(32).toString('hex');
  const cfgPath = path.join(dir, 'agent.yaml');
  fs.writeFileSync(
    cfgPath,
    stringify({
      port: 0,
      bind_address: '127.0.0.1',
      insecure_http: true,
      hmac_secret: secret,
      allowed_controllers: ['bench'],
      allowed_images: [image],
      default_image: image,
      run_as_user: 'root',
      run_as_group: 'root',
      audit_db_path: path.join(dir, 'agent.db'),
      default_cpu_limit: 1,
      max_cpu_limit: 1,
      default_memory_limit: 256 * MiB,
      log_level: 'error',
    }),
    { mode: 0o600 },
  );
  const agent = createAgent(loadConfig(cfgPath, {}), { logger: silentLogger(), docker });
  const addr = await agent.start();
  const startSum = async (): Promise<number> => (await agent.metrics.sandboxStart.get()).values.find((v) => v.metricName === 'quickcmd_agent_sandbox_start_seconds_sum')?.value ?? 0;

  /** One job: signed submit, then in-process polling of the store every 2 ms. */
  const run = async (t: Samples | null): Promise<void> => {
    const now = Math.floor(Date.now() / 1000);
    const jobId = `bench-${crypto.randomUUID()}`;
    const body = encodeJobBody(
      { jobId, prompt: '', command, candidateMetadata: null, pluginMetadata: null, requiredScopes: null, snapshotMetadata: '', ttl: now + 300, timestamp: now, controllerId: 'bench' },
      Buffer.from(secret, 'utf8'),
    );
    const before = await startSum();
    const t0 = performance.now();
    const code = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: addr.port, method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
    const t1 = performance.now();
    if (code !== 202) throw new Error(`submit answered ${code}`);
    let rec = agent.manager.get(jobId);
    while (rec === null || !isTerminal(rec.status)) {
      await pause();
      rec = agent.manager.get(jobId);
    }
    const t2 = performance.now();
    while ((await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agent.agentId}`] } })).length > 0) await pause();
    const t3 = performance.now();
    if (rec.status !== 'completed') throw new Error(`job ${jobId} ended ${rec.status}: ${rec.result?.error}`);
    if (t === null) return;
    push(t, 'submit → 202', t1 - t0);
    push(t, 'sandbox_start', ((await startSum()) - before) * 1000);
    push(t, 'start_time→end_time', rec.result?.duration_ms ?? Number.NaN);
    push(t, 'submit → result', t2 - t0);
    push(t, 'result → removed', t3 - t2);
    push(t, 'submit → removed', t3 - t0);
  };

  const close = async (): Promise<void> => {
    await agent.close();
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agent.agentId}`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  };
  return { run, close };
}

const docker = new Dockerode();
await docker.ping();
await docker.getImage(image).inspect();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-bench-lifecycle-'));
const agent = await benchAgent(docker, dir);
try {
  console.log(`# lifecycle: ${runs} sequential runs each, raw and agent interleaved (after 2 warm-ups each), command ${JSON.stringify(command)}, image ${image}, ${os.cpus().length} CPUs`);
  const r: Samples = {};
  const a: Samples = {};
  for (let i = -2; i < runs; i++) {
    await rawRun(docker, i, i < 0 ? null : r);
    await agent.run(i < 0 ? null : a);
  }
  console.log('raw dockerode (same containerOptions), medians:');
  for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(22)} ${fmt(median(v))}`);
  console.log('through the agent, medians:');
  for (const [k, v] of Object.entries(a)) console.log(`  ${k.padEnd(22)} ${fmt(median(v))}`);
  const overhead = median((a['submit → removed'] ?? []).map((x, i) => x - (r['total']?.[i] ?? Number.NaN)));
  console.log(`agent submit → removed minus raw total, median of paired differences: ${fmt(overhead)}`);
} finally {
  await agent.close();
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${RAW_AGENT}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  fs.rmSync(dir, { recursive: true, force: true });
}
