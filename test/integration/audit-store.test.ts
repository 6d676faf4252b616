import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { asAgentError } from '../../internal/agent/errors.js';
import { AuditError, AuditUnavailableError } from '../../internal/audit/audit-error.js';
import type { AuditEventInput } from '../../internal/audit/audit-log.js';
import { SqliteAuditLog } from '../../internal/audit/audit-store.js';
import { GENESIS_HASH, rowHash } from '../../internal/audit/chain.js';
import { openDatabase, type Db } from '../../internal/audit/database.js';
import { queryEvents } from '../../internal/audit/query.js';
import { verifyChain } from '../../internal/audit/verify.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-audit-store-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let fileNo = 0;
/** A stepping clock: each now() is one second after the previous. */
function steppingClock(start = Date.parse('2024-05-01T00:00:00Z')): { now(): Date } {
  let t = start;
  return { now: () => new Date((t += 1000)) };
}

function event(i: number): AuditEventInput {
  return { type: 'job.accepted', jobId: `job-${i}`, controllerId: `ctl-${i % 3}`, remoteAddr: '127.0.0.1', details: { i, image: 'alpine:3', limits: { mem: 64, cpu: 0.5 } } };
}

/** A fresh database file with `n` events appended through the store. */
function freshLog(n: number): { file: string; db: Db; log: SqliteAuditLog } {
  const file = path.join(tmp, `audit-${++fileNo}.db`);
  const db = openDatabase(file);
  const log = new SqliteAuditLog({ db, clock: steppingClock() });
  for (let i = 1; i <= n; i++) log.append(event(i));
  return { file, db, log };
}

/** A second connection acting as an attacker with write access to the file: triggers gone. */
function attacker(file: string): Database.Database {
  const raw = new Database(file);
  raw.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
  return raw;
}

function isAuditUnavailable(e: unknown): boolean {
  // The audit log owns its error; the agent's one mapping gives it its code and status.
  const answer = asAgentError(e);
  return e instanceof AuditUnavailableError && answer !== null && answer.code === 'AUDIT_UNAVAILABLE' && answer.status === 503 && e.cause !== undefined;
}

describe('SqliteAuditLog: appending', () => {
  it('appends many events into a chain that verifies', () => {
    const { db, log } = freshLog(0);
    const records = Array.from({ length: 500 }, (_, i) => log.append(event(i + 1)));
    assert.deepEqual(records.map((r) => r.seq), Array.from({ length: 500 }, (_, i) => i + 1));
    assert.equal(records[0].prevHash, GENESIS_HASH);
    for (let i = 1; i < records.length; i++) assert.equal(records[i].prevHash, records[i - 1].hash);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 500 });
    // What append() returned is exactly what is stored.
    assert.deepEqual([...queryEvents(db)], records);
    assert.ok(log.healthy());
  });

  it('stamps ts from the injected clock as RFC 3339 UTC with milliseconds', () => {
    const { log } = freshLog(0);
    const r = log.append({ type: 'agent.started' });
    assert.equal(r.ts, '2024-05-01T00:00:01.000Z');
    assert.deepEqual([r.jobId, r.controllerId, r.remoteAddr, r.details], [null, null, null, {}]);
  });

  it('drops secret-looking keys at any depth before hashing', () => {
    const { db, log } = freshLog(0);
    const r = log.append({
      type: 'job.rejected',
      details: { reason: 'INVALID_SIGNATURE', signature: 'abc', hmac_secret: 's', nested: { authToken: 't', Password: 'p', keep: 1 }, list: [{ body: 'x', n: 2 }] },
    });
    assert.deepEqual(r.details, { reason: 'INVALID_SIGNATURE', nested: { keep: 1 }, list: [{ n: 2 }] });
    const stored = db.prepare<[], { details: string }>('SELECT details FROM audit_events').get();
    assert.equal(stored?.details, '{"list":[{"n":2}],"nested":{"keep":1},"reason":"INVALID_SIGNATURE"}');
    assert.deepEqual(verifyChain(db), { ok: true, checked: 1 });
  });

  it('rejects details that cannot be serialised without touching health', () => {
    const { db, log } = freshLog(1);
    assert.throws(() => log.append({ type: 'job.finished', details: { n: 1n } }), (e: unknown) => e instanceof AuditError && asAgentError(e)?.code === 'INTERNAL');
    assert.ok(log.healthy());
    assert.deepEqual(verifyChain(db), { ok: true, checked: 1 });
  });

  it('creates the database file with mode 0600', () => {
    const { file } = freshLog(3);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    if (fs.existsSync(`${file}-wal`)) assert.equal(fs.statSync(`${file}-wal`).mode & 0o777, 0o600);
  });

  it('offers no way to change or remove a row', () => {
    const methods = Object.getOwnPropertyNames(SqliteAuditLog.prototype).sort();
    assert.deepEqual(methods, ['append', 'appendBatched', 'constructor', 'flush', 'healthy', 'markFailed', 'probe']);
    assert.ok(!methods.some((m) => /update|delete|remove|truncate|rewrite|set/i.test(m)), 'no method changes or removes a row');
  });

  it('refuses UPDATE and DELETE in SQL (triggers)', () => {
    const { db } = freshLog(3);
    assert.throws(() => db.prepare("UPDATE audit_events SET type = 'agent.stopped' WHERE seq = 2").run(), /append-only/);
    assert.throws(() => db.prepare('DELETE FROM audit_events WHERE seq = 2').run(), /append-only/);
    assert.throws(() => db.prepare('DELETE FROM audit_events').run(), /append-only/);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 3 });
  });
});

