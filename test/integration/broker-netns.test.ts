/**
 * The headline of SPEC §10, for real: an agent in its own network namespace (a veth
 * pair, addresses of this test's own) whose firewall admits no inbound connection, only
 * replies to its own outbound ones. HTTPS to it fails although it listens; the same job
 * through the broker runs and streams. The namespace is removed even when a step fails.
 */
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { prepareAgentDir, TEST_IMAGE } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { ensureCommand } from '../helpers/exec.js';
import { brokerClient, controllerConnection, waitForAgents } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tag = crypto.randomBytes(3).toString('hex');
const ns = `qc13-${tag}`;
const vethHost = `qh${tag}`;
const vethNs = `qn${tag}`;
const octet = 16 + (crypto.randomBytes(1)[0] as number) % 200;
const hostIp = `10.213.${octet}.1`;
const nsIp = `10.213.${octet}.2`;
const AGENT_PORT = 18443;

let nats: TestNats;
let child: ChildProcess | null = null;
let nc: NatsConnection | null = null;
let env: ReturnType<typeof prepareAgentDir>;
let out = '';

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function cleanup(): void {
  child?.kill('SIGKILL');
  child = null;
  try {
    sh('ip', ['netns', 'del', ns]);
  } catch {
    // Not created, or already gone.
  }
  try {
    sh('ip', ['link', 'del', vethHost]);
  } catch {
    // Went with the namespace.
  }
}

before(async () => {
  await requireDocker();
  await ensureCommand('iptables', 'iptables');
  process.once('exit', cleanup);
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs]);
  sh('ip', ['link', 'set', vethNs, 'netns', ns]);
  sh('ip', ['addr', 'add', `${hostIp}/30`, 'dev', vethHost]);
  sh('ip', ['link', 'set', vethHost, 'up']);
  sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', vethNs]);
  sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', vethNs, 'up']);
  sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  // No inbound connection at all; only replies to what the agent opened itself.
  for (const rule of [['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT'], ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'], ['-P', 'INPUT', 'DROP']]) {
    sh('ip', ['netns', 'exec', ns, 'iptables', ...rule]);
  }
  nats = await startNats({ agents: ['hidden'], controllers: ['controller-1'], host: hostIp });
  env = prepareAgentDir({
    agent_name: 'hidden',
    bind_address: '0.0.0.0',
    port: AGENT_PORT,
    broker: { url: nats.url, ca_file: nats.caCert, nkey_seed_file: nats.agents.get('hidden')?.seedFile },
    log_level: 'info',
  });
  const bin = path.join(root, 'dist/cmd/quickcmd-agent.js');
  assert.ok(fs.existsSync(bin), 'run npm run build first');
  child = spawn('ip', ['netns', 'exec', ns, process.execPath, bin, '--config', env.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  nc = await controllerConnection(nats);
  await waitForAgents(nc, ['hidden'], 30_000).catch((e: Error) => {
    throw new Error(`${e.message}\nagent output:\n${out}`);
  });
});

after(async () => {
  await nc?.close().catch(() => undefined);
  cleanup();
  await nats?.stop();
});

function httpsHealth(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(`${url}/health`, { ca: fs.readFileSync(env.pki.caCert), timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('connect timed out')));
    req.on('error', reject);
  });
}

describe('an agent behind a firewall that admits no inbound connection', () => {
  it('listens (reachable from inside its namespace) but HTTPS from outside fails', async () => {
    const inside = sh('ip', ['netns', 'exec', ns, 'curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${AGENT_PORT}/health`]);
    assert.match(inside, /^(200|503)$/);
    await assert.rejects(httpsHealth(`https://${nsIp}:${AGENT_PORT}`), /timed out|ECONNREFUSED|EHOSTUNREACH/);
  });

  it('the same job through the broker runs and streams', async () => {
    const c = brokerClient(nc as NatsConnection, 'hidden', { secret: env.secret, controllerId: env.controllerId });
    const { jobId } = await c.submit({ command: 'for i in 1 2 3; do echo line-$i; sleep 0.2; done', image: TEST_IMAGE });
    const frames: string[] = [];
    const fin = await c.follow(jobId, { onFrame: (f) => frames.push(f.data) });
    assert.equal(fin.exit_code, 0);
    assert.ok(frames.length >= 2, `streamed in ${frames.length} frame(s)`);
    assert.equal(frames.join(''), 'line-1\nline-2\nline-3\n');
    assert.equal((await c.status(jobId)).status, 'completed');
    c.close();
  });
});
