/**
 * Broker down and back (SPEC §10): a running job goes on and keeps its output, /health
 * says `"broker":"down"` while HTTPS keeps working, the agent reconnects by itself
 * (quickcmd_agent_broker_up back to 1, quickcmd_agent_broker_reconnects_total counts it),
 * and a follower that lost the live frames still gets every frame and the final one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { TEST_IMAGE, type TestAgent } from '../helpers/agent.js';
import { request } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { brokerClient, controllerConnection, startBrokerAgent, waitForAgents } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { until } from '../helpers/wait.js';

let nats: TestNats;
let agent: TestAgent;
let nc: NatsConnection;

before(async () => {
  await requireDocker();
  nats = await startNats({ agents: ['r1'], controllers: ['controller-1'] });
  agent = await startBrokerAgent(nats, 'r1');
  nc = await controllerConnection(nats);
  await waitForAgents(nc, ['r1']);
});

after(async () => {
  await nc?.close().catch(() => undefined);
  await agent?.stop();
  await nats?.stop();
});

async function health(): Promise<Record<string, unknown>> {
  const r = await request({ url: agent.url, caFile: agent.pki.caCert }, 'GET', '/health');
  return (JSON.parse(r.text) as { checks: Record<string, unknown> }).checks;
}

async function metric(name: string): Promise<number> {
  const text = await agent.agent.metrics.registry.metrics();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

describe('the broker restarts while a job runs', () => {
  it('the job goes on, the agent comes back, the follower gets every frame and the final one', async () => {
    assert.equal((await health())['broker'], 'ok');
    assert.equal(await metric('quickcmd_agent_broker_up'), 1);
    const c = brokerClient(nc, 'r1', agent);
    const { jobId } = await c.submit({ command: 'echo before; sleep 4; echo after', image: TEST_IMAGE });
    const frames: string[] = [];
    let sawBefore: () => void = () => undefined;
    const before1 = new Promise<void>((r) => (sawBefore = r));
    const followed = c.follow(jobId, { onFrame: (f) => {
      frames.push(f.data);
      if (f.data.includes('before')) sawBefore();
    } });
    await before1;
    await nats.stop();
    await until('health broker down', async () => ((await health())['broker'] === 'down' ? true : undefined), 15_000);
    assert.equal(await metric('quickcmd_agent_broker_up'), 0);
    // The job is not affected: it runs on while the broker is away.
    assert.equal(agent.agent.manager.get(jobId)?.status, 'running');
    await nats.restart();
    await until('broker up again', async () => ((await metric('quickcmd_agent_broker_up')) === 1 ? true : undefined), 30_000);
    assert.ok((await metric('quickcmd_agent_broker_reconnects_total')) >= 1);
    const fin = await followed;
    assert.equal(fin.exit_code, 0);
    assert.equal(frames.join(''), 'before\nafter\n');
    assert.equal((await health())['broker'], 'ok');
    c.close();
  });
});
