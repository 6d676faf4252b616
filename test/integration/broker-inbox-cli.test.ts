/**
 * The offline inbox through the built CLI (issue 14): `run --queue` for an agent that is
 * not running prints the job id, waits, and streams the job once the agent starts (exit
 * with its code); `job submit --queue=always` and `job status` saying queued-offline;
 * `broker init`; INBOX_UNAVAILABLE with exit 125 on a broker without JetStream.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BrokerAgentClient } from '../../internal/controller/broker-client.js';
import { prepareAgentDir, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { run, type RunResult } from '../helpers/exec.js';
import { controllerConnection } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { until } from '../helpers/wait.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/cmd/quickcmd.js');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-inbox-cli-'));

let nats: TestNats;
const agents: TestAgent[] = [];
const prepared = prepareAgentDir();

function cli(n: TestNats, args: readonly string[]): Promise<RunResult> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUICKCMD_')) base[k] = v;
  const env = { QUICKCMD_BROKER: n.url, QUICKCMD_BROKER_CA: n.caCert, QUICKCMD_BROKER_CREDS: n.controllers.get('controller-1')?.seedFile ?? '', QUICKCMD_CONTROLLER_ID: 'controller-1', QUICKCMD_SECRET_FILE: prepared.secretFile };
  return run(process.execPath, [bin, ...args], { cwd: root, env: { ...base, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NO_COLOR: '1', ...env }, timeoutMs: 120_000 });
}

function startAgent(name: string): Promise<TestAgent> {
  const id = nats.agents.get(name);
  if (id === undefined) throw new Error(`no identity for ${name}`);
  return startTestAgent(
    { agent_name: name, listen: false, broker: { url: nats.url, ca_file: nats.caCert, nkey_seed_file: id.seedFile }, heartbeat_seconds: 1 },
    { inbox: { retryMs: 200, laterMs: 200 } },
    { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-test-')), pki: prepared.pki, secret: prepared.secret },
  ).then((t) => {
    agents.push(t);
    return t;
  });
}

before(async () => {
  assert.ok(fs.existsSync(bin), `${bin} is missing: run npm run build first`);
  await requireDocker();
  nats = await startNats({ agents: ['late1', 'late2'], controllers: ['controller-1'], jetstream: true });
});

after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await nats?.stop();
});

describe('quickcmd and the offline inbox', () => {
  it('broker init creates the stream once', async () => {
    const a = await cli(nats, ['broker', 'init', '--max-msgs-per-agent', '50']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /created stream QUICKCMD_INBOX \(max 50 jobs per agent/);
    const b = await cli(nats, ['broker', 'init']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /stream QUICKCMD_INBOX exists/);
  });

  it('run --queue for an offline agent waits, then streams the job and exits with its code', async () => {
    const running = cli(nats, ['run', '--queue', '--agent', 'late1', '--image', 'quickcmd-sandbox:latest', '--', 'echo delivered-later; exit 7']);
    const nc = await controllerConnection(nats);
    try {
      const probe = new BrokerAgentClient(nc, 'late1', { controllerId: 'controller-1', secret: Buffer.from(prepared.secret) });
      // Nothing is running for late1 yet: the job must be sitting in the stream.
      const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(nc);
      await until('the job stored in the inbox', async () => ((await jsm.streams.info('QUICKCMD_INBOX')).state.messages > 0 ? true : undefined), 60_000, 100);
      probe.close();
    } finally {
      await nc.close();
    }
    await startAgent('late1');
    const r = await running;
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'delivered-later\n');
    assert.match(r.stderr, /agent late1: job job-[0-9a-f-]+ queued in its offline inbox; it runs when the agent connects, never after \d{4}-/);
  });

  it('job submit --queue=always prints the id; job status says queued-offline until the agent takes it', async () => {
    const s = await cli(nats, ['job', 'submit', '--queue=always', '--agent', 'late2', '--image', 'quickcmd-sandbox:latest', '--', 'echo hi']);
    assert.equal(s.code, 0, s.stderr);
    const id = s.stdout.trim();
    assert.match(id, /^job-/);
    const st = await cli(nats, ['job', 'status', '--agent', 'late2', '--json', id]);
    assert.equal(st.code, 0, st.stderr);
    assert.deepEqual(JSON.parse(st.stdout), { job_id: id, status: 'queued-offline', result: null });
    const table = await cli(nats, ['job', 'status', '--agent', 'late2', id]);
    assert.match(table.stdout, /STATUS\s+queued-offline/);
    await startAgent('late2');
    await until('the queued job completed', async () => {
      const r = await cli(nats, ['job', 'status', '--agent', 'late2', '--json', id]);
      return r.code === 0 && (JSON.parse(r.stdout) as { status: string }).status === 'completed' ? true : undefined;
    }, 60_000, 250);
  });

  it('--queue on a broker without JetStream: INBOX_UNAVAILABLE, exit 125', async () => {
    const plain = await startNats({ agents: ['gone'], controllers: ['controller-1'] });
    try {
      const r = await cli(plain, ['run', '--queue=always', '--agent', 'gone', '--', 'true']);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, /INBOX_UNAVAILABLE/);
    } finally {
      await plain.stop();
    }
  });

  it('--queue without a broker is a usage error (exit 2)', async () => {
    const r = await run(process.execPath, [bin, 'run', '--queue', '--agent', 'https://127.0.0.1:1', '--controller-id', 'c', '--secret-file', prepared.secretFile, '--', 'true'], { cwd: root, env: { PATH: process.env['PATH'] ?? '', HOME: home, NO_COLOR: '1' }, timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--queue needs a broker/);
  });
});
