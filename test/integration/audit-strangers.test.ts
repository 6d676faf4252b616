/**
 * Issue 12, strangers cost little (real SQLite file, fixed clock): per remote address and
 * minute a stranger's first STRANGER_BURST rejections are rows, the rest one counted
 * summary row in the chain; request-derived values are truncated; while the database
 * fails the backlog stays within its row and byte bounds, no write happens on the caller's
 * path, and once it works again every event is in the chain, row by row or counted.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { MAX_COLUMN_CHARS } from '../../internal/audit/audit-clip.js';
import { SqliteAuditLog } from '../../internal/audit/audit-store.js';
import { STRANGER_BURST } from '../../internal/audit/coalescer.js';
import { openDatabase, type Db } from '../../internal/audit/database.js';
import { queryEvents } from '../../internal/audit/query.js';
import { verifyChain } from '../../internal/audit/verify.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-audit-strangers-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let fileNo = 0;
/** Counts every run/get/all of the statements prepared on `db` from now on (the store prepares its own at construction). */
function countStatements(db: Db): () => number {
  let n = 0;
  const prepare = db.prepare.bind(db);
  (db as { prepare: unknown }).prepare = (sql: string) => {
    const st = prepare(sql) as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const m of ['run', 'get', 'all', 'iterate']) {
      const f = st[m];
      if (typeof f !== 'function') continue;
      st[m] = (...a: unknown[]) => {
        n++;
        return f.apply(st, a);
      };
    }
    return st;
  };
  return () => n;
}

function fresh(opts: { maxBuffered?: number; maxBufferedBytes?: number } = {}) {
  const file = path.join(tmp, `audit-${++fileNo}.db`);
  const db = openDatabase(file);
  const statements = countStatements(db);
  const clock = { t: Date.parse('2024-05-01T00:00:10Z') };
  const log = new SqliteAuditLog({ db, clock: { now: () => new Date(clock.t) }, ...opts });
  return { file, db, log, clock, statements };
}

const forged = (addr: string, code = 'INVALID_SIGNATURE', controller = 'ctl') =>
  ({ type: 'job.rejected', jobId: 'job-x', controllerId: controller, remoteAddr: addr, details: { code, reason: 'signature does not match' }, stranger: true }) as const;

const rows = (db: Db) => [...queryEvents(db)];

