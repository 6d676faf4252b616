/**
 * SPEC §11 through the built daemon (`dist/cmd/quickcmd-agent.js`) and a real SIGHUP: a job
 * queued behind a running one keeps the argv of the definition it was accepted with when
 * the reload changes that command; a job submitted after the reload gets the new one.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { freePort, prepareAgentDir, spawnAgent } from '../helpers/agent.js';
import { cancel, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';

const nap = { name: 'nap', argv: ['sleep', '{s}'], params: { s: { type: 'integer', min: 1, max: 120 } } };
const echo = (argv: string[]) => ({ name: 'echo-args', argv, params: { a: { type: 'string' } } });

test('after a SIGHUP that changes a command, a queued job runs the definition it was accepted with', async () => {
  await requireDocker();
  assert.ok(fs.existsSync('dist/cmd/quickcmd-agent.js'), 'run `npm run build` before this test');
  const port = await freePort();
  const common = { port, log_level: 'info', shell: 'deny', max_concurrent_jobs: 1 };
  const env = prepareAgentDir({ ...common, commands: [nap, echo(['printf', 'OLD[%s]\\n', '{a}'])] });
  const daemon = await spawnAgent(env, port);
  try {
    const t: ClientTarget = { url: daemon.url, caFile: env.pki.caCert, secret: env.secret, controllerId: env.controllerId };
    const call = (name: string, params: Record<string, unknown>) => submit(t, { command: '', candidateMetadata: { named_command: { name, params } } });
    const blocker = await call('nap', { s: 120 });
    assert.equal(blocker.reply.status, 202, blocker.reply.text);
    const queued = await call('echo-args', { a: 'queued {a} $(id)' });
    assert.equal(queued.reply.status, 202, queued.reply.text);

    prepareAgentDir({ ...common, commands: [nap, echo(['printf', 'NEW<%s>\\n', '{a}'])] }, { dir: env.dir, pki: env.pki, secret: env.secret });
    daemon.child.kill('SIGHUP');
    for (const deadline = Date.now() + 30_000; !/configuration reloaded/.test(daemon.output()); ) {
      assert.ok(Date.now() < deadline, `no reload: ${daemon.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal((await cancel(t, blocker.payload.jobId)).status, 202);
    const old = (await waitForEnd(t, queued.payload.jobId))['result'] as Record<string, unknown>;
    assert.equal(old['stdout'], 'OLD[queued {a} $(id)]\n');
    const fresh = await call('echo-args', { a: 'after' });
    assert.equal(fresh.reply.status, 202, fresh.reply.text);
    assert.equal(((await waitForEnd(t, fresh.payload.jobId))['result'] as Record<string, unknown>)['stdout'], 'NEW<after>\n');
  } finally {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    fs.rmSync(env.dir, { recursive: true, force: true });
  }
});
