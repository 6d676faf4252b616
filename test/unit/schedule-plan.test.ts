/**
 * Schedule arithmetic (SPEC §13), pure: fire ids, deterministic jitter, the next fire
 * through DST in Europe/Berlin (spring-forward gap on 2026-03-29, autumn fold on
 * 2026-10-25), and the decision for fires that fell due (on time, missed, caught up).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scheduleSchema, checkSchedules } from '../../internal/agent/config/schedules-schema.js';
import { compileSchedule, dueFires, fireJobId, instantOfJobId, jitterMs, nextInstant, planDue, ON_TIME_MS, type CompiledSchedule } from '../../internal/agent/jobs/schedule-plan.js';
import { ConfigError } from '../../internal/agent/errors.js';

function sched(cron: string, extra: Record<string, unknown> = {}): CompiledSchedule {
  return compileSchedule(scheduleSchema.parse({ name: 't', cron, command: 'c', timezone: 'Europe/Berlin', ...extra }), 'agent-1');
}
const T = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/** Every fire instant in (from, to]. */
function fires(s: CompiledSchedule, from: string, to: string): string[] {
  const out: string[] = [];
  let at = T(from);
  for (;;) {
    const n = nextInstant(s.cron, at);
    if (n === null || n > T(to)) return out;
    assert.ok(n > at, `next fire ${iso(n)} does not move forward from ${iso(at)}`);
    out.push(iso(n));
    at = n;
  }
}

describe('fire ids and jitter', () => {
  it('names a fire by its UTC instant and reads it back, only for its own schedule', () => {
    const id = fireJobId('nightly-du', T('2026-12-01T03:00:00Z'));
    assert.equal(id, 'sched-nightly-du-20261201T030000Z');
    assert.equal(instantOfJobId('nightly-du', id), T('2026-12-01T03:00:00Z'));
    assert.equal(instantOfJobId('nightly', id), null);
    assert.equal(instantOfJobId('nightly-du', 'job-123'), null);
  });

  it('jitter is fixed per agent and schedule, whole seconds below jitter_seconds', () => {
    assert.equal(jitterMs('a', 's', 0), 0);
    const j = jitterMs('agent-1', 'nightly', 600);
    assert.equal(j, jitterMs('agent-1', 'nightly', 600));
    assert.ok(j >= 0 && j < 600_000 && j % 1000 === 0, String(j));
    const spread = new Set(Array.from({ length: 20 }, (_, i) => jitterMs(`agent-${i}`, 'nightly', 600)));
    assert.ok(spread.size > 10, 'different agents get different delays');
  });
});

describe('DST in Europe/Berlin (croner rules, always moving forward)', () => {
  it('spring-forward gap: 02:30 does not exist on 2026-03-29 and fires once at 03:30 CEST', () => {
    assert.deepEqual(fires(sched('30 2 * * *'), '2026-03-27T12:00:00Z', '2026-03-31T12:00:00Z'), [
      '2026-03-28T01:30:00Z', // 02:30 CET
      '2026-03-29T01:30:00Z', // 03:30 CEST: the gap's 02:30, one hour on
      '2026-03-30T00:30:00Z', // 02:30 CEST
      '2026-03-31T00:30:00Z',
    ]);
  });

  it('spring-forward gap: an hourly cron fires 23 times that day, never twice for one instant', () => {
    const day = fires(sched('0 * * * *'), '2026-03-28T22:59:59Z', '2026-03-29T21:59:59Z');
    assert.equal(day.length, 23);
    assert.deepEqual(day.slice(0, 3), ['2026-03-28T23:00:00Z', '2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z']);
    assert.equal(new Set(day).size, day.length);
  });

  it('autumn fold: 02:30 happens twice on 2026-10-25 and fires once, at the first (CEST)', () => {
    assert.deepEqual(fires(sched('30 2 * * *'), '2026-10-23T12:00:00Z', '2026-10-26T12:00:00Z'), [
      '2026-10-24T00:30:00Z',
      '2026-10-25T00:30:00Z', // 02:30 CEST; 02:30 CET (01:30Z) does not fire
      '2026-10-26T01:30:00Z', // 02:30 CET
    ]);
  });

  it('autumn fold: a sub-hourly cron fires the repeated hour once (its first pass)', () => {
    assert.deepEqual(fires(sched('*/20 * * * *'), '2026-10-24T23:59:59Z', '2026-10-25T02:20:00Z'), [
      '2026-10-25T00:00:00Z', '2026-10-25T00:20:00Z', '2026-10-25T00:40:00Z', // 02:00–02:40 CEST
      '2026-10-25T02:00:00Z', '2026-10-25T02:20:00Z', // 03:00 CET on; 02:xx CET (01:xxZ) skipped
    ]);
  });

  it('autumn fold: from inside the second pass the next fire is after the fold, not in the past', () => {
    const every = sched('* * * * * *');
    assert.equal(iso(nextInstant(every.cron, T('2026-10-25T01:00:00Z')) as number), '2026-10-25T02:00:00Z');
    assert.equal(iso(nextInstant(every.cron, T('2026-10-25T01:30:00Z')) as number), '2026-10-25T02:00:00Z');
    const s = fires(every, '2026-10-25T00:59:57Z', '2026-10-25T02:00:02Z');
    assert.deepEqual(s, ['2026-10-25T00:59:58Z', '2026-10-25T00:59:59Z', '2026-10-25T02:00:00Z', '2026-10-25T02:00:01Z', '2026-10-25T02:00:02Z']);
  });

  it('UTC schedules are untouched by Berlin DST', () => {
    assert.equal(fires(sched('0 * * * *', { timezone: 'UTC' }), '2026-10-24T23:59:59Z', '2026-10-25T23:59:59Z').length, 24);
  });
});

