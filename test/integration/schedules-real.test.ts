/**
 * Schedules in real time on the real engine (SPEC §13): a `* * * * * *` schedule runs its
 * named command every second; its jobs appear in `quickcmd job list` (the built CLI
 * binary) for a controller with jobs:read-all, which may read their logs, and not for
 * another; `quickcmd schedules` shows it; every second from the first fire to the last is
 * a job or an audited skip, none lost silently.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { isTerminal } from '../../internal/agent/jobs/job.js';
import { instantOfJobId } from '../../internal/agent/jobs/schedule-plan.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { run } from '../helpers/exec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/cmd/quickcmd.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-sched-'));

interface Ctl {
  readonly id: string;
  readonly secretFile: string;
}
function controller(id: string): Ctl {
  const secretFile = path.join(dir, `${id}.secret`);
  fs.writeFileSync(secretFile, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  return { id, secretFile };
}
const auditor = controller('auditor');
const alice = controller('alice');

let a: TestAgent;

function cli(args: readonly string[], c: Ctl): ReturnType<typeof run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUICKCMD_') && k !== 'COLUMNS') env[k] = v;
  return run(process.execPath, [bin, ...args, '--agent', a.url, '--controller-id', c.id, '--secret-file', c.secretFile, '--ca-file', a.pki.caCert], {
    cwd: root,
    env: { ...env, HOME: dir, NO_COLOR: '1' },
    timeoutMs: 60_000,
  });
}

function scheduledIds(): string[] {
  const db = new Database(a.dbPath, { readonly: true });
  try {
    return (db.prepare("SELECT job_id FROM accepted_job_ids WHERE controller_id = 'schedule:every' ORDER BY job_id").all() as { job_id: string }[]).map((r) => r.job_id);
  } finally {
    db.close();
  }
}

before(async () => {
  assert.ok(fs.existsSync(bin), `${bin} is missing: run npm run build first`);
  await requireDocker();
  a = await startTestAgent({
    controllers: [
      { id: auditor.id, secret_files: [auditor.secretFile], scopes: ['jobs:read-all'] },
      { id: alice.id, secret_files: [alice.secretFile] },
    ],
    commands: [{ name: 'tick', description: 'print a number', argv: ['echo', 'tick', '{n}'], params: { n: { type: 'integer', min: 0, max: 99 } } }],
    schedules: [{ name: 'every', cron: '* * * * * *', command: 'tick', params: { n: 5 } }],
  });
  // At least three runs of the schedule have ended (real time, bounded).
  const deadline = Date.now() + 90_000;
  for (;;) {
    const done = scheduledIds().filter((id) => {
      const rec = a.agent.manager.get(id);
      return rec !== null && isTerminal(rec.status);
    });
    if (done.length >= 3) break;
    assert.ok(Date.now() < deadline, `fewer than 3 scheduled jobs ended: ${scheduledIds().join(' ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  await a?.stop();
});

describe('a * * * * * * schedule in real time', () => {
  it('runs its named command as ordinary jobs of controller schedule:every', async () => {
    const id = scheduledIds()[0] as string;
    assert.match(id, /^sched-every-\d{8}T\d{6}Z$/);
    const rec = a.agent.manager.get(id);
    assert.equal(rec?.controllerId, 'schedule:every');
    const result = a.agent.manager.result(rec!);
    assert.equal(result?.status, 'completed');
    assert.equal(result?.exit_code, 0);
    assert.equal(result?.stdout, 'tick 5\n');
  });

  it('its jobs appear in `job list` for a jobs:read-all controller, who may read their logs', async () => {
    const r = await cli(['job', 'list', '--controller', 'schedule:every', '--json'], auditor);
    assert.equal(r.code, 0, r.stderr);
    const jobs = (JSON.parse(r.stdout) as { jobs: { job_id: string; controller_id: string; command: string }[] }).jobs;
    assert.ok(jobs.length >= 3, r.stdout);
    assert.ok(jobs.every((j) => j.controller_id === 'schedule:every' && j.command === 'tick n=5'), r.stdout);
    const ids = jobs.map((j) => j.job_id);
    assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
    const table = await cli(['job', 'list', '--status', 'completed'], auditor);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^sched-every-\d{8}T\d{6}Z\s+schedule:every\s+completed\s+0\s+\S+\s+\S+\s+tick n=5$/m);
    const oldest = scheduledIds()[0] as string;
    const logs = await cli(['job', 'logs', oldest], auditor);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'tick 5\n');
  });

  it('another controller sees none of them and cannot read them', async () => {
    const r = await cli(['job', 'list'], alice);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split('\n').length, 1, r.stdout);
    assert.doesNotMatch(r.stdout, /sched-every/);
    const filtered = await cli(['job', 'list', '--controller', 'schedule:every', '--json'], alice);
    assert.deepEqual((JSON.parse(filtered.stdout) as { jobs: unknown[] }).jobs, []);
    const logs = await cli(['job', 'logs', scheduledIds()[0] as string], alice);
    assert.equal(logs.code, 1);
    assert.match(logs.stderr, /JOB_NOT_FOUND/);
    const s = await cli(['schedules'], alice);
    assert.equal(s.code, 1);
    assert.match(s.stderr, /INSUFFICIENT_SCOPES/);
  });

  it('`quickcmd schedules` shows the schedule with its next fire and last run', async () => {
    const r = await cli(['schedules'], auditor);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+CRON\s+TZ\s+NEXT\s+LAST\s+SKIPPED$/);
    assert.match(lines[1] ?? '', /^every\s+\* \* \* \* \* \*\s+UTC\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+sched-every-\d{8}T\d{6}Z \(\w+(, exit \d+)?\)\s+\d+$/);
    const j = await cli(['schedules', '--json'], auditor);
    const s = (JSON.parse(j.stdout) as { schedules: Record<string, unknown>[] }).schedules[0] as Record<string, unknown>;
    assert.equal(s['name'], 'every');
    assert.equal(s['command'], 'tick');
    assert.ok(Date.parse(String(s['next_run'])) > Date.now() - 2000);
  });

  it('every second from the first fire to the last is a job or an audited skip', async () => {
    const ids = scheduledIds();
    const instants = ids.map((id) => instantOfJobId('every', id) as number);
    a.agent.audit.flush();
    const db = new Database(a.dbPath, { readonly: true });
    const skipped = new Set((db.prepare("SELECT json_extract(details, '$.fire_instant') AS t FROM audit_events WHERE type = 'schedule.skipped'").all() as { t: string }[]).map((r) => Date.parse(r.t)));
    const accepted = db.prepare("SELECT details FROM audit_events WHERE type = 'job.accepted' AND controller_id = 'schedule:every' LIMIT 1").get() as { details: string };
    db.close();
    const first = Math.min(...instants);
    const last = Math.max(...instants);
    for (let t = first; t <= last; t += 1000) {
      assert.ok(instants.includes(t) || skipped.has(t), `fire ${new Date(t).toISOString()} is neither a job nor audited as skipped`);
    }
    const details = JSON.parse(accepted.details) as Record<string, unknown>;
    assert.equal(details['schedule'], 'every');
    assert.deepEqual(details['named_command'], { name: 'tick', params: { n: 5 }, sha256: (details['named_command'] as { sha256: string }).sha256 });
  });
});
