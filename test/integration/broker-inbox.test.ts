/**
 * The offline inbox on a real nats-server with JetStream (SPEC §10, issue 14): a job queued
 * for an agent that is not running runs once when it starts; an expired one never runs and
 * is audited JOB_EXPIRED; ten queued jobs are accepted in order; an agent that dies between
 * accept and ack does not run the job twice; a full queue leaves a job for redelivery; agent `a` cannot consume `b`'s inbox; a
 * server without JetStream answers INBOX_UNAVAILABLE.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { INBOX_STREAM, inboxDurable } from '../../internal/agent/broker/inbox-stream.js';
import { inboxSubject } from '../../internal/agent/broker/subjects.js';
import type { AgentDeps } from '../../internal/agent/create-agent.js';
import { ensureInboxStream } from '../../internal/controller/broker-inbox.js';
import { ControllerError } from '../../internal/controller/controller-error.js';
import { prepareAgentDir, startTestAgent, TEST_IMAGE, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { brokerClient, controllerConnection } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { until } from '../helpers/wait.js';

let nats: TestNats;
let nc: NatsConnection;
const running: TestAgent[] = [];

/** A prepared (not started) agent directory: its secret is known before the agent runs. */
type Prepared = ReturnType<typeof prepareAgentDir>;

function start(p: Prepared, name: string, overrides: Record<string, unknown> = {}, deps: AgentDeps = {}): Promise<TestAgent> {
  const id = nats.agents.get(name);
  if (id === undefined) throw new Error(`no identity for ${name}`);
  return startTestAgent(
    { agent_name: name, listen: false, broker: { url: nats.url, ca_file: nats.caCert, nkey_seed_file: id.seedFile }, heartbeat_seconds: 1, ...overrides },
    { inbox: { retryMs: 200, laterMs: 200, ackWaitMs: 2000 }, ...deps },
    { dir: p.dir, pki: p.pki, secret: p.secret },
  ).then((t) => {
    running.push(t);
    return t;
  });
}

function rows(t: TestAgent, sql: string, ...args: unknown[]): Record<string, unknown>[] {
  return t.agent.db.prepare(sql).all(...args) as Record<string, unknown>[];
}

before(async () => {
  await requireDocker();
  nats = await startNats({ agents: ['q1', 'q2', 'q3', 'q4', 'q5', 'qa', 'qb'], controllers: ['controller-1'], jetstream: true });
  nc = await controllerConnection(nats);
  assert.equal(await ensureInboxStream(nc), 'created');
  assert.equal(await ensureInboxStream(nc), 'exists');
});

after(async () => {
  await Promise.all(running.map((t) => t.stop()));
  await nc?.close();
  await nats?.stop();
});

