/**
 * The job list (SPEC §13): `GET /api/v1/jobs` on a real agent (HTTPS, SQLite, Docker) for
 * the caller's own jobs, every job with scope jobs:read-all (which may also read their
 * status but not cancel them), its filters and bad-parameter refusals, and
 * `quickcmd job list` as the built CLI binary prints it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { cancel, request, signedHeaders, status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { run } from '../helpers/exec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/cmd/quickcmd.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-joblist-'));

interface Ctl {
  readonly id: string;
  readonly secret: string;
  readonly secretFile: string;
}
function controller(id: string): Ctl {
  const secret = crypto.randomBytes(32).toString('hex');
  const secretFile = path.join(dir, `${id}.secret`);
  fs.writeFileSync(secretFile, secret, { mode: 0o600 });
  return { id, secret, secretFile };
}
const auditor = controller('auditor');
const alice = controller('alice');
const bob = controller('bob');

let a: TestAgent;
const t = (c: Ctl): ClientTarget => ({ url: a.url, caFile: a.pki.caCert, secret: c.secret, controllerId: c.id });

function list(c: Ctl, query = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const p = `/api/v1/jobs${query}`;
  return request(t(c), 'GET', p, undefined, signedHeaders(t(c), 'GET', p)).then((r) => ({ status: r.status, body: r.json() }));
}
const ids = (body: Record<string, unknown>): string[] => (body['jobs'] as { job_id: string }[]).map((j) => j.job_id);

function cli(args: readonly string[], c: Ctl, env: Record<string, string> = {}): ReturnType<typeof run> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUICKCMD_') && k !== 'COLUMNS') clean[k] = v;
  return run(process.execPath, [bin, ...args, '--agent', a.url, '--controller-id', c.id, '--secret-file', c.secretFile, '--ca-file', a.pki.caCert], {
    cwd: root,
    env: { ...clean, HOME: dir, NO_COLOR: '1', ...env },
    timeoutMs: 60_000,
  });
}

const jobs: Record<string, string> = {};

before(async () => {
  assert.ok(fs.existsSync(bin), `${bin} is missing: run npm run build first`);
  await requireDocker();
  a = await startTestAgent({
    controllers: [
      { id: auditor.id, secret_files: [auditor.secretFile], scopes: ['jobs:read-all'] },
      { id: alice.id, secret_files: [alice.secretFile] },
      { id: bob.id, secret_files: [bob.secretFile] },
    ],
  });
  // In creation order: alice-1, bob-1, alice-2 (the last one fails with exit 3).
  for (const [name, c, cmd] of [['alice-1', alice, 'echo one'], ['bob-1', bob, 'echo bob'], ['alice-2', alice, 'exit 3']] as const) {
    const { reply, payload } = await submit(t(c), { command: cmd, jobId: `list-${name}-${crypto.randomUUID()}` });
    assert.equal(reply.status, 202, reply.text);
    jobs[name] = payload.jobId;
    await waitForEnd(t(c), payload.jobId);
  }
});

after(async () => {
  await a?.stop();
});

describe('GET /api/v1/jobs', () => {
  it("lists only the caller's own jobs, newest first, with status, exit code and command", async () => {
    const r = await list(alice);
    assert.equal(r.status, 200);
    assert.deepEqual(ids(r.body), [jobs['alice-2'], jobs['alice-1']]);
    const first = (r.body['jobs'] as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.equal(first['status'], 'completed');
    assert.equal(first['exit_code'], 3);
    assert.equal(first['command'], 'exit 3');
    assert.equal(first['controller_id'], 'alice');
    assert.equal(typeof first['duration_ms'], 'number');
    assert.equal(r.body['more'], false);
    assert.deepEqual(ids((await list(bob)).body), [jobs['bob-1']]);
  });

  it('shows every job to a controller with jobs:read-all, with filters', async () => {
    assert.deepEqual(ids((await list(auditor)).body), [jobs['alice-2'], jobs['bob-1'], jobs['alice-1']]);
    assert.deepEqual(ids((await list(auditor, '?controller=bob')).body), [jobs['bob-1']]);
    // Another controller asking for bob's jobs gets none of them (its view is its own jobs).
    assert.deepEqual(ids((await list(alice, '?controller=bob')).body), []);
    const one = await list(auditor, '?limit=1');
    assert.deepEqual(ids(one.body), [jobs['alice-2']]);
    assert.equal(one.body['more'], true);
    assert.deepEqual(ids((await list(auditor, '?status=running,pending')).body), []);
    assert.equal(ids((await list(auditor, '?status=completed')).body).length, 3);
    assert.deepEqual(ids((await list(auditor, `?since=${Math.floor(Date.now() / 1000) + 60}`)).body), []);
    assert.equal(ids((await list(auditor, '?since=2020-01-01')).body).length, 3);
    assert.equal(ids((await list(auditor, '?since=2020-01-01T00:00:00%2B02:00')).body).length, 3);
  });

  it("lets jobs:read-all read another controller's job status, but not cancel it", async () => {
    const s = await status(t(auditor), jobs['bob-1'] as string);
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json()['status'], 'completed');
    const c = await cancel(t(auditor), jobs['bob-1'] as string);
    assert.equal(c.status, 404, c.text);
    // Without the scope another controller's job stays invisible.
    assert.equal((await status(t(alice), jobs['bob-1'] as string)).status, 404);
  });

  it('refuses bad parameters with 400 INVALID_PAYLOAD naming them, audited', async () => {
    for (const [q, name] of [['?limit=0', 'limit'], ['?limit=501', 'limit'], ['?limit=ten', 'limit'], ['?status=done', 'status'], ['?since=yesterday', 'since'], ['?since=2026-02-30', 'since'], ['?owner=bob', 'owner'], ['?limit=1&limit=2', 'limit']] as const) {
      const r = await list(alice, q);
      assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body['code'], 'INVALID_PAYLOAD');
      assert.match(String(r.body['error']), new RegExp(`query parameter ${name}`), q);
    }
    a.agent.audit.flush();
    const db = new Database(a.dbPath, { readonly: true });
    try {
      const rows = db.prepare("SELECT controller_id, details FROM audit_events WHERE type = 'request.rejected'").all() as { controller_id: string; details: string }[];
      assert.ok(rows.length >= 8, `request.rejected events: ${rows.length}`);
      assert.equal(rows[0]?.controller_id, 'alice');
      assert.match(rows[0]?.details ?? '', /INVALID_PAYLOAD/);
    } finally {
      db.close();
    }
  });

  it('needs a signed request', async () => {
    const r = await request(t(alice), 'GET', '/api/v1/jobs');
    assert.equal(r.status, 401);
    assert.equal(r.json()['code'], 'UNAUTHENTICATED');
  });
});

describe('quickcmd job list', () => {
  it('prints the table newest first, every job for jobs:read-all', async () => {
    const r = await cli(['job', 'list'], auditor);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^JOB\s+CONTROLLER\s+STATUS\s+EXIT\s+STARTED\s+DURATION\s+COMMAND$/);
    assert.equal(lines.length, 4, r.stdout);
    assert.match(lines[1] ?? '', new RegExp(`^${jobs['alice-2']}\\s+alice\\s+completed\\s+3\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+\\S+\\s+exit 3$`));
    assert.match(lines[2] ?? '', new RegExp(`^${jobs['bob-1']}\\s+bob\\s+completed\\s+0\\s.*echo bob$`));
  });

  it("shows another controller only its own jobs, with --status, --since and --limit", async () => {
    const r = await cli(['job', 'list', '--status', 'completed', '--since', '1h', '--limit', '5'], bob);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split('\n').length, 2, r.stdout);
    assert.ok(r.stdout.includes(jobs['bob-1'] as string));
    assert.ok(!r.stdout.includes('alice'));
  });

  it('cuts lines to the terminal width and prints JSON with --json', async () => {
    const cut = await cli(['job', 'list'], auditor, { COLUMNS: '70' });
    assert.equal(cut.code, 0, cut.stderr);
    for (const l of cut.stdout.trimEnd().split('\n')) assert.ok([...l].length <= 70, `line longer than 70: ${l}`);
    const j = await cli(['job', 'list', '--json', '--controller', 'alice'], auditor);
    assert.equal(j.code, 0, j.stderr);
    const body = JSON.parse(j.stdout) as Record<string, unknown>;
    assert.deepEqual(ids(body), [jobs['alice-2'], jobs['alice-1']]);
  });

  it('exits 2 on a bad flag value before asking the agent', async () => {
    for (const args of [['--limit', '0'], ['--limit', '501'], ['--status', 'done'], ['--since', 'yesterday']]) {
      const r = await cli(['job', 'list', ...args], alice);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});

describe('jobs:read-all on the read routes', () => {
  it("lets jobs:read-all read another controller's frames and artifacts; others get 404", async () => {
    const { reply, payload } = await submit(t(bob), { command: 'echo report > out.txt; echo done', candidateMetadata: { artifacts: ['out.txt'] } });
    assert.equal(reply.status, 202, reply.text);
    await waitForEnd(t(bob), payload.jobId);
    const get = (c: Ctl, p: string) => request(t(c), 'GET', p, undefined, signedHeaders(t(c), 'GET', p));
    const frames = `/api/v1/jobs/${payload.jobId}/frames?from_seq=0`;
    const artifact = `/api/v1/jobs/${payload.jobId}/artifacts/out.txt`;
    const f = await get(auditor, frames);
    assert.equal(f.status, 200, f.text);
    assert.match(f.text, /done/);
    const art = await get(auditor, artifact);
    assert.equal(art.status, 200, art.text);
    assert.equal(art.text, 'report\n');
    assert.equal((await get(alice, frames)).status, 404);
    assert.equal((await get(alice, artifact)).status, 404);
  });
});
