/**
 * The agent's broker connection in the audit log, with a real nats-server: an agent that
 * starts while the broker is down writes no `broker.connected` row until it first
 * connects, then exactly one (`connection: "first"`, the server's address, the broker URL,
 * after `agent.started`); a reconnect within the minute that follows is counted in the
 * metrics but adds no row (bounded: see test/unit/connection-audit.test.ts). The row is
 * listed by `quickcmd audit list --type broker.connected` and the chain verifies.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { run } from '../helpers/exec.js';
import { startBrokerAgent } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { until } from '../helpers/wait.js';

const CLI = path.resolve('dist/cmd/quickcmd.js');
let nats: TestNats;
let agent: TestAgent;

before(async () => {
  assert.ok(fs.existsSync(CLI), 'run `npm run build` before this test');
  await requireDocker();
  nats = await startNats({ agents: ['audited1'], controllers: ['controller-1'] });
  await nats.stop();
  agent = await startBrokerAgent(nats, 'audited1');
});

after(async () => {
  await agent?.stop();
  await nats?.stop();
});

interface Row {
  seq: number;
  type: string;
  remote_addr: string | null;
  details: string;
}

function rows(): Row[] {
  return agent.agent.db.prepare("SELECT seq, type, remote_addr, details FROM audit_events WHERE type IN ('agent.started', 'broker.connected') ORDER BY seq").all() as Row[];
}

async function metric(name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await agent.agent.metrics.registry.metrics());
  return m === null ? Number.NaN : Number(m[1]);
}

describe('broker.connected', () => {
  it('is written once the first connection is up, not before, naming the server', async () => {
    assert.deepEqual(rows().map((r) => r.type), ['agent.started']);
    assert.equal(await metric('quickcmd_agent_broker_up'), 0);
    await nats.restart();
    const row = await until('the broker.connected row', () => rows().find((r) => r.type === 'broker.connected'));
    const started = rows().find((r) => r.type === 'agent.started');
    assert.ok(started !== undefined && row.seq > started.seq, 'after agent.started');
    assert.equal(row.remote_addr, `127.0.0.1:${nats.port}`);
    assert.deepEqual(JSON.parse(row.details), { connection: 'first', agent_name: 'audited1', broker_url: nats.url, unaudited_reconnects: 0 });
    assert.equal(await metric('quickcmd_agent_broker_up'), 1);
  });

  it('a reconnect within the minute adds no row (it is counted for the next one)', async () => {
    const before1 = await metric('quickcmd_agent_broker_reconnects_total');
    await nats.stop();
    await until('broker down', async () => ((await metric('quickcmd_agent_broker_up')) === 0 ? true : undefined));
    await nats.restart();
    await until('reconnected', async () => ((await metric('quickcmd_agent_broker_reconnects_total')) > before1 && (await metric('quickcmd_agent_broker_up')) === 1 ? true : undefined));
    assert.equal(rows().filter((r) => r.type === 'broker.connected').length, 1);
  });

  it('quickcmd audit list --type broker.connected shows it, and the chain verifies', async () => {
    const db = agent.config.audit_db_path;
    const list = await run(process.execPath, [CLI, 'audit', 'list', '--db', db, '--type', 'broker.connected', '--json'], { timeoutMs: 30_000 });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /"connection":\s*"first"/);
    const verify = await run(process.execPath, [CLI, 'audit', 'verify', '--db', db], { timeoutMs: 30_000 });
    assert.equal(verify.code, 0, verify.stderr);
  });
});
