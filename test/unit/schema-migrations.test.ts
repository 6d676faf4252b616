/**
 * Per-owner migrations of the agent database (audit, jobs, schedules): a new file gets the
 * same schema the single shared list made, and a file made by that list (any of its versions)
 * opens without re-running a step, keeps its data and works; real SQLite files throughout.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { AGENT_MIGRATIONS, openAgentDatabase } from '../../internal/agent/agent-database.js';
import { JobStore } from '../../internal/agent/jobs/job-store.js';
import type { JobSpec } from '../../internal/agent/jobs/job.js';
import { ScheduleStore } from '../../internal/agent/jobs/schedule-store.js';
import { SqliteAuditLog } from '../../internal/audit/audit-store.js';
import { openDatabase, type Db } from '../../internal/audit/database.js';
import { verifyChain } from '../../internal/audit/verify.js';
import { LEGACY_MIGRATIONS, legacyMigrate } from '../helpers/legacy-migrations.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-migrations-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => path.join(dir, `agent-${++n}.db`);
const spec: JobSpec = { command: 'echo hi', image: 'img', cpuLimit: 1, memoryLimit: 8 << 20, timeoutSeconds: 10, pidsLimit: 64, env: {}, requiredScopes: [] };

/** A file made by the old code: its runner over its list, up to `version`. */
function legacyFile(version: number): string {
  const file = fresh();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  legacyMigrate(db, version);
  db.close();
  return file;
}

/** Every table, index and trigger with its SQL (whitespace folded), schema_versions left out. */
function schemaOf(db: Db): string[] {
  const rows = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> 'schema_versions' ORDER BY type, name").all() as { type: string; name: string; tbl_name: string; sql: string | null }[];
  return rows.map((r) => `${r.type} ${r.name} ${r.tbl_name} ${(r.sql ?? '').replace(/\s+/g, ' ')}`);
}

const versions = (db: Db): Record<string, number> =>
  Object.fromEntries((db.prepare('SELECT owner, version FROM schema_versions ORDER BY owner').all() as { owner: string; version: number }[]).map((r) => [r.owner, r.version]));
const userVersion = (db: Db): number => Number(db.pragma('user_version', { simple: true }));

function legacySchema(): string[] {
  const db = new Database(legacyFile(LEGACY_MIGRATIONS.length));
  try {
    return schemaOf(db);
  } finally {
    db.close();
  }
}

describe('agent database migrations', () => {
  it('a new file has exactly the schema of the old shared list, each owner at its newest version', () => {
    const db = openAgentDatabase(fresh());
    try {
      assert.deepEqual(schemaOf(db), legacySchema());
      assert.equal(schemaOf(db).length, 17);
      assert.deepEqual(versions(db), Object.fromEntries(AGENT_MIGRATIONS.map((m) => [m.owner, m.steps.length])));
      // The old code would open this file as its own newest version and run nothing.
      assert.equal(userVersion(db), LEGACY_MIGRATIONS.length);
    } finally {
      db.close();
    }
  });

  for (const v of [1, 2, 3]) {
    it(`a file at old user_version ${v} opens without re-running a step and ends with the same schema`, () => {
      const file = legacyFile(v);
      const db = openAgentDatabase(file);
      try {
        assert.deepEqual(schemaOf(db), legacySchema());
        assert.deepEqual(versions(db), { audit: 1, jobs: 3, schedules: 1 });
        assert.equal(userVersion(db), 3);
      } finally {
        db.close();
      }
    });
  }

  it('a file made and used by the old code keeps its data, chain and accepted ids, and works on', () => {
    const file = legacyFile(3);
    const old = new Database(file);
    const oldAudit = new SqliteAuditLog({ db: old, clock: { now: () => new Date(1_000) } });
    oldAudit.append({ type: 'job.accepted', jobId: 'job-old', controllerId: 'ctl', details: { n: 1 } });
    const oldStore = new JobStore(old);
    oldStore.insertPending('job-old', 'ctl', spec, 1_000);
    oldStore.appendFrame('job-old', { seq: 1, ts: 1_000, stream: 'stdout', data: Buffer.from('hi\n') });
    new ScheduleStore(old).save('nightly', 5_000, 1, 0, 1_000);
    const agentId = oldStore.meta('agent_id', () => 'qa-old');
    old.close();

    const db = openAgentDatabase(file);
    try {
      const store = new JobStore(db);
      assert.equal(store.meta('agent_id', () => 'qa-new'), agentId);
      assert.equal(store.wasAccepted('job-old'), true);
      assert.equal(store.get('job-old')?.status, 'pending');
      assert.deepEqual(store.framesAfter('job-old', 0).map((f) => f.data.toString()), ['hi\n']);
      assert.deepEqual(new ScheduleStore(db).load('nightly'), { lastInstant: 5_000, skipped: 1, missed: 0 });
      const audit = new SqliteAuditLog({ db, clock: { now: () => new Date(2_000) } });
      const rec = audit.append({ type: 'job.accepted', jobId: 'job-new', controllerId: 'ctl', details: { n: 2 } });
      assert.equal(rec.seq, 2);
      store.insertPending('job-new', 'ctl', spec, 2_000);
      assert.throws(() => store.insertPending('job-old', 'ctl', spec, 2_000));
      assert.deepEqual(verifyChain(db), { ok: true, checked: 2 });
    } finally {
      db.close();
    }
  });

  it('opening again applies nothing, and the old runner still accepts the file', () => {
    const file = fresh();
    openAgentDatabase(file).close();
    const db = openAgentDatabase(file);
    const before = versions(db);
    db.close();
    const again = openAgentDatabase(file);
    assert.deepEqual(versions(again), before);
    again.close();
    const old = new Database(file);
    try {
      legacyMigrate(old);
      assert.equal(userVersion(old), 3);
    } finally {
      old.close();
    }
  });

  it('the audit alone makes only its tables, and the agent adds the rest later', () => {
    const file = fresh();
    const audit = openDatabase(file);
    try {
      assert.deepEqual(versions(audit), { audit: 1 });
      assert.deepEqual(
        (audit.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_versions' ORDER BY name").all() as { name: string }[]).map((r) => r.name),
        ['agent_meta', 'audit_events'],
      );
      // Not the old schema: the old code must refuse it rather than create tables over it.
      assert.equal(userVersion(audit), 4);
    } finally {
      audit.close();
    }
    const db = openAgentDatabase(file);
    try {
      assert.deepEqual(schemaOf(db), legacySchema());
      assert.equal(userVersion(db), 3);
    } finally {
      db.close();
    }
  });

  it('refuses a file whose owner is newer than this build, and an old file newer than the old list', () => {
    const file = fresh();
    const db = openAgentDatabase(file);
    db.prepare("UPDATE schema_versions SET version = 9 WHERE owner = 'jobs'").run();
    db.close();
    assert.throws(() => openAgentDatabase(file), /schema of jobs is at version 9, newer than this agent \(3\)/);

    const old = fresh();
    const raw = new Database(old);
    raw.pragma('user_version = 7');
    raw.close();
    assert.throws(() => openAgentDatabase(old), /schema version 7 is newer than this agent \(3\)/);
    const check = new Database(old);
    try {
      assert.equal((check.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number }).n, 0);
    } finally {
      check.close();
    }
  });
});
