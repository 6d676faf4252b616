/**
 * The agent over a real nats-server (SPEC §10): submit, follow, status and cancel through
 * the broker with `listen: false`, the same door (target binding, signatures, audit) and
 * the same routes as HTTPS; bad input never crashes the agent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { rpcSubject, submitSubject } from '../../internal/agent/broker/subjects.js';
import { encodeJobBody } from '../../internal/agent/wire/signing.js';
import { seal, unseal } from '../../internal/agent/wire/seal.js';
import { buildPayload, newJobId } from '../../internal/controller/job-request.js';
import { TEST_IMAGE, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { brokerClient, controllerConnection, startBrokerAgent, waitForAgents } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { request, submit as httpsSubmit, payload as httpsPayload, waitForEnd } from '../helpers/client.js';

let nats: TestNats;
let a1: TestAgent;
let both: TestAgent;
let nc: NatsConnection;

before(async () => {
  await requireDocker();
  nats = await startNats({ agents: ['a1', 'both'], controllers: ['controller-1'] });
  [a1, both] = await Promise.all([startBrokerAgent(nats, 'a1', { listen: false, max_request_bytes: 65536 }), startBrokerAgent(nats, 'both')]);
  nc = await controllerConnection(nats);
  await waitForAgents(nc, ['a1', 'both']);
});

after(async () => {
  await nc?.close();
  await Promise.all([a1?.stop(), both?.stop()]);
  await nats?.stop();
});

function rawRequest(subject: string, data: Buffer | string): Promise<{ status: number; body: Record<string, unknown>; sealed: boolean }> {
  return nc.request(subject, data, { timeout: 10_000 }).then((m) => {
    try {
      const r = unseal(m.data, () => [Buffer.from(a1.secret)], { kind: 'messages' }, m.subject);
      return { ...(JSON.parse(r.plaintext.toString()) as { status: number; body: Record<string, unknown> }), sealed: true };
    } catch {
      return { ...(JSON.parse(Buffer.from(m.data).toString()) as { status: number; body: Record<string, unknown> }), sealed: false };
    }
  });
}

describe('jobs through the broker', () => {
  it('listen: false binds no port, and a job runs, streams and reports through the broker', async () => {
    assert.equal(a1.port, 0);
    assert.equal(a1.agent.server.listening, false);
    const c = brokerClient(nc, 'a1', a1);
    const { jobId } = await c.submit({ command: 'echo out-line; echo err-line >&2; exit 3', image: TEST_IMAGE });
    const frames: string[] = [];
    const fin = await c.follow(jobId, { onFrame: (f) => frames.push(`${f.stream}:${f.data}`) });
    assert.equal(fin.final, true);
    assert.equal(fin.exit_code, 3);
    assert.ok(frames.join('').includes('stdout:out-line'), frames.join('|'));
    assert.ok(frames.join('').includes('stderr:err-line'), frames.join('|'));
    const s = await c.status(jobId);
    assert.equal(s.status, 'completed');
    assert.equal(s.result?.stdout, 'out-line\n');
    c.close();
  });

  it('cancel and the frames route work over the broker', async () => {
    const c = brokerClient(nc, 'a1', a1);
    const { jobId } = await c.submit({ command: 'echo started; sleep 30', image: TEST_IMAGE });
    const started = new Promise<void>((resolve) => {
      void c.follow(jobId, { onFrame: (f) => (f.data.includes('started') ? resolve() : undefined) }).catch(() => undefined);
    });
    await started;
    const r = await c.cancel(jobId);
    assert.equal(r.jobId, jobId);
    const rep = await c.rpc('GET', `/api/v1/jobs/${jobId}/frames?from_seq=0`);
    assert.equal(rep.status, 200);
    const page = JSON.parse(rep.text) as { frames: { seq: number; data: string }[]; final: boolean };
    assert.equal(page.frames[0]?.data, 'started\n');
    const after1 = JSON.parse((await c.rpc('GET', `/api/v1/jobs/${jobId}/frames?from_seq=1`)).text) as { frames: { seq: number }[] };
    assert.ok(after1.frames.every((f) => f.seq > 1));
    c.close();
  });

  it('the frames route is served over HTTPS too', async () => {
    const t = { url: both.url, caFile: both.pki.caCert, secret: both.secret, controllerId: both.controllerId };
    const p = httpsPayload(t, { command: 'echo via-https', candidateMetadata: { sandbox: { image: TEST_IMAGE } } });
    const { reply } = await httpsSubmit(t, p);
    assert.equal(reply.status, 202, reply.text);
    await waitForEnd(t, p.jobId);
    const { signedHeaders } = await import('../helpers/client.js');
    const path = `/api/v1/jobs/${p.jobId}/frames?from_seq=0`;
    const r = await request(t, 'GET', path, undefined, signedHeaders(t, 'GET', path));
    assert.equal(r.status, 200, r.text);
    const page = JSON.parse(r.text) as { frames: { data: string; final: boolean }[]; final: boolean };
    assert.equal(page.final, true);
    assert.equal(page.frames[0]?.data, 'via-https\n');
    assert.equal(page.frames.at(-1)?.final, true);
  });
});

describe('target binding and refusals', () => {
  const sealedSubmit = (agent: TestAgent, name: string, meta: Record<string, unknown>) => {
    const p = { ...buildPayload({ command: 'true', image: TEST_IMAGE }, agent.controllerId, Math.floor(Date.now() / 1000), newJobId()), candidateMetadata: meta };
    const body = encodeJobBody(p, Buffer.from(agent.secret));
    return rawRequest(submitSubject(name), seal(Buffer.from(agent.secret), agent.controllerId, { kind: 'messages' }, submitSubject(name), body));
  };

  it('a job naming another agent, or none, is 403 TARGET_MISMATCH through the broker', async () => {
    const other = await sealedSubmit(a1, 'a1', { target_agent: 'both' });
    assert.equal(other.status, 403);
    assert.equal(other.body['code'], 'TARGET_MISMATCH');
    assert.equal(other.sealed, true);
    const none = await sealedSubmit(a1, 'a1', {});
    assert.equal(none.body['code'], 'TARGET_MISMATCH');
  });

  it('over HTTPS a job naming another agent is 403 TARGET_MISMATCH; one naming none still runs', async () => {
    const t = { url: both.url, caFile: both.pki.caCert, secret: both.secret, controllerId: both.controllerId };
    const { reply } = await httpsSubmit(t, httpsPayload(t, { candidateMetadata: { target_agent: 'a1' } }));
    assert.equal(reply.status, 403);
    assert.match(reply.text, /TARGET_MISMATCH/);
    const ok = await httpsSubmit(t, httpsPayload(t, { command: 'true', candidateMetadata: { target_agent: 'both', sandbox: { image: TEST_IMAGE } } }));
    assert.equal(ok.reply.status, 202, ok.reply.text);
  });

  it('malformed, unsealed, wrong-key and unknown-controller messages get a plain 401 and are audited with the broker identity', async () => {
    for (const data of ['', 'not json', '{"v":1}', JSON.stringify({ command: 'echo hi' })]) {
      const r = await rawRequest(submitSubject('a1'), data);
      assert.equal(r.status, 401, data);
      assert.equal(r.body['code'], 'INVALID_SIGNATURE');
      assert.equal(r.sealed, false);
    }
    const wrong = await rawRequest(submitSubject('a1'), seal(Buffer.from('x'.repeat(32)), a1.controllerId, { kind: 'messages' }, submitSubject('a1'), '{}'));
    assert.equal(wrong.body['code'], 'INVALID_SIGNATURE');
    const unknown = await rawRequest(submitSubject('a1'), seal(Buffer.from(a1.secret), 'stranger', { kind: 'messages' }, submitSubject('a1'), '{}'));
    assert.equal(unknown.body['code'], 'INVALID_SIGNATURE');
    // Sealed for another subject (replayed from rpc to submit): does not open.
    const moved = await rawRequest(submitSubject('a1'), seal(Buffer.from(a1.secret), a1.controllerId, { kind: 'messages' }, rpcSubject('a1'), '{}'));
    assert.equal(moved.body['code'], 'INVALID_SIGNATURE');
    const rpcBad = await rawRequest(rpcSubject('a1'), 'garbage');
    assert.equal(rpcBad.body['code'], 'INVALID_SIGNATURE');
    a1.agent.audit.flush();
    const rows = a1.agent.db.prepare("SELECT remote_addr, details FROM audit_events WHERE type IN ('job.rejected','request.unauthenticated') ORDER BY seq").all() as { remote_addr: string; details: string }[];
    assert.ok(rows.length >= 7, `only ${rows.length} audit rows`);
    for (const r of rows.slice(-7)) assert.equal(r.remote_addr, 'nats:controller-1');
    // Still alive and serving.
    const c = brokerClient(nc, 'a1', a1);
    const { jobId } = await c.submit({ command: 'true', image: TEST_IMAGE });
    assert.equal((await c.follow(jobId, { onFrame: () => undefined })).exit_code, 0);
    c.close();
  });

  it('an rpc without its signature headers, or signed as another controller, is refused', async () => {
    const body = JSON.stringify({ method: 'GET', path: '/api/v1/jobs/x', body: '', headers: {} });
    const r = await rawRequest(rpcSubject('a1'), seal(Buffer.from(a1.secret), a1.controllerId, { kind: 'messages' }, rpcSubject('a1'), body));
    assert.equal(r.status, 401);
    assert.equal(r.body['code'], 'UNAUTHENTICATED');
    const bad = await rawRequest(rpcSubject('a1'), seal(Buffer.from(a1.secret), a1.controllerId, { kind: 'messages' }, rpcSubject('a1'), '[1]'));
    assert.equal(bad.status, 400);
  });

  it('a submission over max_request_bytes is REQUEST_TOO_LARGE', async () => {
    const big = Buffer.alloc(100 * 1024, 'a');
    const r = await rawRequest(submitSubject('a1'), seal(Buffer.from(a1.secret), a1.controllerId, { kind: 'messages' }, submitSubject('a1'), big));
    assert.equal(r.status, 413);
    assert.equal(r.body['code'], 'REQUEST_TOO_LARGE');
    // Past the server's max_payload the controller refuses before sending.
    const c = brokerClient(nc, 'a1', a1);
    await assert.rejects(c.submit({ command: 'x'.repeat(1024 * 1024) }), (e: Error & { code?: string }) => e.code === 'REQUEST_TOO_LARGE');
    c.close();
  });

  it('an agent that is not connected is AGENT_OFFLINE', async () => {
    const c = brokerClient(nc, 'nobody', a1);
    await assert.rejects(c.submit({ command: 'true' }), (e: Error & { code?: string }) => e.code === 'AGENT_OFFLINE');
    c.close();
  });
});