describe('SqliteAuditLog: transactions', () => {
  it('leaves a valid chain when the caller’s outer transaction rolls back', () => {
    const { db, log } = freshLog(5);
    const outer = db.transaction(() => {
      log.append(event(100));
      log.append(event(101));
      throw new Error('caller aborts');
    });
    assert.throws(() => outer(), /caller aborts/);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 5 });
    // The next append must chain to the committed head, not to the rolled-back rows.
    const r = log.append(event(6));
    assert.equal(r.seq, 6);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 6 });
  });

  it('commits with the caller’s outer transaction', () => {
    const { db, log } = freshLog(2);
    const seqs = db.transaction(() => {
      db.prepare("INSERT INTO agent_meta (key, value) VALUES ('agent_id', 'a1')").run();
      return [log.append(event(3)).seq, log.append(event(4)).seq];
    })();
    assert.deepEqual(seqs, [3, 4]);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 4 });
  });
});

describe('SqliteAuditLog: write failures', () => {
  it('read-only connection: AUDIT_UNAVAILABLE, unhealthy, then recovers', () => {
    const { db, log } = freshLog(3);
    assert.ok(log.probe());
    db.pragma('query_only = 1');
    assert.throws(() => log.append(event(4)), isAuditUnavailable);
    assert.equal(log.healthy(), false);
    assert.equal(log.probe(), false);
    assert.equal(log.healthy(), false);
    db.pragma('query_only = 0');
    assert.equal(log.probe(), true);
    assert.equal(log.healthy(), true);
    assert.equal(log.append(event(4)).seq, 4);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 4 });
  });

  it('file locked by another writer: AUDIT_UNAVAILABLE, then a later append restores health', () => {
    const { file, db, log } = freshLog(2);
    db.pragma('busy_timeout = 50');
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    try {
      assert.throws(() => log.append(event(3)), isAuditUnavailable);
      assert.equal(log.healthy(), false);
      assert.equal(log.probe(), false);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    assert.equal(log.append(event(3)).seq, 3);
    assert.equal(log.healthy(), true);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 3 });
  });

  it('closed connection: AUDIT_UNAVAILABLE and probe false', () => {
    const { db, log } = freshLog(1);
    db.close();
    assert.throws(() => log.append(event(2)), isAuditUnavailable);
    assert.equal(log.probe(), false);
  });

  it('probe never leaves a row behind', () => {
    const { db, log } = freshLog(2);
    assert.ok(log.probe());
    assert.ok(db.transaction(() => log.probe())());
    assert.equal(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM audit_events').get()?.n, 2);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 2 });
  });
});

