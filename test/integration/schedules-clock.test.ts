/**
 * The scheduler with an injected clock (SPEC §13) inside a real agent — real SQLite, the
 * real job manager and Docker engine running each fire: one fire per instant and never
 * two for one instant across a restart; a wall-clock jump back by an hour fires nothing
 * twice; a jump forward is audited as missed, or caught up once with `latest`; catch-up at
 * start decided from the database; a DST fold in Europe/Berlin; overlap skip and queue;
 * SIGHUP replacing the set. Only the clock is fake; no test sleeps for minutes.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { loadConfig } from '../../internal/agent/config/config.js';
import { isTerminal } from '../../internal/agent/jobs/job.js';
import { prepareAgentDir, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { FakeClock } from '../helpers/fake-clock.js';

const COMMANDS = [
  { name: 'tick', argv: ['echo', 'tick', '{n}'], params: { n: { type: 'integer', min: 0, max: 99, default: 1 } } },
  { name: 'nap', argv: ['sleep', '{s}'], params: { s: { type: 'integer', min: 0, max: 120, default: 60 } } },
];

const running: TestAgent[] = [];
after(async () => {
  await Promise.all(running.map((a) => a.stop()));
});

async function agentAt(clock: FakeClock, schedules: unknown[], reuse?: TestAgent): Promise<TestAgent> {
  await requireDocker();
  const a = await startTestAgent({ commands: COMMANDS, schedules, max_concurrent_jobs: 10 }, { clock, timers: clock }, reuse === undefined ? undefined : { dir: reuse.dir, pki: reuse.pki, secret: reuse.secret });
  running.push(a);
  return a;
}

async function stop(a: TestAgent): Promise<void> {
  await a.stop();
  running.splice(running.indexOf(a), 1);
}

/** Job ids of a schedule, from the accepted ids (the replay-protection table). */
function acceptedIds(a: TestAgent, name: string): string[] {
  const db = new Database(a.dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT job_id FROM accepted_job_ids WHERE controller_id = ? ORDER BY job_id').all(`schedule:${name}`) as { job_id: string }[]).map((r) => r.job_id);
  } finally {
    db.close();
  }
}

function auditEvents(a: TestAgent, type: string): Record<string, unknown>[] {
  a.agent.audit.flush();
  const db = new Database(a.dbPath, { readonly: true });
  try {
    return (db.prepare('SELECT details FROM audit_events WHERE type = ? ORDER BY seq').all(type) as { details: string }[]).map((r) => JSON.parse(r.details) as Record<string, unknown>);
  } finally {
    db.close();
  }
}

