/**
 * Issue 5 end to end: a known sequence of real jobs and rejections, then the metrics
 * read directly and through a real Prometheus scraping the agent over TLS; the audit
 * chain verified by the CLI afterwards; and a real disk-full audit failure refusing jobs.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { request, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { startPrometheus } from '../helpers/prometheus.js';

const TOKEN = 'metrics-token-0123456789abcdef';

/** Parse Prometheus text into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('metrics and audit after a known sequence', () => {
  let a: TestAgent;
  let t: ClientTarget;
  let metrics: Map<string, number>;

  before(async () => {
    await requireDocker();
    a = await startTestAgent({ metrics_bearer_token: TOKEN, max_concurrent_jobs: 2 });
    t = { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
    const jobs = [
      await submit(t, { command: 'true' }),
      await submit(t, { command: 'exit 3' }),
      await submit(t, { command: 'echo hi' }),
      await submit(t, { command: 'sleep 30', candidateMetadata: { sandbox: { timeout_seconds: 1 } } }),
    ];
    for (const j of jobs) assert.equal(j.reply.status, 202, j.reply.text);
    const bad = await submit(t, {}, 'x'.repeat(64));
    assert.equal(bad.reply.json()['code'], 'INVALID_SIGNATURE');
    const now = Math.floor(Date.now() / 1000);
    const expired = await submit(t, { timestamp: now - 100, ttl: now - 10 });
    assert.equal(expired.reply.json()['code'], 'JOB_EXPIRED');
    for (const j of jobs) await waitForEnd(t, j.payload.jobId);
    const r = await request(t, 'GET', '/metrics', undefined, { authorization: `Bearer ${TOKEN}` });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    metrics = parseMetrics(r.text);
  });

  after(async () => {
    await a?.stop();
  });

  test('/metrics needs the bearer token when one is configured', async () => {
    const none = await request(t, 'GET', '/metrics');
    assert.equal(none.status, 401);
    assert.equal(none.json()['code'], 'UNAUTHENTICATED');
    const wrong = await request(t, 'GET', '/metrics', undefined, { authorization: `Bearer ${TOKEN.replace('0', '1')}` });
    assert.equal(wrong.status, 401);
  });

  test('the original four metrics keep their names and count right', () => {
    assert.equal(metrics.get('quickcmd_agent_jobs_total'), 4);
    assert.equal(metrics.get('quickcmd_agent_jobs_running'), 0);
    assert.equal(metrics.get('quickcmd_agent_jobs_completed'), 3);
    assert.equal(metrics.get('quickcmd_agent_jobs_failed'), 1);
  });

  test('the added metrics count right', () => {
    assert.equal(metrics.get('quickcmd_agent_jobs_queued'), 0);
    assert.equal(metrics.get('quickcmd_agent_jobs_finished_total{status="completed"}'), 3);
    assert.equal(metrics.get('quickcmd_agent_jobs_finished_total{status="failed"}'), 1);
    assert.equal(metrics.get('quickcmd_agent_jobs_rejected_total{code="INVALID_SIGNATURE"}'), 1);
    assert.equal(metrics.get('quickcmd_agent_jobs_rejected_total{code="JOB_EXPIRED"}'), 1);
    assert.equal(metrics.get('quickcmd_agent_job_duration_seconds_count{runtime="runc"}'), 4);
    assert.equal(metrics.get('quickcmd_agent_sandbox_start_seconds_count{runtime="runc"}'), 4);
    assert.equal(metrics.get('quickcmd_agent_output_bytes_total{stream="stdout"}'), 3);
    assert.equal(metrics.get('quickcmd_agent_output_bytes_total{stream="stderr"}'), 0);
    assert.equal(metrics.get('quickcmd_agent_stream_clients'), 0);
    assert.equal(metrics.get('quickcmd_agent_docker_up'), 1);
    assert.equal(metrics.get('quickcmd_agent_build_info{version="0.1.0"}'), 1);
    assert.ok((metrics.get('process_resident_memory_bytes') ?? 0) > 0, 'default process metrics are exported');
  });

  test('a real Prometheus scrapes the agent over TLS and returns the values', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-prom-'));
    const prom = await startPrometheus(dir, `127.0.0.1:${a.port}`, a.pki.caCert, TOKEN);
    try {
      const want: [string, number][] = [
        ['up{job="quickcmd-agent"}', 1],
        ['quickcmd_agent_jobs_total', 4],
        ['quickcmd_agent_jobs_completed', 3],
        ['quickcmd_agent_jobs_failed', 1],
        ['quickcmd_agent_jobs_rejected_total{code="JOB_EXPIRED"}', 1],
        ['quickcmd_agent_jobs_finished_total{status="failed"}', 1],
        ['quickcmd_agent_docker_up', 1],
      ];
      const deadline = Date.now() + 60_000;
      let last = '';
      for (const [expr, value] of want) {
        for (;;) {
          const res = await prom.query(expr);
          last = JSON.stringify(res);
          if (res.length === 1 && Number(res[0]?.value[1]) === value) break;
          assert.ok(Date.now() < deadline, `prometheus never returned ${expr} = ${value}; last ${last}; logs ${prom.logs().slice(-2000)}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      await prom.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the audit chain of the run verifies with the CLI and records every decision', () => {
    const cli = spawnSync(process.execPath, ['dist/cmd/quickcmd.js', 'audit', 'verify', '--db', a.dbPath], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr + cli.stdout);
    assert.match(cli.stdout, /ok: \d+ events verified/);
    const db = new Database(a.dbPath, { readonly: true });
    try {
      const count = (type: string): number => (db.prepare('SELECT COUNT(*) AS n FROM audit_events WHERE type = ?').get(type) as { n: number }).n;
      assert.equal(count('agent.started'), 1);
      assert.equal(count('job.accepted'), 4);
      assert.equal(count('job.started'), 4);
      assert.equal(count('job.finished'), 4);
      assert.equal(count('job.rejected'), 2);
      const finished = db.prepare("SELECT details FROM audit_events WHERE type = 'job.finished'").all() as { details: string }[];
      const hi = finished.map((r) => JSON.parse(r.details) as Record<string, unknown>).find((d) => d['stdout_bytes'] === 3);
      assert.ok(hi, 'job.finished carries output byte counts');
      assert.match(String(hi['output_sha256']), /^[0-9a-f]{64}$/);
    } finally {
      db.close();
    }
    const bytes = fs.readFileSync(a.dbPath).toString('latin1') + (fs.existsSync(`${a.dbPath}-wal`) ? fs.readFileSync(`${a.dbPath}-wal`).toString('latin1') : '');
    assert.ok(!bytes.includes(a.secret), 'the secret never reaches the database');
  });
});

describe('audit write failure refuses jobs until the audit can be written again', () => {
  test('a full disk under the database: 503 AUDIT_UNAVAILABLE, /health names audit, then recovery', async (t) => {
    await requireDocker();
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    t.after(() => {
      spawnSync('umount', ['-l', mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
    });
    const a = await startTestAgent({ audit_db_path: path.join(mnt, 'agent-audit.db') });
    t.after(() => a.stop());
    const target = { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
    const ok = await submit(target, { command: 'true' });
    assert.equal(ok.reply.status, 202);
    await waitForEnd(target, ok.payload.jobId);

    // Fill the file system: SQLite's next write fails with SQLITE_FULL.
    const filler = path.join(mnt, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
    let refused = await submit(target, { command: 'echo must-not-run' });
    // One large prompt makes sure the write needs a new page even if a partial page was free.
    if (refused.reply.status === 202) refused = await submit(target, { command: 'echo must-not-run', prompt: 'p'.repeat(200_000) });
    assert.equal(refused.reply.status, 503, refused.reply.text);
    assert.equal(refused.reply.json()['code'], 'AUDIT_UNAVAILABLE');
    const health = await request(target, 'GET', '/health');
    assert.equal(health.status, 503);
    assert.equal((health.json()['checks'] as Record<string, string>)['audit'], 'unavailable');
    const st = await request(target, 'GET', `/api/v1/jobs/${refused.payload.jobId}`);
    assert.notEqual(st.status, 200, 'the refused job does not exist');

    fs.rmSync(filler);
    const back = await request(target, 'GET', '/health');
    assert.equal(back.status, 200, back.text);
    const again = await submit(target, { command: 'echo after' });
    assert.equal(again.reply.status, 202, again.reply.text);
    const end = await waitForEnd(target, again.payload.jobId);
    assert.equal((end['result'] as Record<string, unknown>)['stdout'], 'after\n');
  });
});
