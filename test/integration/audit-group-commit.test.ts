import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { AuditUnavailableError } from '../../internal/audit/audit-error.js';
import { SqliteAuditLog } from '../../internal/audit/audit-store.js';
import { openDatabase, type Db } from '../../internal/audit/database.js';
import { queryEvents } from '../../internal/audit/query.js';
import { verifyChain } from '../../internal/audit/verify.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-audit-group-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let fileNo = 0;
function fresh(maxBuffered?: number): { file: string; db: Db; log: SqliteAuditLog } {
  const file = path.join(tmp, `audit-${++fileNo}.db`);
  const db = openDatabase(file);
  let t = Date.parse('2024-05-01T00:00:00Z');
  const log = new SqliteAuditLog({ db, clock: { now: () => new Date((t += 1000)) }, maxBuffered });
  return { file, db, log };
}

function rejection(i: number) {
  return { type: 'job.rejected', jobId: `job-${i}`, controllerId: 'ctl', remoteAddr: '10.0.0.1', details: { code: 'INVALID_SIGNATURE', i } } as const;
}

function count(db: Db): number {
  return (db.prepare('SELECT count(*) AS n FROM audit_events').get() as { n: number }).n;
}

/** The `i` of each stored row's details, in seq order. */
function order(db: Db): unknown[] {
  return [...queryEvents(db)].map((r) => r.details['i'] ?? r.type);
}

describe('SqliteAuditLog: group commit of rejections', () => {
  it('writes a turn of rejections in one commit at the end of the turn, in call order, chained', async () => {
    const { db, log } = fresh();
    for (let i = 1; i <= 200; i++) log.appendBatched(rejection(i));
    assert.equal(count(db), 0, 'nothing is written before the turn ends');
    await nextTurn();
    assert.equal(count(db), 200);
    assert.deepEqual(order(db), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.deepEqual(verifyChain(db), { ok: true, checked: 200 });
    assert.ok(log.healthy());
    db.close();
  });

  it('a synchronous append writes the queued rejections before itself', () => {
    const { db, log } = fresh();
    log.appendBatched(rejection(1));
    log.appendBatched(rejection(2));
    const rec = log.append({ type: 'job.accepted', jobId: 'job-3', details: { i: 3 } });
    assert.equal(rec.seq, 3, 'the accepted event comes after the two rejections queued before it');
    assert.deepEqual(order(db), [1, 2, 3]);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 3 });
    db.close();
  });

  it('queued rejections never roll back with a caller transaction that fails', async () => {
    const { db, log } = fresh();
    log.appendBatched(rejection(1));
    assert.throws(
      () =>
        db.transaction(() => {
          log.append({ type: 'job.accepted', jobId: 'job-x', details: { i: 'x' } });
          throw new Error('caller fails');
        })(),
      /caller fails/,
    );
    await nextTurn();
    assert.deepEqual(order(db), [1], 'the rejection survives, the rolled-back event is gone');
    assert.deepEqual(verifyChain(db), { ok: true, checked: 1 });
    db.close();
  });

  it('a full buffer is written synchronously with the new event: nothing is dropped', () => {
    const { db, log } = fresh(5);
    for (let i = 1; i <= 5; i++) log.appendBatched(rejection(i));
    assert.equal(count(db), 0);
    log.appendBatched(rejection(6));
    assert.equal(count(db), 6, 'the sixth event found the buffer full and wrote all six at once');
    assert.deepEqual(order(db), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 6 });
    db.close();
  });

  it('flush() writes everything queued (the agent calls it before closing the database)', () => {
    const { file, db, log } = fresh();
    for (let i = 1; i <= 10; i++) log.appendBatched(rejection(i));
    log.flush();
    log.flush(); // idempotent
    db.close();
    const again = openDatabase(file);
    assert.deepEqual(order(again), Array.from({ length: 10 }, (_, i) => i + 1));
    assert.deepEqual(verifyChain(again), { ok: true, checked: 10 });
    again.close();
  });

  it('a failed group commit keeps the events queued and unhealthy until a write succeeds', async () => {
    const { db, log } = fresh();
    db.pragma('query_only = ON');
    log.appendBatched(rejection(1));
    log.appendBatched(rejection(2));
    await nextTurn();
    assert.equal(log.healthy(), false);
    assert.throws(() => log.flush(), (e: unknown) => e instanceof AuditUnavailableError && e.code === 'AUDIT_UNAVAILABLE');
    db.pragma('query_only = OFF');
    log.appendBatched(rejection(3));
    log.flush();
    assert.ok(log.healthy());
    assert.deepEqual(order(db), [1, 2, 3]);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 3 });
    db.close();
  });
});
