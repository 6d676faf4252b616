/**
 * Live-log throughput: one job printing 200 MB as fast as it can, followed by one
 * WebSocket client, against a raw dockerode attach of an identical container (same
 * create options) in the same run. The agent runs as its own process (the real daemon
 * through tsx) so the client does not share its event loop.
 * Prints MB/s from the first byte to the last for both, and their ratio.
 * Usage: node --import tsx bench/stream-throughput.ts [megabytes=200] [rounds=1]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import Dockerode from 'dockerode';
import WebSocket from 'ws';
import { loadConfig } from '../internal/agent/config/config.js';
import { containerOptions } from '../internal/sandbox/container-options.js';
import type { SandboxSpec } from '../internal/sandbox/sandbox.js';
import { freePort, prepareAgentDir, TEST_IMAGE } from '../test/helpers/agent.js';
import { signedHeaders, submit } from '../test/helpers/client.js';

const megabytes = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 1);
const total = megabytes * 1_000_000;
const command = `head -c ${total} /dev/zero | tr '\\0' x`;

/** Bytes, and times (ms) of the start, the first byte and the end. */
interface Run {
  readonly bytes: number;
  readonly startMs: number;
  readonly firstMs: number;
  readonly endMs: number;
}

const mbps = (r: Run): number => r.bytes / 1e6 / ((r.endMs - r.firstMs) / 1000);
const line = (name: string, r: Run): string =>
  `${name.padEnd(22)} ${(r.bytes / 1e6).toFixed(0)} MB  first byte ${(r.firstMs - r.startMs).toFixed(0)} ms  first→last ${((r.endMs - r.firstMs) / 1000).toFixed(2)} s  ${mbps(r).toFixed(1)} MB/s`;

async function rawAttach(docker: Dockerode, spec: SandboxSpec): Promise<Run> {
  const container = await docker.createContainer(containerOptions(spec));
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: true, hijack: true });
    let bytes = 0;
    let firstMs = 0;
    const counter = (): Writable =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (bytes === 0) firstMs = performance.now();
          bytes += chunk.length;
          cb();
        },
      });
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    docker.modem.demuxStream(stream, counter(), counter());
    const startMs = performance.now();
    await container.start();
    await ended;
    return { bytes, startMs, firstMs, endMs: performance.now() };
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

async function viaAgent(target: { url: string; caFile: string; secret: string; controllerId: string }): Promise<Run> {
  const startMs = performance.now();
  const { reply, payload } = await submit(target, { command });
  if (reply.status !== 202) throw new Error(`submit refused: ${reply.text}`);
  const path = `/api/v1/stream/${encodeURIComponent(payload.jobId)}`;
  const ws = new WebSocket(`${target.url.replace('https:', 'wss:')}${path}`, {
    ca: fs.readFileSync(target.caFile),
    headers: signedHeaders(target, 'GET', path),
    perMessageDeflate: false,
  });
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let firstMs = 0;
    let finalStatus: string | null = null;
    ws.on('message', (raw: WebSocket.RawData) => {
      const f = JSON.parse(raw.toString()) as { data: string; final: boolean; status?: string };
      if (f.final) {
        finalStatus = f.status ?? null;
        return;
      }
      if (bytes === 0) firstMs = performance.now();
      bytes += Buffer.byteLength(f.data);
    });
    ws.on('close', (code) => {
      const endMs = performance.now();
      if (code !== 1000 || finalStatus !== 'completed') reject(new Error(`stream closed ${code}, status ${finalStatus}`));
      else resolve({ bytes, startMs, firstMs, endMs });
    });
    ws.on('error', reject);
  });
}

const env = prepareAgentDir({ port: await freePort(), max_output_bytes: 256_000_000, log_level: 'info' });
const cfg = loadConfig(env.configPath, {});
const agent = spawn(process.execPath, ['--import', 'tsx', 'cmd/quickcmd-agent.ts', '--config', env.configPath], { stdio: ['ignore', 'pipe', 'inherit'] });
try {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer): void => {
      out += c.toString();
      if (/agent listening/.test(out)) {
        agent.stdout?.off('data', onData);
        agent.stdout?.resume();
        resolve();
      }
    };
    agent.stdout?.on('data', onData);
    agent.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${out}`)));
  });
  const target = { url: `https://127.0.0.1:${cfg.port}`, caFile: env.pki.caCert, secret: env.secret, controllerId: env.controllerId };
  const docker = new Dockerode();
  const spec: SandboxSpec = {
    jobId: 'bench-stream-throughput',
    agentId: 'bench-stream-throughput',
    image: TEST_IMAGE,
    command,
    env: {},
    cpuLimit: cfg.default_cpu_limit,
    memoryLimit: cfg.default_memory_limit,
    pidsLimit: cfg.default_pids_limit,
    tmpfsSizeBytes: cfg.tmpfs_size_bytes,
    sandboxUser: cfg.sandbox_user,
  };
  console.log(`${megabytes} MB per job (\`${command}\`), cpu ${spec.cpuLimit}, ${rounds} round(s)`);
  for (let i = 0; i < rounds; i++) {
    const raw = await rawAttach(docker, spec);
    console.log(line('raw dockerode attach', raw));
    const ws = await viaAgent(target);
    console.log(line('agent → ws follower', ws));
    console.log(`ratio agent/raw: ${(mbps(ws) / mbps(raw)).toFixed(2)}`);
  }
} finally {
  agent.kill('SIGTERM');
  await new Promise((r) => agent.once('exit', r));
  fs.rmSync(env.dir, { recursive: true, force: true });
}
