/**
 * The container engine going away and coming back, against a PRIVATE dockerd (see
 * test/helpers/engine.ts) so the shared engine other test files use keeps running. The
 * agent runs in-process with its Docker client pointed at the private socket: a job in
 * flight when the engine stops ends failed with a clear error, /health answers 503 with
 * checks.docker "unavailable", submissions get 503 DOCKER_UNAVAILABLE, the agent stays
 * up, and once the engine is back /health is 200 again and jobs run.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import Dockerode from 'dockerode';
import { LABEL_AGENT } from '../../internal/sandbox/labels.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { request, status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { until } from '../helpers/wait.js';
import { requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { startPrivateEngine, type PrivateEngine } from '../helpers/engine.js';
import { requireRuntime, RUNTIMES_UNDER_TEST } from '../helpers/runtimes.js';

interface Result {
  status: string;
  exit_code: number | null;
  stdout: string;
  error: string | null;
}


// Once per runtime (SPEC §14): the private dockerd reads /etc/docker/daemon.json, where
// scripts/docker-up.sh registers runsc.
for (const runtime of RUNTIMES_UNDER_TEST) {
describe(runtime === 'runc' ? 'Docker engine down and back (private dockerd)' : `Docker engine down and back (private dockerd) under ${runtime}`, () => {
  let engine: PrivateEngine | undefined;
  let a: TestAgent | undefined;
  let t: ClientTarget;

  before(async () => {
    await requireDocker(); // the image is copied from the shared engine
    engine = await startPrivateEngine({ images: [TEST_IMAGE] });
    await requireRuntime(engine.docker, runtime);
    a = await startTestAgent({ max_concurrent_jobs: 2, ...(runtime === 'runc' ? {} : { allowed_runtimes: ['runc', runtime], default_runtime: runtime }) }, { docker: new Dockerode({ socketPath: engine.socketPath }), maintenanceMs: 500 });
    t = { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
  });

  after(async () => {
    await a?.stop();
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
    await engine?.destroy();
  });

  async function run(command: string): Promise<Result> {
    const { reply, payload } = await submit(t, { command });
    assert.equal(reply.status, 202, reply.text);
    return (await waitForEnd(t, payload.jobId, 60_000))['result'] as Result;
  }

  async function dockerUpGauge(): Promise<number> {
    return (await (a as TestAgent).agent.metrics.dockerUp.get()).values[0]?.value ?? -1;
  }

  it('runs a job on the private engine', async () => {
    const r = await run('echo on-private-engine');
    assert.equal(r.status, 'completed');
    assert.equal(r.stdout, 'on-private-engine\n');
    assert.equal((r as Result & { runtime?: string }).runtime, runtime);
    const health = await request(t, 'GET', '/health');
    assert.equal(health.status, 200, health.text);
    assert.deepEqual((health.json()['checks'] as Record<string, string>)['docker'], 'ok');
  });

  it('fails the job in flight when the engine stops, reports unhealthy, refuses jobs, stays up', async () => {
    const e = engine as PrivateEngine;
    const { reply, payload } = await submit(t, { command: 'echo started; sleep 30' });
    assert.equal(reply.status, 202, reply.text);
    await until('job running in a container', async () => {
      const s = (await status(t, payload.jobId)).json()['status'];
      const running = await e.docker.listContainers({ filters: { label: [`${LABEL_AGENT}=${a?.agent.agentId}`] } });
      return s === 'running' && running.length === 1 ? true : undefined;
    });

    await e.stop();
    const r = (await waitForEnd(t, payload.jobId, 30_000))['result'] as Result;
    assert.equal(r.status, 'failed', JSON.stringify(r));
    assert.match(r.error ?? '', /docker engine/i, `error names the cause: ${r.error}`);

    const health = await request(t, 'GET', '/health');
    assert.equal(health.status, 503, health.text);
    const hb = health.json();
    assert.equal(hb['status'], 'unhealthy');
    assert.deepEqual(hb['checks'], { docker: 'unavailable', audit: 'ok' });

    const refused = await submit(t, { command: 'echo never' });
    assert.equal(refused.reply.status, 503, refused.reply.text);
    assert.equal(refused.reply.json()['code'], 'DOCKER_UNAVAILABLE');
    assert.doesNotMatch(refused.reply.text, /sock|ECONNREFUSED|ENOENT/, 'no internal detail in a 5xx body');
    assert.equal(await dockerUpGauge(), 0);

    // The agent process is up: it still answers reads.
    const st = await status(t, payload.jobId);
    assert.equal(st.status, 200);
    assert.equal(st.json()['status'], 'failed');
  });

  it('recovers when the engine is back: /health 200 and a new job completes', async () => {
    await (engine as PrivateEngine).start();
    const health = await until('healthy again', async () => {
      const h = await request(t, 'GET', '/health');
      return h.status === 200 ? h : undefined;
    });
    assert.deepEqual(health.json()['checks'], { docker: 'ok', audit: 'ok' });
    assert.equal(await dockerUpGauge(), 1);
    const r = await run('echo back');
    assert.equal(r.status, 'completed');
    assert.equal(r.stdout, 'back\n');
    // The container of the job failed during the outage is reconciled away.
    const id = (a as TestAgent).agent.agentId;
    await until('no containers left', async () => ((await (engine as PrivateEngine).docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${id}`] } })).length === 0 ? true : undefined), 15_000);
  });
});
}
