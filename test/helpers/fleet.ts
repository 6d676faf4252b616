/**
 * Agents on a test broker: an in-process agent whose `broker:` block points at the test
 * nats-server with its own nkey, and a controller-side connection and client for it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { DISCOVER_SUBJECT } from '../../internal/agent/broker/subjects.js';
import { BrokerAgentClient } from '../../internal/controller/broker-client.js';
import { connectBroker } from '../../internal/controller/broker-link.js';
import { startTestAgent, TEST_CONTROLLER, type ConfigOverrides, type TestAgent } from './agent.js';
import type { TestPki } from './tls.js';
import fs from 'node:fs';
import type { TestNats } from './nats.js';

/** Start agent `name` on `nats` (its identity must have been minted at server start). */
export async function startBrokerAgent(nats: TestNats, name: string, overrides: ConfigOverrides = {}, reuse?: { dir: string; pki: TestPki; secret: string }): Promise<TestAgent> {
  const id = nats.agents.get(name);
  if (id === undefined) throw new Error(`no broker identity for agent ${name}`);
  return startTestAgent({ agent_name: name, broker: { url: nats.url, ca_file: nats.caCert, nkey_seed_file: id.seedFile }, heartbeat_seconds: 1, ...overrides }, {}, reuse);
}

/** A controller connection as `controllerId` (identity minted at server start). */
export async function controllerConnection(nats: TestNats, controllerId = TEST_CONTROLLER): Promise<NatsConnection> {
  const id = nats.controllers.get(controllerId);
  if (id === undefined) throw new Error(`no broker identity for controller ${controllerId}`);
  return connectBroker({ url: nats.url, ca: fs.readFileSync(nats.caCert), creds: Buffer.from(id.seed), insecure: false }, controllerId);
}

/** A client for agent `name` with the test agent's secret. */
export function brokerClient(nc: NatsConnection, name: string, agent: Pick<TestAgent, 'secret' | 'controllerId'>): BrokerAgentClient {
  return new BrokerAgentClient(nc, name, { controllerId: agent.controllerId, secret: Buffer.from(agent.secret) });
}

/** Wait until discovery lists `names` (the agents have subscribed). */
export async function waitForAgents(nc: NatsConnection, names: readonly string[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = new Set<string>();
    try {
      const it = await nc.requestMany(DISCOVER_SUBJECT, '', { strategy: 'stall', stall: 200, maxWait: 1000 });
      for await (const m of it) {
        try {
          seen.add((JSON.parse(Buffer.from(m.data).toString()) as { agent: string }).agent);
        } catch {
          // not a presence document
        }
      }
    } catch {
      // No responders yet: nobody has subscribed.
    }
    if (names.every((n) => seen.has(n))) return;
    if (Date.now() > deadline) throw new Error(`agents ${names.filter((n) => !seen.has(n)).join(',')} not online within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
