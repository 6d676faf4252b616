/**
 * The job list and the schedules over a real nats-server (SPEC §10 + §13): with
 * `listen: false`, a controller holding jobs:read-all lists the scheduled jobs and the
 * schedules through the sealed rpc, exactly as over HTTPS; a controller without the scope
 * sees none of the scheduled jobs and gets 403 INSUFFICIENT_SCOPES for the schedules.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { BrokerAgentClient } from '../../internal/controller/broker-client.js';
import { ControllerError } from '../../internal/controller/controller-error.js';
import type { TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { brokerClient, controllerConnection, startBrokerAgent, waitForAgents } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';

let nats: TestNats;
let a: TestAgent;
let ncAuditor: NatsConnection;
let ncPlain: NatsConnection;
const auditorSecret = crypto.randomBytes(32).toString('hex');

before(async () => {
  await requireDocker();
  nats = await startNats({ agents: ['sch1'], controllers: ['controller-1', 'auditor'] });
  a = await startBrokerAgent(nats, 'sch1', {
    listen: false,
    controllers: [{ id: 'auditor', secrets: [auditorSecret], scopes: ['jobs:read-all'] }],
    commands: [{ name: 'tick', argv: ['echo', 'tick'] }],
    schedules: [{ name: 'every', cron: '* * * * * *', command: 'tick' }],
  });
  ncAuditor = await controllerConnection(nats, 'auditor');
  ncPlain = await controllerConnection(nats, 'controller-1');
  for (const deadline = Date.now() + 20_000; ; ) {
    try {
      await waitForAgents(ncAuditor, ['sch1']);
      break;
    } catch (e) {
      if (Date.now() > deadline || !/no responders/.test(String(e))) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  await ncAuditor?.close();
  await ncPlain?.close();
  await a?.stop();
  await nats?.stop();
});

describe('job list and schedules through the broker', () => {
  it('jobs:read-all lists the scheduled jobs and the schedules; another controller sees none', async () => {
    const auditor = new BrokerAgentClient(ncAuditor, 'sch1', { controllerId: 'auditor', secret: Buffer.from(auditorSecret) });
    const plain = brokerClient(ncPlain, 'sch1', a);
    try {
      let jobs: { job_id: string; controller_id: string }[] = [];
      for (const deadline = Date.now() + 60_000; jobs.length < 2; ) {
        assert.ok(Date.now() < deadline, 'no scheduled jobs listed');
        await new Promise((r) => setTimeout(r, 250));
        jobs = [...(await auditor.listJobs('?controller=schedule%3Aevery')).jobs];
      }
      assert.ok(jobs.every((j) => /^sched-every-\d{8}T\d{6}Z$/.test(j.job_id) && j.controller_id === 'schedule:every'), JSON.stringify(jobs));
      const s = await auditor.schedules();
      assert.equal(s.schedules[0]?.name, 'every');
      assert.match(s.schedules[0]?.last_run?.job_id ?? '', /^sched-every-/);
      assert.deepEqual((await plain.listJobs('')).jobs, []);
      await assert.rejects(plain.schedules(), (e: unknown) => e instanceof ControllerError && e.code === 'INSUFFICIENT_SCOPES' && e.status === 403);
      await assert.rejects(plain.listJobs('?limit=0'), (e: unknown) => e instanceof ControllerError && e.code === 'INVALID_PAYLOAD' && /query parameter limit/.test(e.message));
    } finally {
      auditor.close();
      plain.close();
    }
  });
});
