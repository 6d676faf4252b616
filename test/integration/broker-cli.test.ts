/**
 * The CLI through a real nats-server (SPEC §10), with the built binary: `quickcmd agents`
 * (table, --selector, --json), `run --agent NAME` and `run --selector k=v` fan-out with the
 * same output, summary and exit status as --group, `job status|logs|cancel` over the
 * broker, AGENT_OFFLINE and BROKER_UNREACHABLE (exit 125), and `quickcmd broker add-*`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { run, type RunResult } from '../helpers/exec.js';
import { controllerConnection, startBrokerAgent, waitForAgents } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/cmd/quickcmd.js');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-broker-cli-'));

let nats: TestNats;
const agents: TestAgent[] = [];
let env: Record<string, string>;

function cli(args: readonly string[], extra: Record<string, string> = {}): Promise<RunResult> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUICKCMD_')) base[k] = v;
  return run(process.execPath, [bin, ...args], { cwd: root, env: { ...base, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NO_COLOR: '1', ...env, ...extra }, timeoutMs: 120_000 });
}

before(async () => {
  assert.ok(fs.existsSync(bin), `${bin} is missing: run npm run build first`);
  await requireDocker();
  nats = await startNats({ agents: ['web1', 'web2', 'db1'], controllers: ['controller-1'] });
  // One secret for the fleet, as one controller would have.
  const first = await startBrokerAgent(nats, 'web1', { labels: { role: 'web', zone: 'a' }, listen: false });
  agents.push(first);
  const reuse = (): { dir: string; pki: typeof first.pki; secret: string } => ({ dir: fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-test-')), pki: first.pki, secret: first.secret });
  agents.push(await startBrokerAgent(nats, 'web2', { labels: { role: 'web', zone: 'b' }, listen: false }, reuse()));
  agents.push(await startBrokerAgent(nats, 'db1', { labels: { role: 'db' }, listen: false }, reuse()));
  const nc = await controllerConnection(nats);
  await waitForAgents(nc, ['web1', 'web2', 'db1']);
  await nc.close();
  env = { QUICKCMD_BROKER: nats.url, QUICKCMD_BROKER_CA: nats.caCert, QUICKCMD_BROKER_CREDS: nats.controllers.get('controller-1')?.seedFile ?? '', QUICKCMD_CONTROLLER_ID: 'controller-1', QUICKCMD_SECRET_FILE: first.secretFile };
});

after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await nats?.stop();
});

const image = (): string[] => ['--image', 'quickcmd-sandbox:latest'];

describe('quickcmd agents', () => {
  it('lists the online agents with their labels, filters by selector, prints JSON', async () => {
    const r = await cli(['agents']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAME\s+LABELS\s+VERSION\s+RUNNING\s+QUEUED\s+LAST SEEN/m);
    for (const n of ['web1', 'web2', 'db1']) assert.match(r.stdout, new RegExp(`^${n}\\s`, 'm'));
    const web = await cli(['agents', '--selector', 'role=web']);
    assert.match(web.stdout, /^web1\s+role=web,zone=a/m);
    assert.doesNotMatch(web.stdout, /db1/);
    const j = JSON.parse((await cli(['agents', '--selector', 'role=web,zone=b', '--json'])).stdout) as { agent: string; labels: Record<string, string> }[];
    assert.deepEqual(j.map((a) => a.agent), ['web2']);
    assert.deepEqual(j[0]?.labels, { role: 'web', zone: 'b' });
  });

  it('a broker that cannot be reached is BROKER_UNREACHABLE, exit 125', async () => {
    const r = await cli(['agents'], { QUICKCMD_BROKER: 'tls://127.0.0.1:1' });
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /BROKER_UNREACHABLE/);
  });
});

describe('run through the broker', () => {
  it('run --agent NAME streams the output and exits with the job\'s code', async () => {
    const r = await cli(['run', '--agent', 'web1', ...image(), '--', 'echo hello-broker; exit 7']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'hello-broker\n');
  });

  it('run --selector fans out like --group: prefixed lines, summary, exit 0 only when all succeed', async () => {
    const r = await cli(['run', '--selector', 'role=web', ...image(), '--', 'echo from-x']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^web1\s*\| from-x$/m);
    assert.match(r.stdout, /^web2\s*\| from-x$/m);
    assert.match(r.stderr, /2 of 2 hosts succeeded/);
    const bad = await cli(['run', '--selector', 'role=web', '--max-failures', '0', '--parallel', '1', ...image(), '--', 'exit 3']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /skipped/);
    const json = JSON.parse((await cli(['run', '--selector', 'role=db', '--json', ...image(), '--', 'echo db'])).stdout) as { agent: string; exit_code: number }[];
    assert.deepEqual(json.map((o) => [o.agent, o.exit_code]), [['db1', 0]]);
  });

  it('an agent that is not online is AGENT_OFFLINE, exit 125; a selector matching nothing too', async () => {
    const r = await cli(['run', '--agent', 'ghost', '--', 'true']);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /AGENT_OFFLINE/);
    const s = await cli(['run', '--selector', 'role=none', '--', 'true']);
    assert.equal(s.code, 125, s.stderr);
    assert.match(s.stderr, /AGENT_OFFLINE/);
  });

  it('job submit, status, logs and cancel go through the broker', async () => {
    const sub = await cli(['job', 'submit', '--agent', 'web2', ...image(), '--', 'echo logged; sleep 30']);
    assert.equal(sub.code, 0, sub.stderr);
    const id = sub.stdout.trim();
    const st = await cli(['job', 'status', '--agent', 'web2', '--json', id]);
    assert.equal(st.code, 0, st.stderr);
    assert.equal((JSON.parse(st.stdout) as { job_id: string }).job_id, id);
    const c = await cli(['job', 'cancel', '--agent', 'web2', id]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /cancel requested/);
    const logs = await cli(['job', 'logs', '--follow', '--agent', 'web2', id]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'logged\n');
  });
});

describe('quickcmd broker add-agent / add-controller', () => {
  it('mints a seed (0600) and prints the user block with the identity\'s permissions', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-mint-'));
    const r = await cli(['broker', 'add-agent', 'edge7', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const block = JSON.parse(r.stdout.replace(/^#.*\n/, '')) as { nkey: string; permissions: { subscribe: { allow: string[] }; publish: { allow: string[] } } };
    assert.match(block.nkey, /^U[A-Z2-7]{55}$/);
    assert.ok(block.permissions.publish.allow.includes('quickcmd.v1.edge7.>'));
    assert.ok(block.permissions.publish.allow.every((s) => !s.startsWith('quickcmd.v1.') || s.startsWith('quickcmd.v1.edge7.')));
    assert.ok(block.permissions.subscribe.allow.includes('quickcmd.v1.edge7.submit'));
    const seed = path.join(out, 'agent-edge7.nk');
    assert.equal(fs.statSync(seed).mode & 0o777, 0o600);
    assert.match(fs.readFileSync(seed, 'utf8'), /^SU[A-Z2-7]+\n$/);
    const again = await cli(['broker', 'add-agent', 'edge7', '--out', out]);
    assert.equal(again.code, 1);
    const bad = await cli(['broker', 'add-controller', 'has.dot', '--out', out]);
    assert.equal(bad.code, 2);
    const ctl = await cli(['broker', 'add-controller', 'ops-1', '--out', out]);
    assert.equal(ctl.code, 0, ctl.stderr);
    assert.match(ctl.stdout, /_QC_INBOX\.ops-1\.>/);
  });
});
