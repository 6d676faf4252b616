/**
 * The broker's side of the trust model, on a real nats-server (SPEC §10): the
 * per-identity permissions keep agent `a` from subscribing to `b`'s submit subject or
 * publishing as `b`; the shipped deployments/nats/nats-server.conf parses; and a
 * subscriber with full rights on every subject who watches a whole job sees no command
 * text, parameter or output byte.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { agentPermissions, controllerPermissions } from '../../internal/agent/broker/broker-permissions.js';
import { heartbeatSubject, submitSubject } from '../../internal/agent/broker/subjects.js';
import { TEST_IMAGE, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { brokerClient, controllerConnection, startBrokerAgent, waitForAgents } from '../helpers/fleet.js';
import { natsServerBin, startNats, type NatsIdentity, type TestNats } from '../helpers/nats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let nats: TestNats;
const conns: NatsConnection[] = [];

async function as(id: NatsIdentity): Promise<NatsConnection> {
  const nc = await connect({ servers: `127.0.0.1:${nats.port}`, tls: { ca: fs.readFileSync(nats.caCert, 'utf8') }, authenticator: nkeyAuthenticator(new TextEncoder().encode(id.seed)) });
  conns.push(nc);
  return nc;
}

/** The next 'error' status of `nc` (the server's -ERR for a permissions violation). */
async function nextError(nc: NatsConnection): Promise<string> {
  for await (const s of nc.status()) if (s.type === 'error') return String(s.error);
  return '';
}

before(async () => {
  nats = await startNats({ agents: ['a', 'b'], controllers: ['controller-1'] });
});

after(async () => {
  for (const c of conns) await c.close().catch(() => undefined);
  await nats?.stop();
});

describe('per-identity permissions', () => {
  it("agent a cannot subscribe to b's submit subject", async () => {
    const a = await as(nats.agents.get('a') as NatsIdentity);
    const ctl = await as(nats.controllers.get('controller-1') as NatsIdentity);
    const got: string[] = [];
    const denied = new Promise<string>((resolve) => {
      a.subscribe(submitSubject('b'), { callback: (err, m) => (err !== null ? resolve(err.message) : got.push(m.string())) });
    });
    assert.match(await denied, /permission/i);
    ctl.publish(submitSubject('b'), 'for b only');
    await ctl.flush();
    // a's own subject, published after: a sees it, so anything routed to a before it would have arrived first.
    const own = new Promise<void>((resolve) => a.subscribe(submitSubject('a'), { callback: () => resolve() }));
    await a.flush();
    ctl.publish(submitSubject('a'), 'for a');
    await own;
    assert.deepEqual(got, []);
  });

  it('agent a cannot publish as b (its heartbeat subject), only as itself', async () => {
    const a = await as(nats.agents.get('a') as NatsIdentity);
    const spy = await as(nats.spy);
    const seen: string[] = [];
    const ownArrived = new Promise<void>((resolve) => {
      spy.subscribe('quickcmd.v1.>', { callback: (_e, m) => {
        seen.push(m.subject);
        if (m.subject === heartbeatSubject('a')) resolve();
      } });
    });
    await spy.flush();
    const err = nextError(a);
    a.publish(heartbeatSubject('b'), 'forged');
    assert.match(await err, /permission/i);
    a.publish(heartbeatSubject('a'), 'genuine');
    await ownArrived;
    assert.deepEqual(seen, [heartbeatSubject('a')]);
  });

  it('the permission builder gives each identity only its own subjects', () => {
    const a = agentPermissions('a');
    assert.ok(a.publish.allow.includes('quickcmd.v1.a.>'));
    // Everything else it may touch is its own (subjects named after it) or discovery.
    for (const s of [...a.publish.allow, ...a.subscribe.allow]) {
      assert.ok(!s.includes('.b.') && !s.includes('*'), s);
      if (s.startsWith('quickcmd.v1.')) assert.ok(s.startsWith('quickcmd.v1.a.') || s === 'quickcmd.v1.discover', s);
      if (s.endsWith('>')) assert.ok(/(^|\.)a\./.test(s) || s.includes('inbox-a'), s);
    }
    assert.ok(controllerPermissions('c1').subscribe.allow.includes('_QC_INBOX.c1.>'));
  });

  it('deployments/nats/nats-server.conf is a config nats-server accepts', () => {
    const conf = fs.readFileSync(path.join(root, 'deployments/nats/nats-server.conf'), 'utf8');
    // Test the file with loadable TLS paths; everything else as shipped.
    const tmp = path.join(nats.dir, 'shipped.conf');
    const real = conf.replace('/etc/nats/server.crt', nats.pki.serverCert).replace('/etc/nats/server.key', nats.pki.serverKey)
      .replace(/UAGENTWEB1\w+/, nats.agents.get('a')?.publicKey ?? '').replace(/UCONTROLLEROPS1\w+/, nats.controllers.get('controller-1')?.publicKey ?? '');
    fs.writeFileSync(tmp, real);
    const out = execFileSync(natsServerBin(), ['-t', '-c', tmp], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out + 'ok', /ok/);
  });
});

describe('a full-rights watcher on the broker', () => {
  let agent: TestAgent;
  before(async () => {
    await requireDocker();
    agent = await startBrokerAgent(nats, 'a', { listen: false });
  });
  after(async () => agent?.stop());

  it('sees no command text, parameter or output byte of a job it watched from start to end', async () => {
    const spy = await as(nats.spy);
    const seen: Buffer[] = [];
    spy.subscribe('>', { callback: (_e, m) => seen.push(Buffer.from(m.subject), Buffer.from(m.data)) });
    await spy.flush();
    const nc = await controllerConnection(nats);
    conns.push(nc);
    await waitForAgents(nc, ['a']);
    const c = brokerClient(nc, 'a', agent);
    // The output marker is computed in the container: it appears in no request.
    const { jobId } = await c.submit({ command: 'echo CMDMARK-$((6*7))-OUT; echo "$SECRETPARAM"', image: TEST_IMAGE, env: { SECRETPARAM: 'PARAMMARK-9f3c' } });
    const out: string[] = [];
    await c.follow(jobId, { onFrame: (f) => out.push(f.data) });
    const s = await c.status(jobId);
    assert.equal(s.result?.stdout, 'CMDMARK-42-OUT\nPARAMMARK-9f3c\n');
    assert.ok(out.join('').includes('CMDMARK-42-OUT'));
    await spy.flush();
    const all = Buffer.concat(seen).toString('latin1');
    assert.ok(seen.length >= 4, `the watcher saw only ${seen.length} messages`);
    for (const marker of ['CMDMARK', '$((6*7))', 'SECRETPARAM', 'PARAMMARK', '9f3c', 'CMDMARK-42-OUT']) {
      assert.ok(!all.includes(marker), `the broker saw ${marker}`);
    }
    assert.ok(all.includes(jobId), 'job ids are visible to the broker (subjects), as SPEC §10 says');
    c.close();
  });
});
