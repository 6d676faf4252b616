/**
 * The last checks of the door and what outlives a process (SPEC §3): 429 QUEUE_FULL with
 * Retry-After once the waiting queue is full, 503 SHUTTING_DOWN once the agent stops
 * accepting, and 409 DUPLICATE_JOB for a job id accepted before an agent restart on the
 * same SQLite file. Real HTTPS, real Docker, real SQLite.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { encodeJobBody } from '../../internal/agent/wire/signing.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { cancel, payload, request, status, submit, waitForEnd, waitForStatus, type ClientTarget, type Reply } from '../helpers/client.js';

function target(a: TestAgent): ClientTarget {
  return { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
}

/** Assert an error reply and its `job.rejected` audit row (read from the file, read-only). */
function rejected(a: TestAgent, reply: Reply, httpStatus: number, code: string): void {
  assert.equal(reply.status, httpStatus, reply.text);
  const b = reply.json();
  assert.deepEqual(Object.keys(b).sort(), ['code', 'error']);
  assert.equal(b['code'], code);
  const db = new Database(a.dbPath, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare("SELECT remote_addr, details FROM audit_events WHERE type = 'job.rejected' AND json_extract(details, '$.request_id') = ?")
      .get(String(reply.headers['x-request-id'])) as { remote_addr: string; details: string } | undefined;
    assert.ok(row, 'the rejection is audited');
    assert.equal(JSON.parse(row.details)['code'], code);
    assert.equal(row.remote_addr, '127.0.0.1');
  } finally {
    db.close();
  }
}

test('429 QUEUE_FULL with Retry-After, then capacity returns after cancelling; 503 SHUTTING_DOWN after stopAccepting', async () => {
  const a = await startTestAgent({ max_concurrent_jobs: 1, max_queued_jobs: 1 });
  const t = target(a);
  try {
    const running = await submit(t, { command: 'sleep 300' });
    assert.equal(running.reply.status, 202, running.reply.text);
    await waitForStatus(t, running.payload.jobId, 'running');

    const queued = await submit(t, { command: 'sleep 300' });
    assert.equal(queued.reply.status, 202, queued.reply.text);
    assert.equal((await status(t, queued.payload.jobId)).json()['status'], 'pending');

    const full = await submit(t, { command: 'true' });
    rejected(a, full.reply, 429, 'QUEUE_FULL');
    const retry = Number(full.reply.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${full.reply.headers['retry-after']}`);
    // The refused id was not consumed: it can be submitted once there is room.
    assert.equal((await status(t, full.payload.jobId)).status, 404);

    assert.equal((await cancel(t, queued.payload.jobId)).status, 202);
    assert.equal((await cancel(t, running.payload.jobId)).status, 202);
    assert.equal((await waitForEnd(t, queued.payload.jobId))['status'], 'cancelled');
    assert.equal((await waitForEnd(t, running.payload.jobId))['status'], 'cancelled');

    const again = await request(t, 'POST', '/api/v1/jobs', encodeJobBody(full.payload, Buffer.from(a.secret)), { 'content-type': 'application/json' });
    assert.equal(again.status, 202, again.text);
    assert.equal((await waitForEnd(t, full.payload.jobId))['status'], 'completed');

    a.agent.manager.stopAccepting();
    const late = await submit(t, { command: 'true' });
    rejected(a, late.reply, 503, 'SHUTTING_DOWN');
    assert.equal(late.reply.json()['error'], 'agent is shutting down');
  } finally {
    await a.stop();
  }
});

test('409 DUPLICATE_JOB survives an agent restart on the same database', async () => {
  const first = await startTestAgent();
  const t1 = target(first);
  const pl = payload(t1, { command: 'echo once' });
  const text = encodeJobBody(pl, Buffer.from(first.secret));
  try {
    const r = await request(t1, 'POST', '/api/v1/jobs', text, { 'content-type': 'application/json' });
    assert.equal(r.status, 202, r.text);
    assert.equal((await waitForEnd(t1, pl.jobId))['status'], 'completed');
  } finally {
    await first.stop();
  }

  const second = await startTestAgent({}, {}, { dir: first.dir, pki: first.pki, secret: first.secret });
  const t2 = target(second);
  try {
    assert.equal(second.dbPath, first.dbPath);
    const replay = await request(t2, 'POST', '/api/v1/jobs', text, { 'content-type': 'application/json' });
    rejected(second, replay, 409, 'DUPLICATE_JOB');
    // The id is remembered even once the job row itself is gone (retention pruning).
    second.agent.db.prepare('DELETE FROM job_output WHERE job_id = ?').run(pl.jobId);
    second.agent.db.prepare('DELETE FROM jobs WHERE job_id = ?').run(pl.jobId);
    rejected(second, await request(t2, 'POST', '/api/v1/jobs', text, { 'content-type': 'application/json' }), 409, 'DUPLICATE_JOB');
    // A fresh id is still welcome.
    const fresh = await submit(t2, { command: 'true' });
    assert.equal(fresh.reply.status, 202, fresh.reply.text);
    assert.equal((await waitForEnd(t2, fresh.payload.jobId))['status'], 'completed');
  } finally {
    await second.stop();
  }
});
