/**
 * Issue 12: dockerd restarted while the agent is stopping a job, for real. A PRIVATE
 * dockerd (test/helpers/engine.ts; the shared engine other test files use is never
 * touched) runs the job; the agent's Sandbox is the real DockerSandbox on it, wrapped
 * only to count stop() calls. The job is cancelled; once the engine has sent the
 * container SIGTERM (its `kill` event: the stop request is in flight, the engine is
 * waiting out the grace) the engine is restarted: killed (crash, OOM killer, a restart
 * that escalates to SIGKILL) or stopped cleanly, then started on the same dirs. Promised:
 * no unhandled rejection, the stop is retried, the job ends failed with the reason, the
 * slot is freed and no container is left (removed once the engine is back).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type Dockerode from 'dockerode';
import { LABEL_JOB } from '../../internal/sandbox/labels.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { cancel, status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { startPrivateEngine, watchContainerEvent, type PrivateEngine } from '../helpers/engine.js';
import { faultySandbox } from '../helpers/faulty-sandbox.js';
import { until } from '../helpers/wait.js';

async function jobContainers(docker: Dockerode, jobId: string): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_JOB}=${jobId}`] } });
}

describe('dockerd restarted mid-stop (private dockerd)', { timeout: 240_000 }, () => {
  let engine: PrivateEngine | undefined;
  let a: TestAgent | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);

  before(async () => {
    await requireDocker(); // the image is copied from the shared engine
    engine = await startPrivateEngine({ images: [TEST_IMAGE] });
    process.on('unhandledRejection', onUnhandled);
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await a?.stop();
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
    await engine?.destroy();
  });

  /** A running `sleep` job, cancelled; resolves once the engine is mid-stop (SIGTERM sent, grace running). */
  async function cancelledMidStop(): Promise<{ t: ClientTarget; jobId: string; sandbox: ReturnType<typeof faultySandbox> }> {
    const e = engine as PrivateEngine;
    if (a !== undefined) {
      await a.stop();
      fs.rmSync(a.dir, { recursive: true, force: true });
    }
    const sandbox = faultySandbox({}, e.docker); // no faults: the real sandbox, stop() calls counted
    a = await startTestAgent({}, { sandbox, docker: e.docker, maintenanceMs: 500 });
    const t: ClientTarget = { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
    // PID 1 of the container is `sleep`: it ignores SIGTERM, so the engine's stop waits out the grace.
    const { reply, payload } = await submit(t, { command: 'sleep 120' });
    assert.equal(reply.status, 202, reply.text);
    const container = await until('job running in a container', async () => {
      const s = (await status(t, payload.jobId)).json()['status'];
      const c = (await jobContainers(e.docker, payload.jobId)).find((x) => x.State === 'running');
      return s === 'running' && c !== undefined ? c : undefined;
    });
    const terminated = await watchContainerEvent(e.docker, container.Id, 'kill', (attrs) => attrs['signal'] === '15', 30_000);
    const c = await cancel(t, payload.jobId);
    assert.equal(c.status, 202, c.text);
    await terminated.happened;
    assert.equal(sandbox.stops, 1, 'one stop in flight');
    return { t, jobId: payload.jobId, sandbox };
  }

  async function nothingLeft(jobId: string): Promise<void> {
    const e = engine as PrivateEngine;
    await until('no container of the job left', async () => ((await jobContainers(e.docker, jobId)).length === 0 ? true : undefined), 30_000);
    assert.equal((a as TestAgent).agent.manager.running, 0, 'slot freed');
  }

  it('dockerd killed and started again while the stop is in flight: stop retried, job failed with the reason, nothing left', async () => {
    const e = engine as PrivateEngine;
    const { t, jobId, sandbox } = await cancelledMidStop();
    await e.kill(); // the stop request dies with the engine
    await e.start();
    // Before the fix the wait on the container never settled (its connection died with
    // dockerd after the answer's headers): the job stayed running and held its slot.
    const r = (await waitForEnd(t, jobId, 60_000))['result'] as Record<string, unknown>;
    assert.equal(r['status'], 'failed', JSON.stringify(r));
    assert.match(String(r['error']), /the container could not be stopped at first \(docker engine unavailable while stopping container [0-9a-f]{64}: ECONNRESET/);
    assert.deepEqual(unhandled, []);
    assert.ok(sandbox.stops >= 2, `stop retried (${sandbox.stops} calls)`);
    await nothingLeft(jobId);
  });

  // A clean restart (systemctl restart docker: SIGTERM) drains the request in flight:
  // dockerd finishes the stop before it exits, so the cancel simply succeeds.
  it('dockerd restarted cleanly (SIGTERM) while the stop is in flight: the engine finishes the stop first', async () => {
    const e = engine as PrivateEngine;
    const { t, jobId, sandbox } = await cancelledMidStop();
    await e.stop();
    await e.start();
    const r = (await waitForEnd(t, jobId, 60_000))['result'] as Record<string, unknown>;
    assert.equal(r['status'], 'cancelled', JSON.stringify(r));
    assert.equal(r['exit_code'], 137, 'killed after the grace by the stop the engine finished');
    assert.equal(sandbox.stops, 1, 'nothing to retry');
    assert.deepEqual(unhandled, []);
    await nothingLeft(jobId);
  });
});