describe('offline inbox', () => {
  it('a job queued for an agent that is not running runs once when it starts, and status says queued-offline until then', async () => {
    const p = prepareAgentDir();
    const c = brokerClient(nc, 'q1', { secret: p.secret, controllerId: p.controllerId });
    const { jobId } = await c.queue({ command: 'echo from-the-inbox', image: TEST_IMAGE, ttlSeconds: 600 });
    assert.equal(await c.isQueuedOffline(jobId), true);
    assert.equal(await c.isQueuedOffline('job-not-there'), false);
    await assert.rejects(c.status(jobId), (e: unknown) => e instanceof ControllerError && e.code === 'AGENT_OFFLINE');
    const t = await start(p, 'q1');
    const fin = await c.follow(jobId, { onFrame: () => undefined });
    assert.equal(fin.status, 'completed');
    assert.equal((await c.status(jobId)).result?.stdout, 'from-the-inbox\n');
    assert.equal(await c.isQueuedOffline(jobId), false, 'acked: no longer in the stream');
    const accepted = rows(t, "SELECT remote_addr FROM audit_events WHERE type = 'job.accepted' AND job_id = ?", jobId);
    assert.deepEqual(accepted, [{ remote_addr: 'nats:inbox' }]);
    c.close();
  });

  it('never runs a job whose TTL passed while it waited: refused JOB_EXPIRED, audited, acked', async () => {
    const p = prepareAgentDir();
    const c = brokerClient(nc, 'q2', { secret: p.secret, controllerId: p.controllerId });
    // Signed 10 s ago with a 5 s TTL: it expired 5 s before the agent starts.
    const { jobId } = await c.queue({ command: 'echo must-not-run', image: TEST_IMAGE, ttlSeconds: 5 }, Date.now() - 10_000);
    const t = await start(p, 'q2');
    await until('the expired job audited', () => (rows(t, "SELECT 1 FROM audit_events WHERE type = 'job.rejected' AND job_id = ?", jobId).length > 0) || undefined, 20_000);
    const [rej] = rows(t, "SELECT details FROM audit_events WHERE type = 'job.rejected' AND job_id = ?", jobId);
    assert.match(String(rej?.['details']), /JOB_EXPIRED/);
    assert.deepEqual(rows(t, 'SELECT job_id FROM jobs WHERE job_id = ?', jobId), []);
    await until('the expired job acked', async () => (!(await c.isQueuedOffline(jobId))) || undefined, 10_000);
    c.close();
  });

  it('ten queued jobs are accepted and run in the order they were queued', async () => {
    const p = prepareAgentDir();
    const c = brokerClient(nc, 'q3', { secret: p.secret, controllerId: p.controllerId });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await c.queue({ command: `echo n${i}`, image: TEST_IMAGE, ttlSeconds: 600 })).jobId);
    const t = await start(p, 'q3', { max_concurrent_jobs: 1 });
    for (const id of ids) assert.equal((await c.follow(id, { onFrame: () => undefined })).status, 'completed');
    const accepted = rows(t, "SELECT job_id FROM audit_events WHERE type = 'job.accepted' ORDER BY seq").map((r) => r['job_id']);
    assert.deepEqual(accepted, ids);
    const started = rows(t, "SELECT job_id FROM audit_events WHERE type = 'job.started' ORDER BY seq").map((r) => r['job_id']);
    assert.deepEqual(started, ids);
    c.close();
  });

  it('an agent that dies between accept and ack does not run the job twice: the redelivery is DUPLICATE_JOB and acked', async () => {
    const p = prepareAgentDir();
    const c = brokerClient(nc, 'q4', { secret: p.secret, controllerId: p.controllerId });
    const { jobId } = await c.queue({ command: 'echo once', image: TEST_IMAGE, ttlSeconds: 600 });
    let reached!: () => void;
    const atCrashPoint = new Promise<void>((r) => (reached = r));
    // The crash point: the door has accepted; the ack is never sent by this instance.
    const first = await start(p, 'q4', {}, { inbox: { retryMs: 200, laterMs: 200, ackWaitMs: 2000, beforeAck: () => (reached(), new Promise<void>(() => undefined)) } });
    await atCrashPoint;
    await c.follow(jobId, { onFrame: () => undefined });
    await first.stop();
    running.splice(running.indexOf(first), 1);
    assert.equal(await c.isQueuedOffline(jobId), true, 'not acked: still in the stream');
    const second = await start(p, 'q4');
    await until('the redelivery refused', () => (rows(second, "SELECT 1 FROM audit_events WHERE type = 'job.rejected' AND job_id = ?", jobId).length > 0) || undefined, 20_000);
    const [rej] = rows(second, "SELECT details FROM audit_events WHERE type = 'job.rejected' AND job_id = ?", jobId);
    assert.match(String(rej?.['details']), /DUPLICATE_JOB/);
    assert.equal(rows(second, "SELECT 1 FROM audit_events WHERE type = 'job.started' AND job_id = ?", jobId).length, 1, 'started once');
    await until('the redelivery acked', async () => (!(await c.isQueuedOffline(jobId))) || undefined, 10_000);
    c.close();
  });

  it('a full queue (429) leaves the job in the inbox for redelivery; it runs once a slot frees', async () => {
    const p = prepareAgentDir();
    const c = brokerClient(nc, 'q5', { secret: p.secret, controllerId: p.controllerId });
    const first = await c.queue({ command: 'sleep 2; echo first', image: TEST_IMAGE, ttlSeconds: 600 });
    const second = await c.queue({ command: 'echo second', image: TEST_IMAGE, ttlSeconds: 600 });
    const t = await start(p, 'q5', { max_concurrent_jobs: 1, max_queued_jobs: 0 });
    assert.equal((await c.follow(first.jobId, { onFrame: () => undefined })).status, 'completed');
    assert.equal((await c.follow(second.jobId, { onFrame: () => undefined })).status, 'completed');
    assert.equal((await c.status(second.jobId)).result?.stdout, 'second\n');
    const refusals = rows(t, "SELECT details FROM audit_events WHERE type = 'job.rejected' AND job_id = ?", second.jobId);
    assert.ok(refusals.length >= 1 && refusals.every((r) => /QUEUE_FULL/.test(String(r['details']))), JSON.stringify(refusals));
    assert.equal(rows(t, "SELECT 1 FROM audit_events WHERE type = 'job.started' AND job_id = ?", second.jobId).length, 1);
    c.close();
  });

  it('agent qa cannot consume qb\'s inbox', async () => {
    const seed = fs.readFileSync(nats.agents.get('qa')?.seedFile ?? '').toString().trim();
    const qa = await connect({ servers: nats.url.replace('tls://', ''), tls: { ca: fs.readFileSync(nats.caCert, 'utf8') }, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)), inboxPrefix: '_QC_AGENT.qa' });
    try {
      const jsm = await jetstreamManager(qa);
      // Its own consumer is fine.
      await jsm.consumers.add(INBOX_STREAM, { durable_name: inboxDurable('qa'), filter_subject: inboxSubject('qa'), ack_policy: AckPolicy.Explicit, max_ack_pending: 1 });
      // qb's durable, and its own durable name over qb's subject, are both refused.
      await assert.rejects(jsm.consumers.add(INBOX_STREAM, { durable_name: inboxDurable('qb'), filter_subject: inboxSubject('qb'), ack_policy: AckPolicy.Explicit }), /permission|timeout/i);
      await assert.rejects(jsm.consumers.add(INBOX_STREAM, { durable_name: inboxDurable('qa'), filter_subject: inboxSubject('qb'), ack_policy: AckPolicy.Explicit }), /permission|timeout/i);
      await assert.rejects(qa.request(`$JS.API.CONSUMER.MSG.NEXT.${INBOX_STREAM}.${inboxDurable('qb')}`, JSON.stringify({ batch: 1 }), { timeout: 1500 }), /permission|timeout/i);
    } finally {
      await qa.close();
    }
    // The server itself refused each (not a timeout of ours).
    for (const subject of [`$JS.API.CONSUMER.CREATE.${INBOX_STREAM}.inbox-qb.quickcmd.v1.qb.inbox`, `$JS.API.CONSUMER.CREATE.${INBOX_STREAM}.inbox-qa.quickcmd.v1.qb.inbox`, `$JS.API.CONSUMER.MSG.NEXT.${INBOX_STREAM}.inbox-qb`]) {
      await until(`the server's publish violation for ${subject}`, () => (nats.output().includes(`Publish Violation - Nkey "${nats.agents.get('qa')?.publicKey}", Subject "${subject}"`) ? true : undefined), 5000);
    }
  });

  it('a broker without JetStream answers INBOX_UNAVAILABLE', async () => {
    const plain = await startNats({ agents: ['qz'], controllers: ['controller-1'] });
    const pnc = await controllerConnection(plain);
    try {
      const c = brokerClient(pnc, 'qz', { secret: 'x'.repeat(64), controllerId: 'controller-1' });
      await assert.rejects(c.queue({ command: 'true', image: TEST_IMAGE }), (e: unknown) => e instanceof ControllerError && e.code === 'INBOX_UNAVAILABLE');
      c.close();
    } finally {
      await pnc.close();
      await plain.stop();
    }
  });
});


