import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { AuditEventInput, AuditRecord } from '../../internal/audit/audit-log.js';
import { DEFAULT_AUDIT_DB_PATH } from '../../internal/audit/audit-cli.js';
import { SqliteAuditLog } from '../../internal/audit/audit-store.js';
import { openDatabase, type Db } from '../../internal/audit/database.js';
import { run, type RunResult } from '../helpers/exec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// cmd/quickcmd.ts (owned elsewhere) wires the same registerAuditCommands; use it once it exists.
const entry = fs.existsSync(path.join(root, 'cmd/quickcmd.ts')) ? 'cmd/quickcmd.ts' : 'test/helpers/audit-cli-main.ts';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-audit-cli-'));
const dbFile = path.join(tmp, 'agent-audit.db');
const T0 = Date.parse('2024-05-01T00:00:00Z');
const HOUR = 3_600_000;

/** Event i (1-based) happens at T0 + i hours; jobs, controllers and types vary by i. */
function fixture(i: number): AuditEventInput {
  const types = ['job.accepted', 'job.started', 'job.finished'] as const;
  return { type: types[i % 3], jobId: `job-${i % 4}`, controllerId: i % 2 === 0 ? 'ctl-even' : 'ctl-odd', remoteAddr: `10.0.0.${i}`, details: { i } };
}
const N = 24;
let records: AuditRecord[] = [];
let liveDb: Db;

function cli(...args: string[]): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', entry, 'audit', ...args], { cwd: root, timeoutMs: 60_000 });
}

/** seqs printed by `audit list --json` with extra filter args, checked to exit 0. */
async function listSeqs(...filters: string[]): Promise<number[]> {
  const r = await cli('list', '--db', dbFile, '--json', ...filters);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as AuditRecord[]).map((e) => e.seq);
}

/** seqs printed by `audit export --format jsonl` with extra filter args, checked to exit 0. */
async function exportSeqs(...filters: string[]): Promise<number[]> {
  const r = await cli('export', '--db', dbFile, '--format', 'jsonl', ...filters);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as AuditRecord).seq);
}

function expectSeqs(pred: (r: AuditRecord) => boolean): number[] {
  return records.filter(pred).map((r) => r.seq);
}