describe('due fires', () => {
  it('an on-time fire runs; nothing else is due', () => {
    const s = sched('* * * * * *', { timezone: 'UTC' });
    const p = planDue(s, T('2026-01-01T00:00:00Z'), T('2026-01-01T00:00:01.004Z'));
    assert.deepEqual(p, { run: T('2026-01-01T00:00:01Z'), late: false, missed: null, cursor: T('2026-01-01T00:00:01Z') });
    assert.equal(planDue(s, T('2026-01-01T00:00:01Z'), T('2026-01-01T00:00:01.900Z')), null);
  });

  it('jitter delays the fire time, not the instant', () => {
    const s = sched('0 3 * * *', { timezone: 'UTC', jitter_seconds: 600 });
    const at = T('2026-01-01T03:00:00Z') + s.jitterMs;
    assert.equal(planDue(s, T('2026-01-01T02:00:00Z'), at - 1), null);
    assert.equal(planDue(s, T('2026-01-01T02:00:00Z'), at)?.run, T('2026-01-01T03:00:00Z'));
  });

  it('a forward jump with catch_up none: every skipped-over fire is missed, none runs', () => {
    const s = sched('0 * * * *', { timezone: 'UTC' });
    const p = planDue(s, T('2026-01-01T11:00:00Z'), T('2026-01-01T14:01:00Z'));
    assert.deepEqual(p, { run: null, late: false, missed: { count: 3, capped: false, first: T('2026-01-01T12:00:00Z'), last: T('2026-01-01T14:00:00Z') }, cursor: T('2026-01-01T14:00:00Z') });
  });

  it('a forward jump with catch_up latest: the newest runs once (late), the older ones are missed', () => {
    const s = sched('0 * * * *', { timezone: 'UTC', catch_up: 'latest', max_lateness_seconds: 3600 });
    const p = planDue(s, T('2026-01-01T11:00:00Z'), T('2026-01-01T14:01:00Z'));
    assert.deepEqual(p, { run: T('2026-01-01T14:00:00Z'), late: true, missed: { count: 2, capped: false, first: T('2026-01-01T12:00:00Z'), last: T('2026-01-01T13:00:00Z') }, cursor: T('2026-01-01T14:00:00Z') });
    // Beyond max_lateness_seconds nothing is caught up.
    const strict = sched('0 * * * *', { timezone: 'UTC', catch_up: 'latest', max_lateness_seconds: 600 });
    const old = planDue(strict, T('2026-01-01T11:00:00Z'), T('2026-01-01T14:15:00Z'));
    assert.equal(old?.run, null);
    assert.equal(old?.missed?.count, 3);
  });

  it('a fire observed within ON_TIME_MS is on time even without catch_up', () => {
    const s = sched('0 * * * *', { timezone: 'UTC' });
    assert.equal(planDue(s, T('2026-01-01T11:00:00Z'), T('2026-01-01T12:00:00Z') + ON_TIME_MS)?.run, T('2026-01-01T12:00:00Z'));
    assert.equal(planDue(s, T('2026-01-01T11:00:00Z'), T('2026-01-01T12:00:00Z') + ON_TIME_MS + 1)?.run, null);
  });

  it('a backward jump leaves nothing due until the clock passes the last fire again', () => {
    const s = sched('* * * * * *', { timezone: 'UTC' });
    assert.equal(planDue(s, T('2026-01-01T10:00:03Z'), T('2026-01-01T09:00:03.500Z')), null);
    assert.equal(planDue(s, T('2026-01-01T10:00:03Z'), T('2026-01-01T10:00:03.900Z')), null);
    assert.equal(planDue(s, T('2026-01-01T10:00:03Z'), T('2026-01-01T10:00:04Z'))?.run, T('2026-01-01T10:00:04Z'));
  });

  it('a long gap on a fast schedule is counted up to a bound, with the newest found exactly', () => {
    const s = sched('* * * * * *', { timezone: 'UTC' });
    const d = dueFires(s, T('2026-01-01T00:00:00Z'), T('2026-01-02T00:00:00Z'));
    assert.equal(d.capped, true);
    assert.equal(d.count, 1000);
    assert.equal(d.last, T('2026-01-02T00:00:00Z'));
  });
});

describe('schedules config checks', () => {
  const base = { name: 'n', cron: '0 3 * * *', command: 'c' };
  const check = (extra: Record<string, unknown>): string => {
    try {
      checkSchedules([scheduleSchema.parse({ ...base, ...extra })], [], Date.now());
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.key;
    }
  };
  it('names the key of a bad cron, an unknown zone, a cron that never fires', () => {
    assert.equal(check({}), 'ok');
    assert.equal(check({ cron: '0 3 * *' }), 'schedules.0.cron');
    assert.equal(check({ cron: '0 0 3 * * * 2030' }), 'schedules.0.cron');
    assert.equal(check({ cron: '61 3 * * *' }), 'schedules.0.cron');
    assert.equal(check({ cron: '0 0 30 2 *' }), 'schedules.0.cron');
    assert.equal(check({ timezone: 'Mars/Olympus' }), 'schedules.0.timezone');
    assert.equal(check({ timezone: 'Europe/Berlin' }), 'ok');
  });
  it('refuses duplicate names and controller ids in the schedule: namespace', () => {
    assert.throws(() => checkSchedules([scheduleSchema.parse(base), scheduleSchema.parse(base)], [], Date.now()), /schedules\.1\.name/);
    assert.throws(() => checkSchedules([], [['controllers.0.id', 'schedule:x']], Date.now()), /controllers\.0\.id.*reserved/);
  });
});