/** Wait (real time, bounded) until every job of the list has ended. */
async function settle(a: TestAgent, ids: readonly string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const id of ids) {
    for (;;) {
      const rec = a.agent.manager.get(id);
      if (rec !== null && isTerminal(rec.status)) break;
      assert.ok(Date.now() < deadline, `job ${id} did not end: ${rec?.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Wait (real time, bounded) for a job to exist and be running. */
async function untilRunning(a: TestAgent, id: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (a.agent.manager.get(id)?.status !== 'running') {
    assert.ok(Date.now() < deadline, `job ${id} never ran`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const every = { name: 'every', cron: '* * * * * *', command: 'tick', params: { n: 7 }, overlap: 'allow' };

describe('scheduler with an injected clock', () => {
  it('fires once per instant, runs the named command, and never twice across a restart', async () => {
    const clock = new FakeClock('2026-12-01T10:00:00.500Z');
    let a = await agentAt(clock, [every]);
    clock.advance(3000);
    const ids = ['sched-every-20261201T100001Z', 'sched-every-20261201T100002Z', 'sched-every-20261201T100003Z'];
    assert.deepEqual(acceptedIds(a, 'every'), ids);
    await settle(a, ids);
    const r = a.agent.manager.result(a.agent.manager.get(ids[0] as string)!);
    assert.equal(r?.status, 'completed');
    assert.equal(r?.stdout, 'tick 7\n');
    assert.equal(a.agent.manager.get(ids[0] as string)?.controllerId, 'schedule:every');
    // Restart at the same wall time, and again two seconds earlier: nothing fires twice.
    await stop(a);
    a = await agentAt(clock, [every], a);
    clock.advance(400);
    assert.deepEqual(acceptedIds(a, 'every'), ids);
    await stop(a);
    clock.jump(-2000);
    a = await agentAt(clock, [every], a);
    clock.advance(2000);
    assert.deepEqual(acceptedIds(a, 'every'), ids);
    clock.advance(1000);
    assert.deepEqual(acceptedIds(a, 'every'), [...ids, 'sched-every-20261201T100004Z']);
    assert.deepEqual(auditEvents(a, 'schedule.missed'), []);
    await settle(a, acceptedIds(a, 'every'));
  });

  it('a wall-clock jump back by an hour fires nothing twice; fires resume after the last one', async () => {
    const clock = new FakeClock('2026-12-01T10:00:00.500Z');
    const a = await agentAt(clock, [every]);
    clock.advance(3000);
    const before = acceptedIds(a, 'every');
    assert.equal(before.length, 3);
    clock.jump(-3600_000); // 09:00:03.5
    clock.advance(3600_000); // back at 10:00:03.5: the loop woke every 60 s, and found nothing due
    assert.deepEqual(acceptedIds(a, 'every'), before);
    clock.advance(1000);
    assert.deepEqual(acceptedIds(a, 'every'), [...before, 'sched-every-20261201T100004Z']);
    assert.deepEqual(auditEvents(a, 'schedule.missed'), []);
    await settle(a, acceptedIds(a, 'every'));
  });

  it('a jump forward is audited as missed, or caught up once with catch_up latest', async () => {
    const clock = new FakeClock('2026-12-01T10:59:59.500Z');
    const hourly = { name: 'hourly', cron: '0 * * * *', command: 'tick' };
    const latest = { name: 'hourly-latest', cron: '0 * * * *', command: 'tick', catch_up: 'latest', max_lateness_seconds: 3600 };
    const a = await agentAt(clock, [hourly, latest]);
    clock.advance(1000);
    assert.deepEqual(acceptedIds(a, 'hourly'), ['sched-hourly-20261201T110000Z']);
    // The 11:00 runs end first (overlap: skip would otherwise skip the caught-up fire).
    await settle(a, [...acceptedIds(a, 'hourly'), ...acceptedIds(a, 'hourly-latest')]);
    clock.jump(3 * 3600_000); // 14:00:00.5: 12:00, 13:00 and 14:00 were jumped over
    clock.advance(60_000); // the loop notices within a minute
    assert.deepEqual(acceptedIds(a, 'hourly'), ['sched-hourly-20261201T110000Z']);
    assert.deepEqual(acceptedIds(a, 'hourly-latest'), ['sched-hourly-latest-20261201T110000Z', 'sched-hourly-latest-20261201T140000Z']);
    const missed = auditEvents(a, 'schedule.missed');
    const of = (n: string): Record<string, unknown> | undefined => missed.find((m) => m['schedule'] === n);
    assert.equal(of('hourly')?.['count'], 3);
    assert.equal(of('hourly')?.['first_instant'], '2026-12-01T12:00:00.000Z');
    assert.equal(of('hourly')?.['last_instant'], '2026-12-01T14:00:00.000Z');
    assert.equal(of('hourly-latest')?.['count'], 2);
    assert.equal(of('hourly-latest')?.['last_instant'], '2026-12-01T13:00:00.000Z');
    const accepted = auditEvents(a, 'job.accepted').find((d) => d['fire_instant'] === '2026-12-01T14:00:00.000Z');
    assert.equal(accepted?.['late'], true);
    const metrics = await a.agent.metrics.registry.metrics();
    assert.match(metrics, /quickcmd_agent_schedule_runs_total\{schedule="hourly",outcome="missed"\} 3/);
    assert.match(metrics, /quickcmd_agent_schedule_runs_total\{schedule="hourly-latest",outcome="started"\} 2/);
    assert.match(metrics, new RegExp(`quickcmd_agent_schedule_next_run_timestamp_seconds\\{schedule="hourly"\\} ${Date.parse('2026-12-01T15:00:00Z') / 1000}`));
    await settle(a, [...acceptedIds(a, 'hourly'), ...acceptedIds(a, 'hourly-latest')]);
  });

  it('catch-up at start is decided from what the database says ran last', async () => {
    const clock = new FakeClock('2026-12-01T10:59:59.500Z');
    const hourly = { name: 'hourly', cron: '0 * * * *', command: 'tick' };
    const latest = { name: 'hourly-latest', cron: '0 * * * *', command: 'tick', catch_up: 'latest', max_lateness_seconds: 3600 };
    let a = await agentAt(clock, [hourly, latest]);
    clock.advance(1000);
    await settle(a, [...acceptedIds(a, 'hourly'), ...acceptedIds(a, 'hourly-latest')]);
    await stop(a);
    clock.jump(2 * 3600_000 + 20 * 60_000); // down until 13:20
    a = await agentAt(clock, [hourly, latest], a);
    assert.deepEqual(acceptedIds(a, 'hourly'), ['sched-hourly-20261201T110000Z']);
    assert.deepEqual(acceptedIds(a, 'hourly-latest'), ['sched-hourly-latest-20261201T110000Z', 'sched-hourly-latest-20261201T130000Z']);
    const missed = auditEvents(a, 'schedule.missed');
    assert.deepEqual(missed.map((m) => [m['schedule'], m['count'], m['reason']]), [
      ['hourly', 2, 'the agent was not running'],
      ['hourly-latest', 1, 'the agent was not running'],
    ]);
    await settle(a, acceptedIds(a, 'hourly-latest'));
  });

  it('Europe/Berlin autumn fold: the repeated hour fires once; nothing is reported missed', async () => {
    const clock = new FakeClock('2026-10-24T23:59:59.500Z');
    const a = await agentAt(clock, [{ name: 'half', cron: '*/30 * * * *', timezone: 'Europe/Berlin', command: 'tick', overlap: 'allow' }]);
    clock.advance(3 * 3600_000);
    assert.deepEqual(acceptedIds(a, 'half'), [
      'sched-half-20261025T000000Z', 'sched-half-20261025T003000Z', // 02:00, 02:30 CEST
      'sched-half-20261025T020000Z', 'sched-half-20261025T023000Z', // 03:00, 03:30 CET
    ]);
    assert.deepEqual(auditEvents(a, 'schedule.missed'), []);
    await settle(a, acceptedIds(a, 'half'));
  });

  it('overlap skip: a fire while the previous run is still running is skipped and audited; queue runs it after', async () => {
    const clock = new FakeClock('2026-12-01T10:00:09.500Z');
    const a = await agentAt(clock, [
      { name: 'slow', cron: '*/10 * * * * *', command: 'nap', overlap: 'skip' },
      { name: 'queued', cron: '*/10 * * * * *', command: 'nap', overlap: 'queue' },
    ]);
    clock.advance(1000);
    await untilRunning(a, 'sched-slow-20261201T100010Z');
    await untilRunning(a, 'sched-queued-20261201T100010Z');
    clock.advance(10_000);
    assert.deepEqual(acceptedIds(a, 'slow'), ['sched-slow-20261201T100010Z']);
    assert.deepEqual(acceptedIds(a, 'queued'), ['sched-queued-20261201T100010Z']);
    const skipped = auditEvents(a, 'schedule.skipped');
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]?.['schedule'], 'slow');
    assert.equal(skipped[0]?.['fire_instant'], '2026-12-01T10:00:20.000Z');
    assert.equal(skipped[0]?.['previous_job'], 'sched-slow-20261201T100010Z');
    assert.match(await a.agent.metrics.registry.metrics(), /quickcmd_agent_schedule_runs_total\{schedule="slow",outcome="skipped"\} 1/);
    // The queued fire is submitted once its predecessor ends.
    a.agent.manager.cancel('sched-queued-20261201T100010Z', { controllerId: 'test', remoteAddr: null });
    const deadline = Date.now() + 60_000;
    while (acceptedIds(a, 'queued').length < 2) {
      assert.ok(Date.now() < deadline, 'the queued fire never ran');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(acceptedIds(a, 'queued'), ['sched-queued-20261201T100010Z', 'sched-queued-20261201T100020Z']);
    const view = a.agent.scheduler.view().find((s) => s.name === 'slow');
    assert.equal(view?.skipped, 1);
    assert.equal(view?.last_run?.job_id, 'sched-slow-20261201T100010Z');
    for (const id of [...acceptedIds(a, 'slow'), ...acceptedIds(a, 'queued')]) {
      try {
        a.agent.manager.cancel(id, { controllerId: 'test', remoteAddr: null });
      } catch {
        // already ended
      }
    }
    await settle(a, [...acceptedIds(a, 'slow'), ...acceptedIds(a, 'queued')]);
  });

  it('SIGHUP replaces the set: a removed schedule stops, an added one starts from then', async () => {
    const clock = new FakeClock('2026-12-01T10:00:00.500Z');
    const a = await agentAt(clock, [every]);
    clock.advance(1000);
    const env = prepareAgentDir({ commands: COMMANDS, schedules: [{ ...every, name: 'other' }], max_concurrent_jobs: 10 }, { dir: a.dir, pki: a.pki, secret: a.secret });
    a.agent.reload(loadConfig(env.configPath, {}));
    clock.advance(2000);
    assert.deepEqual(acceptedIds(a, 'every'), ['sched-every-20261201T100001Z']);
    assert.deepEqual(acceptedIds(a, 'other'), ['sched-other-20261201T100002Z', 'sched-other-20261201T100003Z']);
    assert.deepEqual(a.agent.scheduler.view().map((s) => s.name), ['other']);
    await settle(a, [...acceptedIds(a, 'every'), ...acceptedIds(a, 'other')]);
  });

  it('a disabled schedule never fires; enabled later it starts then, with nothing reported missed', async () => {
    const clock = new FakeClock('2026-12-01T10:59:59.500Z');
    const off = { name: 'hourly', cron: '0 * * * *', command: 'tick', enabled: false };
    const a = await agentAt(clock, [off]);
    clock.advance(3 * 3600_000);
    assert.deepEqual(acceptedIds(a, 'hourly'), []);
    assert.equal(a.agent.scheduler.view()[0]?.next_run, null);
    const env = prepareAgentDir({ commands: COMMANDS, schedules: [{ ...off, enabled: true }], max_concurrent_jobs: 10 }, { dir: a.dir, pki: a.pki, secret: a.secret });
    a.agent.reload(loadConfig(env.configPath, {}));
    assert.equal(a.agent.scheduler.view()[0]?.next_run, '2026-12-01T14:00:00.000Z');
    clock.advance(3600_000);
    assert.deepEqual(acceptedIds(a, 'hourly'), ['sched-hourly-20261201T140000Z']);
    assert.deepEqual(auditEvents(a, 'schedule.missed'), []);
    await settle(a, acceptedIds(a, 'hourly'));
  });
});
