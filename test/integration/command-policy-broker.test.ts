/**
 * Named commands over a real nats-server (SPEC §10 + §11): one code path behind both
 * transports. With `listen: false` and `shell: deny`, the broker client lists the
 * commands, a named job runs through the same door with the argv received literally, a
 * shell job is refused 403 COMMAND_NOT_ALLOWED, a value the agent refuses comes back as
 * 400 INVALID_PARAMETER, and the CLI's typing step (namedSpecs) refuses a wrong one
 * before anything is sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { ControllerError } from '../../internal/controller/controller-error.js';
import { namedSpecs, ParamError } from '../../internal/controller/named-commands.js';
import type { TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { brokerClient, controllerConnection, startBrokerAgent, waitForAgents } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';

let nats: TestNats;
let a: TestAgent;
let nc: NatsConnection;

const ECHO = { name: 'echo-args', description: 'Print the arguments received', argv: ['printf', '[%s]\\n', '{a}', '--n={n}'], params: { a: { type: 'string', max_length: 4096 }, n: { type: 'integer', min: 0, max: 9, default: 0 } } };

before(async () => {
  await requireDocker();
  nats = await startNats({ agents: ['cmd1'], controllers: ['controller-1'] });
  a = await startBrokerAgent(nats, 'cmd1', { listen: false, shell: 'deny', commands: [ECHO] });
  nc = await controllerConnection(nats);
  // Until the agent has subscribed, discovery has no responders at all (waitForAgents throws on that).
  for (const deadline = Date.now() + 20_000; ; ) {
    try {
      await waitForAgents(nc, ['cmd1']);
      break;
    } catch (e) {
      if (Date.now() > deadline || !/no responders/.test(String(e))) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  await nc?.close();
  await a?.stop();
  await nats?.stop();
});

describe('named commands through the broker', () => {
  it('lists, types, runs literally, and refuses like HTTPS', async () => {
    const c = brokerClient(nc, 'cmd1', a);
    try {
      const list = await c.commands();
      assert.equal(list.shell, false);
      assert.deepEqual(list.commands.map((x) => x.name), ['echo-args']);

      const spec = (await namedSpecs([c], { command: '', named: { name: 'echo-args', params: { a: '$(id); `id` {n}', n: '7' }, untyped: true } }))(c.name);
      assert.deepEqual(spec.named?.params, { a: '$(id); `id` {n}', n: 7 }, 'typed by the definition read over the broker');
      const { jobId } = await c.submit(spec);
      const fin = await c.follow(jobId, { onFrame: () => undefined });
      assert.equal(fin.exit_code, 0);
      assert.equal((await c.status(jobId)).result?.stdout, '[$(id); `id` {n}]\n[--n=7]\n');

      await assert.rejects(namedSpecs([c], { command: '', named: { name: 'echo-args', params: { a: 'x', n: '10' }, untyped: true } }), (e: unknown) => e instanceof ParamError && /--param n: 10 is above the maximum/.test(e.message));
      await assert.rejects(c.submit({ command: '', named: { name: 'echo-args', params: { a: 'x', n: '7' } } }), (e: unknown) => e instanceof ControllerError && e.code === 'INVALID_PARAMETER' && e.status === 400 && /parameter n/.test(e.message));
      await assert.rejects(c.submit({ command: 'echo hi' }), (e: unknown) => e instanceof ControllerError && e.code === 'COMMAND_NOT_ALLOWED' && e.status === 403);
    } finally {
      c.close();
    }
  });
});
