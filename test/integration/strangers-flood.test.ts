/**
 * Issue 12 through the real agent over HTTPS: a bounded flood of forged submissions and of
 * forged signed reads with a 15,000-character X-QuickCMD-Controller header costs a burst of
 * rows per address and minute plus counted summary rows (nothing lost, header stored
 * truncated and once); /health writes nothing and arms no timer per call, even while the
 * audit is failing (one recheck timer probes, not each call).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { AuditLog } from '../../internal/audit/audit-log.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { request, submit, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';

const BURST = 5;
const target = (a: TestAgent): ClientTarget => ({ url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId });

describe('strangers through the agent', { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('a flood of forged requests is a burst of rows plus counted summaries; a huge controller header is stored truncated, once', async () => {
    await requireDocker();
    const a = await startTestAgent({ audit_stranger_burst: BURST });
    dirs.push(a.dir);
    const t = target(a);
    const forged = 'f'.repeat(64);
    for (let i = 0; i < 120; i++) assert.equal((await submit(t, { command: 'true' }, forged)).reply.status, 401);
    const huge = 'c'.repeat(15_000);
    const headers = { 'x-quickcmd-controller': huge, 'x-quickcmd-timestamp': String(Math.floor(Date.now() / 1000)), 'x-quickcmd-signature': 'a'.repeat(64) };
    for (let i = 0; i < 80; i++) assert.equal((await request(t, 'GET', '/api/v1/jobs/job-x', undefined, headers)).status, 401);
    await a.stop(); // close writes the summaries of the minute in progress
    const db = new Database(a.dbPath, { readonly: true });
    const rows = db.prepare("SELECT type, controller_id, remote_addr, details FROM audit_events WHERE type IN ('job.rejected','request.unauthenticated','requests.coalesced')").all() as { type: string; controller_id: string | null; remote_addr: string; details: string }[];
    db.close();
    const summaries = rows.filter((r) => r.type === 'requests.coalesced').map((r) => JSON.parse(r.details) as { counted: number; counts: { code: string; count: number }[] });
    const counted = (code: string): number => summaries.reduce((n, s) => n + (s.counts.find((c) => c.code === code)?.count ?? 0), 0);
    const rejected = rows.filter((r) => r.type === 'job.rejected');
    const unauth = rows.filter((r) => r.type === 'request.unauthenticated');
    // The flood may straddle a minute boundary: then two bursts.
    assert.ok(rejected.length + unauth.length <= 4 * BURST, `${rejected.length + unauth.length} verbatim rows`);
    assert.ok(summaries.length >= 1 && summaries.length <= 2, `${summaries.length} summary rows`);
    assert.equal(rejected.length + counted('INVALID_SIGNATURE'), 120, 'every forged submission is a row or counted');
    assert.equal(unauth.length + counted('UNAUTHENTICATED'), 80, 'every forged read is a row or counted');
    for (const r of unauth) {
      assert.ok((r.controller_id ?? '').length < 200, `controller_id kept ${(r.controller_id ?? '').length} chars`);
      assert.ok(!r.details.includes('ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc'), 'the header is not copied into the details');
    }
  });

  it('/health arms no timer per call and never probes per call, even while the audit fails', async () => {
    let probes = 0;
    const spy = (real: AuditLog): AuditLog => {
      const probe = real.probe.bind(real);
      (real as { probe: () => boolean }).probe = () => {
        probes += 1;
        return probe();
      };
      return real;
    };
    const a = await startTestAgent({}, { wrapAudit: spy });
    dirs.push(a.dir);
    const t = target(a);
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    try {
      const before = timers();
      const healthy = await Promise.all(Array.from({ length: 100 }, () => request(t, 'GET', '/health')));
      assert.ok(healthy.every((r) => r.status === 200));
      assert.ok(timers() - before < 10, `timers grew by ${timers() - before}`);
      assert.equal(probes, 0, 'a healthy audit is not probed');

      // The heartbeat write fails for real: the audit stays unhealthy.
      a.agent.db.exec("CREATE TRIGGER no_heartbeat BEFORE UPDATE ON agent_meta BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
      a.agent.db.exec("CREATE TRIGGER no_heartbeat_insert BEFORE INSERT ON agent_meta BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
      a.agent.audit.markFailed();
      const sickFrom = performance.now();
      const sick = await Promise.all(Array.from({ length: 50 }, () => request(t, 'GET', '/health')));
      const sickMs = performance.now() - sickFrom;
      assert.ok(sick.every((r) => r.status === 503));
      assert.equal((sick[0]?.json()['checks'] as Record<string, string>)['audit'], 'unavailable');
      // One probe per recheck tick (1 s) however many calls wait: on a loaded host the 50
      // calls may span several ticks, never 50.
      const ticks = Math.ceil(sickMs / 1000) + 1;
      assert.ok(probes <= ticks && ticks < 50, `${probes} probes for 50 calls in ${sickMs.toFixed(0)} ms: one timer probes, not each call`);
      a.agent.db.exec('DROP TRIGGER no_heartbeat');
      a.agent.db.exec('DROP TRIGGER no_heartbeat_insert');
      const back = await request(t, 'GET', '/health');
      assert.equal(back.status, 200, back.text);
      const m = await request(t, 'GET', '/metrics');
      assert.match(m.text, /^quickcmd_agent_audit_backlog_rows 0$/m);
    } finally {
      await a.stop();
    }
  });
});