describe('verifyChain: tampering by someone with file access', () => {
  it('(a) a changed row: its own seq', () => {
    const { file, db } = freshLog(20);
    attacker(file).prepare("UPDATE audit_events SET details = json_set(details, '$.image', 'evil:latest') WHERE seq = 7").run();
    const res = verifyChain(db);
    assert.deepEqual(res.ok ? null : [res.badSeq, res.checked], [7, 6]);
    assert.match(res.ok ? '' : res.reason, /hash mismatch/);
  });

  it('(a) a changed column other than details (ts, controller)', () => {
    const { file, db } = freshLog(20);
    attacker(file).prepare("UPDATE audit_events SET controller_id = 'ctl-x' WHERE seq = 12").run();
    const res = verifyChain(db);
    assert.equal(res.ok ? 0 : res.badSeq, 12);
  });

  it('(a) details re-serialised with the same meaning (whitespace)', () => {
    const { file, db } = freshLog(5);
    attacker(file).prepare("UPDATE audit_events SET details = ' ' || details WHERE seq = 3").run();
    const res = verifyChain(db);
    assert.equal(res.ok ? 0 : res.badSeq, 3);
    assert.match(res.ok ? '' : res.reason, /canonical/);
  });

  it('(a) a changed first row prev_hash', () => {
    const { file, db } = freshLog(5);
    attacker(file).prepare("UPDATE audit_events SET prev_hash = 'ab' || substr(prev_hash, 3) WHERE seq = 1").run();
    const res = verifyChain(db);
    assert.equal(res.ok ? 0 : res.badSeq, 1);
    assert.match(res.ok ? '' : res.reason, /genesis/);
  });

  it('(b) a deleted middle row: the row after the gap', () => {
    const { file, db } = freshLog(20);
    attacker(file).prepare('DELETE FROM audit_events WHERE seq = 10').run();
    const res = verifyChain(db);
    assert.deepEqual(res.ok ? null : [res.badSeq, res.checked], [11, 9]);
    assert.match(res.ok ? '' : res.reason, /gap: expected 10, found 11/);
  });

  it('(b) a deleted first row', () => {
    const { file, db } = freshLog(5);
    attacker(file).prepare('DELETE FROM audit_events WHERE seq = 1').run();
    const res = verifyChain(db);
    assert.equal(res.ok ? 0 : res.badSeq, 2);
  });

  it('(b) a deleted row with later rows renumbered to close the gap', () => {
    const { file, db } = freshLog(10);
    const raw = attacker(file);
    raw.prepare('DELETE FROM audit_events WHERE seq = 4').run();
    raw.prepare('UPDATE audit_events SET seq = seq - 1 WHERE seq > 4').run();
    const res = verifyChain(db);
    assert.equal(res.ok ? 0 : res.badSeq, 4);
  });

  it('(c) a forged row with a made-up hash appended at the end', () => {
    const { file, db } = freshLog(8);
    const head = db.prepare<[], { hash: string }>('SELECT hash FROM audit_events WHERE seq = 8').get();
    attacker(file)
      .prepare("INSERT INTO audit_events VALUES (9, '2024-05-01T01:00:00.000Z', 'job.accepted', 'forged', 'ctl-0', NULL, '{}', ?, ?)")
      .run(head?.hash, 'f'.repeat(64));
    const res = verifyChain(db);
    assert.equal(res.ok ? 0 : res.badSeq, 9);
    assert.match(res.ok ? '' : res.reason, /hash mismatch/);
  });

  it('(c) a correctly hashed forged row spliced into the middle', () => {
    const { file, db } = freshLog(10);
    const raw = attacker(file);
    const prev = raw.prepare<[], { hash: string }>('SELECT hash FROM audit_events WHERE seq = 5').get()?.hash ?? '';
    // Make room at seq 6 (two steps so the primary key never collides), then forge it.
    raw.prepare('UPDATE audit_events SET seq = seq + 1000 WHERE seq > 5').run();
    raw.prepare('UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000').run();
    const forged = { seq: 6, ts: '2024-05-01T00:00:05.500Z', type: 'job.accepted', jobId: 'forged', controllerId: 'ctl-0', remoteAddr: null, details: {} };
    raw
      .prepare('INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(6, forged.ts, forged.type, forged.jobId, forged.controllerId, null, '{}', prev, rowHash(prev, forged));
    const res = verifyChain(db);
    // The forgery itself links; the original row after it (now seq 7) no longer does.
    assert.deepEqual(res.ok ? null : [res.badSeq, res.checked], [7, 6]);
    assert.match(res.ok ? '' : res.reason, /prev_hash does not match the hash of seq 6/);
  });

  it('reports ok with checked 0 on an empty log', () => {
    const { db } = freshLog(0);
    assert.deepEqual(verifyChain(db), { ok: true, checked: 0 });
  });
});

describe('queryEvents', () => {
  it('filters by job, controller, type and time, with a limit, in seq order', () => {
    const { db, log } = freshLog(30);
    log.append({ type: 'job.finished', jobId: 'job-2', controllerId: 'ctl-2', details: { status: 'ok' } });
    const seqs = (f: Parameters<typeof queryEvents>[1]): number[] => [...queryEvents(db, f)].map((r) => r.seq);
    assert.deepEqual(seqs({ jobId: 'job-2' }), [2, 31]);
    assert.deepEqual(seqs({ controllerId: 'ctl-0', limit: 3 }), [3, 6, 9]);
    assert.deepEqual(seqs({ type: 'job.finished' }), [31]);
    // Event n has ts 2024-05-01T00:00:0n; since is inclusive, until exclusive.
    assert.deepEqual(seqs({ since: new Date('2024-05-01T00:00:05Z'), until: new Date('2024-05-01T00:00:08Z') }), [5, 6, 7]);
    assert.deepEqual(seqs({ limit: 0 }), []);
    assert.throws(() => queryEvents(db, { limit: -1 }), RangeError);
    assert.throws(() => queryEvents(db, { since: new Date('nope') }), RangeError);
  });
});
