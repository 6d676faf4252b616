/**
 * Issue 12, job manager when its own database fails at a chosen write, through the real
 * agent over HTTPS: a SQLite trigger on the real file makes the pending → running write
 * fail with a real SQLite error; an audit wrapper fails the job.started append (the narrow
 * fake of the issue: "an audit store that fails on its n-th write"). No slot is leaked, no
 * 500 for a saved job, and no container runs on outside supervision.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type Dockerode from 'dockerode';
import type { AuditLog } from '../../internal/audit/audit-log.js';
import { AuditUnavailableError } from '../../internal/audit/audit-error.js';
import { LABEL_JOB } from '../../internal/sandbox/labels.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { payload as makePayload, status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';

const target = (a: TestAgent): ClientTarget => ({ url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId });
const NO_RUNNING = "CREATE TRIGGER no_running BEFORE UPDATE OF status ON jobs WHEN NEW.status = 'running' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END";

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('job manager when the store fails', { timeout: 120_000 }, () => {
  let docker: Dockerode;
  const agents: TestAgent[] = [];

  before(async () => {
    docker = await requireDocker();
  });
  after(async () => {
    for (const a of agents) {
      await a.stop();
      fs.rmSync(a.dir, { recursive: true, force: true });
    }
  });

  it('a submission whose start cannot be stored gets 503 AUDIT_UNAVAILABLE and holds no slot; the same id works once the store does', async () => {
    const a = await startTestAgent({});
    agents.push(a);
    const t = target(a);
    a.agent.db.exec(NO_RUNNING);
    const p = makePayload(t, { command: 'echo ok' });
    const refused = await submit(t, p);
    assert.equal(refused.reply.status, 503, refused.reply.text);
    assert.equal(refused.reply.json()['code'], 'AUDIT_UNAVAILABLE');
    assert.equal(a.agent.manager.running, 0, 'no slot held');
    assert.equal((await status(t, p.jobId)).status, 404, 'nothing was saved');
    a.agent.db.exec('DROP TRIGGER no_running');
    const again = await submit(t, p);
    assert.equal(again.reply.status, 202, again.reply.text);
    const r = (await waitForEnd(t, p.jobId))['result'] as Record<string, unknown>;
    assert.equal(r['status'], 'completed');
    assert.equal(r['stdout'], 'ok\n');
  });

  it('a queued job whose start cannot be stored stays pending, frees the slot, and starts once the store works', async () => {
    const a = await startTestAgent({ max_concurrent_jobs: 1 });
    agents.push(a);
    const t = target(a);
    const first = await submit(t, { command: 'sleep 1' });
    assert.equal(first.reply.status, 202);
    const second = await submit(t, { command: 'echo second' });
    assert.equal(second.reply.status, 202, 'queued behind the first');
    a.agent.db.exec(NO_RUNNING);
    assert.equal(((await waitForEnd(t, first.payload.jobId))['result'] as Record<string, unknown>)['status'], 'completed');
    await until('slot freed', () => (a.agent.manager.running === 0 ? true : undefined));
    assert.equal((await status(t, second.payload.jobId)).json()['status'], 'pending');
    assert.equal(a.agent.manager.queued, 1);
    a.agent.db.exec('DROP TRIGGER no_running');
    const r = (await waitForEnd(t, second.payload.jobId))['result'] as Record<string, unknown>;
    assert.equal(r['status'], 'completed');
    assert.equal(r['stdout'], 'second\n');
  });

  it('a job.started write that fails removes the started container and fails the job', async () => {
    const failStarted = (real: AuditLog): AuditLog => ({
      append: (e) => {
        if (e.type === 'job.started') throw new AuditUnavailableError('audit log unavailable', { cause: new Error('database or disk is full') });
        return real.append(e);
      },
      appendBatched: (e) => real.appendBatched(e),
      healthy: () => real.healthy(),
      markFailed: () => real.markFailed(),
      probe: () => real.probe(),
      flush: () => real.flush(),
      backlog: () => real.backlog(),
      checked: () => real.checked(),
      close: () => real.close(),
    });
    const a = await startTestAgent({}, { wrapAudit: failStarted });
    agents.push(a);
    const t = target(a);
    const { reply, payload } = await submit(t, { command: 'sleep 60' });
    assert.equal(reply.status, 202, reply.text);
    const r = (await waitForEnd(t, payload.jobId))['result'] as Record<string, unknown>;
    assert.equal(r['status'], 'failed');
    assert.match(String(r['error']), /job start could not be recorded/);
    await until('container removed', async () => ((await docker.listContainers({ all: true, filters: { label: [`${LABEL_JOB}=${payload.jobId}`] } })).length === 0 ? true : undefined), 15_000);
    assert.equal(a.agent.manager.running, 0);
  });
});