describe('audit: strangers are coalesced, truncated and bounded', () => {
  it('past a burst per address and minute, rejections become one summary row per address and minute, counts by code', async () => {
    const { db, log, clock } = fresh();
    for (let i = 0; i < 100; i++) log.appendBatched(forged('198.51.100.1', i % 4 === 0 ? 'INVALID_JSON' : 'INVALID_SIGNATURE'));
    for (let i = 0; i < 30; i++) log.appendBatched(forged('198.51.100.2'));
    await nextTurn();
    assert.equal(rows(db).length, 2 * STRANGER_BURST, 'only the bursts are rows');
    assert.deepEqual(log.backlog(), { rows: 0, bytes: 0, counted: 100 + 30 - 2 * STRANGER_BURST });
    clock.t += 60_000; // the minute is over: the next event writes its summaries
    log.appendBatched(forged('198.51.100.1'));
    await nextTurn();
    const summaries = rows(db).filter((r) => r.type === 'requests.coalesced');
    assert.equal(summaries.length, 2);
    const one = summaries.find((r) => r.remoteAddr === '198.51.100.1');
    assert.equal(one?.details['counted'], 100 - STRANGER_BURST);
    const counts = one?.details['counts'] as { code: string; count: number }[];
    assert.deepEqual(counts.map((c) => c.code), ['INVALID_JSON', 'INVALID_SIGNATURE']);
    assert.equal(counts.reduce((n, c) => n + c.count, 0), 100 - STRANGER_BURST);
    assert.equal(one?.details['minute'], '2024-05-01T00:00:00.000Z');
    assert.equal(summaries.find((r) => r.remoteAddr === '198.51.100.2')?.details['counted'], 30 - STRANGER_BURST);
    assert.equal(rows(db).filter((r) => r.type === 'job.rejected').length, 2 * STRANGER_BURST + 1, 'a new minute opens a new burst');
    assert.deepEqual(verifyChain(db), { ok: true, checked: rows(db).length });
    db.close();
  });

  it('request-derived values are truncated: a 15,000-character controller header costs well under 1 KB', async () => {
    const { db, log } = fresh();
    log.appendBatched({ ...forged('198.51.100.3', 'UNAUTHENTICATED', 'c'.repeat(15_000)), type: 'request.unauthenticated', details: { code: 'UNAUTHENTICATED', reason: 'r'.repeat(15_000), path: '/p' } });
    await nextTurn();
    const stored = db.prepare('SELECT controller_id, details FROM audit_events').get() as { controller_id: string; details: string };
    assert.ok(stored.controller_id.length <= MAX_COLUMN_CHARS + 20, `controller_id kept ${stored.controller_id.length} chars`);
    assert.ok(stored.details.length < 700, `details kept ${stored.details.length} chars`);
    db.close();
  });

  it('while the database fails: the backlog stays within its bounds, nothing is written on the caller path, nothing is lost', async () => {
    const { db, log, statements } = fresh({ maxBuffered: 500, maxBufferedBytes: 200 * 1024 });
    db.pragma('query_only = ON');
    log.appendBatched({ ...forged('203.0.113.9'), stranger: false });
    await nextTurn(); // the group commit fails: unhealthy, the recheck timer is armed
    assert.equal(log.healthy(), false);
    const before = statements();
    for (let i = 0; i < 20_000; i++) log.appendBatched({ ...forged(`203.0.113.${i % 50}`), stranger: false, details: { code: 'INVALID_SIGNATURE', pad: 'x'.repeat(200) } });
    const onCallerPath = statements() - before;
    await nextTurn();
    const b = log.backlog();
    assert.ok(b.rows <= 500, `rows ${b.rows}`);
    assert.ok(b.bytes <= 200 * 1024 + 1024, `bytes ${b.bytes}`);
    assert.equal(b.rows + b.counted, 20_001, 'every event is held or counted');
    assert.equal(onCallerPath, 0, 'no synchronous retry per call: not one statement ran on the callers\' path');
    db.pragma('query_only = OFF');
    assert.equal(await log.checked(), true, 'the one timer finds the database writable again');
    assert.ok(statements() > before, 'the store runs its statements through the counted prepare');
    const all = rows(db);
    const summarised = all.filter((r) => r.type === 'requests.coalesced').reduce((n, r) => n + Number(r.details['counted']), 0);
    const overflow = all.filter((r) => r.type === 'requests.coalesced').reduce((n, r) => n + Number(r.details['backlog_overflow']), 0);
    assert.equal(all.filter((r) => r.type === 'job.rejected').length + summarised, 20_001, 'nothing lost: rows plus counted');
    assert.equal(overflow, summarised, 'what did not fit is marked as backlog overflow');
    assert.deepEqual(log.backlog(), { rows: 0, bytes: 0, counted: 0 });
    assert.deepEqual(verifyChain(db), { ok: true, checked: all.length });
    db.close();
  });

  it('close() writes the counted events, and names what it cannot write instead of dropping it silently', async () => {
    const a = fresh();
    for (let i = 0; i < 40; i++) a.log.appendBatched(forged('192.0.2.44'));
    a.log.close();
    assert.equal(rows(a.db).filter((r) => r.type === 'requests.coalesced')[0]?.details['counted'], 40 - STRANGER_BURST);
    a.db.close();
    const b = fresh();
    for (let i = 0; i < 40; i++) b.log.appendBatched(forged('192.0.2.45'));
    b.db.pragma('query_only = ON');
    assert.throws(() => b.log.close(), /audit backlog lost at close: 10 rows \(\d+ bytes\) and 30 counted events/);
    b.db.close();
  });
});
