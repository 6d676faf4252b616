/**
 * Audit write rate: events/s for SqliteAuditLog.append() on a real file database (WAL,
 * synchronous=NORMAL, as the agent opens it), each append its own transaction as in the
 * agent; plus appends batched inside a caller's transaction, and verifyChain's read rate.
 * Usage: node --import tsx bench/audit-rate.ts [events]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteAuditLog } from '../internal/audit/audit-store.js';
import { openDatabase } from '../internal/audit/database.js';
import { verifyChain } from '../internal/audit/verify.js';

const n = Number(process.argv[2] ?? 20_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-audit-bench-'));
try {
  const db = openDatabase(path.join(dir, 'agent-audit.db'));
  const log = new SqliteAuditLog({ db, clock: { now: () => new Date() } });
  const event = (i: number) =>
    ({
      type: 'job.finished',
      jobId: `0190c8a2-7f3e-7c4d-9a1b-${String(i).padStart(12, '0')}`,
      controllerId: 'ctl-ops',
      remoteAddr: '10.1.2.3',
      details: { status: 'succeeded', exit_code: 0, duration_ms: 1234, output_bytes: 4096, output_sha256: 'ab'.repeat(32) },
    }) as const;

  const rate = (count: number, ms: number): string => `${Math.round((count / ms) * 1000).toLocaleString('en-US')}`;

  let t = performance.now();
  for (let i = 0; i < n; i++) log.append(event(i));
  const single = performance.now() - t;
  console.log(`append, one transaction each:        ${rate(n, single)} events/s (${n} events, ${(single / n).toFixed(3)} ms/event)`);

  const batch = 100;
  const inTxn = db.transaction((start: number) => {
    for (let i = start; i < start + batch; i++) log.append(event(i));
  });
  t = performance.now();
  for (let i = 0; i < n; i += batch) inTxn(i);
  const batched = performance.now() - t;
  console.log(`append, ${batch} per caller transaction:  ${rate(n, batched)} events/s`);

  t = performance.now();
  const res = verifyChain(db);
  const verify = performance.now() - t;
  console.log(`verifyChain:                         ${rate(res.checked, verify)} events/s (${res.checked} events, ok=${res.ok})`);
  console.log(`database size: ${(fs.statSync(path.join(dir, 'agent-audit.db')).size / 1024 / 1024).toFixed(1)} MiB (+WAL)`);
  db.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