before(() => {
  // The agent's connection stays open (WAL, read-write) for the whole file: the CLI must
  // work on a live database.
  liveDb = openDatabase(dbFile);
  let t = T0;
  const log = new SqliteAuditLog({ db: liveDb, clock: { now: () => new Date((t += HOUR)) } });
  records = Array.from({ length: N }, (_, k) => log.append(fixture(k + 1)));
});
after(() => {
  liveDb.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('audit verify', () => {
  it('exits 0 on an intact chain of a live database', async () => {
    const r = await cli('verify', '--db', dbFile);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `ok: ${N} events verified\n`);
    const j = await cli('verify', '--db', dbFile, '--json');
    assert.deepEqual(JSON.parse(j.stdout), { ok: true, checked: N });
  });

  it('exits 1 naming the first bad event of a tampered copy', async () => {
    const copy = path.join(tmp, 'tampered.db');
    await liveDb.backup(copy);
    const raw = new Database(copy);
    raw.exec("DROP TRIGGER audit_events_no_update; UPDATE audit_events SET remote_addr = '6.6.6.6' WHERE seq = 5");
    raw.close();
    const r = await cli('verify', '--db', copy);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^TAMPERED: first bad event seq=5: hash mismatch/);
    const j = await cli('verify', '--db', copy, '--json');
    assert.equal(j.code, 1);
    assert.deepEqual(JSON.parse(j.stdout), { ok: false, checked: 4, badSeq: 5, reason: 'hash mismatch (row content changed)' });
  });

  it('takes the path from --config audit_db_path', async () => {
    const cfg = path.join(tmp, 'agent-config.yaml');
    fs.writeFileSync(cfg, `listen_port: 8443\naudit_db_path: ${dbFile}\n`);
    const r = await cli('verify', '--config', cfg);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `ok: ${N} events verified\n`);
  });

  it('exits 1 with the path when the database cannot be opened (default path)', async () => {
    const missing = path.join(tmp, 'nope.db');
    const r = await cli('verify', '--db', missing);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot open audit database ${missing}`));
    if (!fs.existsSync(DEFAULT_AUDIT_DB_PATH)) {
      const d = await cli('verify');
      assert.equal(d.code, 1);
      assert.ok(d.stderr.includes(DEFAULT_AUDIT_DB_PATH), d.stderr);
    }
  });
});

describe('audit list and export filters', () => {
  it('no filter: every event in seq order, identical to what was appended', async () => {
    const r = await cli('list', '--db', dbFile, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), records);
    const e = await cli('export', '--db', dbFile, '--format', 'jsonl');
    assert.deepEqual(e.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown), records);
  });

  it('--since inclusive and --until exclusive, at exact event times', async () => {
    const since = new Date(T0 + 5 * HOUR).toISOString();
    const until = new Date(T0 + 9 * HOUR).toISOString();
    const want = expectSeqs((r) => r.ts >= since && r.ts < until);
    assert.deepEqual(want, [5, 6, 7, 8]);
    assert.deepEqual(await listSeqs('--since', since, '--until', until), want);
    assert.deepEqual(await exportSeqs('--since', since, '--until', until), want);
    // Offsets and date-only forms mean the same instants.
    assert.deepEqual(await listSeqs('--since', '2024-05-01T07:00:00+02:00', '--until', '2024-05-01T11:00:00+02:00'), want);
    assert.deepEqual(await listSeqs('--until', '2024-05-01'), []);
    assert.deepEqual(await listSeqs('--since', '2024-05-02'), expectSeqs((r) => r.ts >= '2024-05-02'));
  });

  it('--job, --controller, --type, combined, and --limit', async () => {
    assert.deepEqual(await listSeqs('--job', 'job-1'), expectSeqs((r) => r.jobId === 'job-1'));
    assert.deepEqual(await exportSeqs('--controller', 'ctl-even'), expectSeqs((r) => r.controllerId === 'ctl-even'));
    assert.deepEqual(await exportSeqs('--type', 'job.finished'), expectSeqs((r) => r.type === 'job.finished'));
    const combined = expectSeqs((r) => r.jobId === 'job-2' && r.controllerId === 'ctl-even' && r.type === 'job.finished');
    assert.deepEqual(combined, [2, 14]);
    assert.deepEqual(await exportSeqs('--job', 'job-2', '--controller', 'ctl-even', '--type', 'job.finished'), combined);
    assert.deepEqual(await listSeqs('--controller', 'ctl-odd', '--limit', '3'), [1, 3, 5]);
    assert.deepEqual(await listSeqs('--job', 'no-such-job'), []);
  });

  it('human table: header plus one line per event', async () => {
    const r = await cli('list', '--db', dbFile, '--job', 'job-3');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^\s*SEQ\s+TS\s+TYPE\s+JOB\s+CONTROLLER\s+REMOTE$/);
    const want = records.filter((e) => e.jobId === 'job-3');
    assert.equal(lines.length, want.length + 1);
    for (const [k, e] of want.entries()) {
      assert.deepEqual(lines[k + 1].trim().split(/\s+/), [String(e.seq), e.ts, e.type, 'job-3', e.controllerId, e.remoteAddr]);
    }
  });
});

describe('usage errors exit 2', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['bad --since', ['list', '--since', 'yesterday'], /--since: not a valid ISO 8601/],
    ['impossible --until', ['export', '--until', '2024-02-30'], /--until: not a valid ISO 8601/],
    ['date-time without zone', ['list', '--since', '2024-05-01T10:00:00'], /--since/],
    ['unknown --format', ['export', '--format', 'csv'], /--format: unknown format "csv"/],
    ['unknown --type', ['list', '--type', 'job.exploded'], /--type: unknown event type/],
    ['bad --limit', ['list', '--limit', 'ten'], /--limit/],
    ['unknown option', ['verify', '--frobnicate'], /unknown option/],
  ];
  for (const [name, args, msg] of cases) {
    it(name, async () => {
      const r = await cli(...args, '--db', dbFile);
      assert.equal(r.code, 2, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stdout, '');
    });
  }
});
