/**
 * Issue 12, job manager under sandbox faults (real engine underneath, narrow fakes on top,
 * see test/helpers/faulty-sandbox.ts): a stop() that rejects never becomes an unhandled
 * rejection and the job ends failed with the reason; a container whose start completes
 * during a graceful shutdown ends failed ("agent shutdown"), never completed with 143;
 * cancelling a job that is running in the store but not yet re-adopted after a restart
 * removes its container at once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type Dockerode from 'dockerode';
import { loadConfig } from '../../internal/agent/config/config.js';
import { createAgent } from '../../internal/agent/create-agent.js';
import { silentLogger } from '../../internal/agent/logger.js';
import { LABEL_JOB } from '../../internal/sandbox/labels.js';
import { prepareAgentDir, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { cancel, status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { faultySandbox, gate } from '../helpers/faulty-sandbox.js';

const target = (a: { url: string; pki: { caCert: string }; secret: string; controllerId: string }): ClientTarget => ({ url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId });

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function jobContainers(docker: Dockerode, jobId: string): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_JOB}=${jobId}`] } });
}

async function running(t: ClientTarget, jobId: string): Promise<void> {
  await until('job running', async () => ((await status(t, jobId)).json()['status'] === 'running' ? true : undefined));
}

describe('job manager under sandbox faults', { timeout: 180_000 }, () => {
  let docker: Dockerode;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => {
    unhandled.push(e);
  };
  const cleanup: (() => Promise<void>)[] = [];

  before(async () => {
    docker = await requireDocker();
    process.on('unhandledRejection', onUnhandled);
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  async function agentWith(sandbox: ReturnType<typeof faultySandbox>, overrides: Record<string, unknown> = {}): Promise<TestAgent> {
    const a = await startTestAgent(overrides, { sandbox, docker });
    cleanup.push(async () => {
      await a.stop();
      fs.rmSync(a.dir, { recursive: true, force: true });
    });
    return a;
  }

  it('a stop() that rejects once is retried: no unhandled rejection, the job ends failed naming the failure', async () => {
    const sb = faultySandbox({ stop: (n) => { if (n === 1) throw new Error('engine answered 500 (restarting)'); } });
    const a = await agentWith(sb);
    const t = target(a);
    const { reply, payload } = await submit(t, { command: 'sleep 30' });
    assert.equal(reply.status, 202, reply.text);
    await running(t, payload.jobId);
    assert.equal((await cancel(t, payload.jobId)).status, 202);
    const r = (await waitForEnd(t, payload.jobId, 30_000))['result'] as Record<string, unknown>;
    assert.equal(r['status'], 'failed');
    assert.match(String(r['error']), /could not be stopped at first \(engine answered 500 \(restarting\)\); it was stopped on a retry/);
    assert.ok(sb.stops >= 2, `stop retried (${sb.stops} calls)`);
    assert.deepEqual(unhandled, []);
    await until('container removed', async () => ((await jobContainers(docker, payload.jobId)).length === 0 ? true : undefined));
  });

  it('a stop() that always rejects: retried grace then kill then removal, and the job ends failed with the reason', async () => {
    const sb = faultySandbox({
      stop: () => { throw new Error('engine unavailable'); },
      destroy: (n) => { if (n === 1) throw new Error('engine unavailable'); },
    });
    const a = await agentWith(sb);
    const t = target(a);
    const { payload } = await submit(t, { command: 'sleep 60' });
    await running(t, payload.jobId);
    cleanup.push(async () => void (await Promise.all((await jobContainers(docker, payload.jobId)).map((c) => docker.getContainer(c.Id).remove({ force: true })))));
    assert.equal((await cancel(t, payload.jobId)).status, 202);
    const r = (await waitForEnd(t, payload.jobId, 40_000))['result'] as Record<string, unknown>;
    assert.equal(r['status'], 'failed');
    assert.match(String(r['error']), /the container could not be stopped: engine unavailable/);
    assert.equal(sb.stops, 3, 'grace, grace, kill');
    assert.ok(sb.destroys >= 1, 'then force removal');
    assert.deepEqual(unhandled, []);
    assert.equal(a.agent.manager.running, 0, 'slot freed');
  });

  it('a container whose start completes during graceful shutdown ends failed ("agent shutdown"), not completed', async () => {
    const held = gate();
    const sb = faultySandbox({ afterStart: held });
    const a = await agentWith(sb);
    const t = target(a);
    const { reply, payload } = await submit(t, { command: 'sleep 30' });
    assert.equal(reply.status, 202, reply.text);
    await held.reached;
    const down = a.agent.shutdown();
    held.open();
    await down;
    const db = new Database(a.dbPath, { readonly: true });
    const row = db.prepare('SELECT status, result FROM jobs WHERE job_id = ?').get(payload.jobId) as { status: string; result: string };
    db.close();
    assert.equal(row.status, 'failed');
    assert.match(String((JSON.parse(row.result) as Record<string, unknown>)['error']), /agent shutdown/);
    assert.deepEqual(unhandled, []);
  });

  it('cancelling a job that is running in the store but not yet re-adopted removes its container', async () => {
    const first = await startTestAgent({});
    const t1 = target(first);
    const { payload } = await submit(t1, { command: 'sleep 120' });
    await until('container running', async () => ((await jobContainers(docker, payload.jobId)).some((c) => c.State === 'running') ? true : undefined));
    await first.stop(); // fast close: the container keeps running for the next start
    const left = await jobContainers(docker, payload.jobId);
    assert.equal(left.filter((c) => c.State === "running").length, 1, JSON.stringify(left.map((c) => c.State)));

    const held = gate();
    const env = prepareAgentDir({}, { dir: first.dir, pki: first.pki, secret: first.secret });
    const agent = createAgent(loadConfig(env.configPath, {}), { sandbox: faultySandbox({ listManaged: held }), docker, logger: silentLogger() });
    const started = agent.start();
    cleanup.push(async () => {
      held.open();
      await started.catch(() => undefined);
      await agent.close();
      fs.rmSync(first.dir, { recursive: true, force: true });
    });
    await held.reached; // listening, the reconciler is held: nothing adopted yet
    const addr = agent.server.address() as { port: number };
    const t2 = { ...t1, url: `https://127.0.0.1:${addr.port}` };
    const c = await cancel(t2, payload.jobId);
    assert.equal(c.status, 202, c.text);
    assert.equal(c.json()['status'], 'cancelled');
    await until('container removed before any reconciliation', async () => ((await jobContainers(docker, payload.jobId)).length === 0 ? true : undefined), 15_000);
    held.open();
    await started;
    assert.equal((await status(t2, payload.jobId)).json()['status'], 'cancelled');
    assert.equal(agent.manager.running, 0, 'the cancelled job was not adopted');
  });
});
