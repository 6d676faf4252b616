/**
 * JobOutput when the database refuses frames (disk full), on a real SQLite file: a SQLite
 * trigger makes every frame INSERT fail with a real SQLite error until it is dropped. No
 * frame is lost and no seq skipped while it fails; frames wait (bounded) and are retried;
 * past MAX_UNCOMMITTED_BYTES the job is told once and what was stored stays dense 1..n.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../internal/audit/database.js';
import { openAgentDatabase } from '../../internal/agent/agent-database.js';
import { COMMIT_RETRY_MS, FRAME_BATCH_BYTES, JobOutput, MAX_UNCOMMITTED_BYTES } from '../../internal/agent/jobs/job-output.js';
import { JobStore, type OutputFrame } from '../../internal/agent/jobs/job-store.js';
import type { JobSpec } from '../../internal/agent/jobs/job.js';
import { AgentMetrics } from '../../internal/agent/metrics.js';
import { OutputHub } from '../../internal/agent/stream/output-hub.js';

const spec: JobSpec = { command: 'true', image: 'img', cpuLimit: 1, memoryLimit: 8 << 20, timeoutSeconds: 10, pidsLimit: 64, env: {}, requiredScopes: [] };
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('JobOutput on a failing database', () => {
  let dir: string;
  let db: Db;
  let store: JobStore;
  let n = 0;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-job-output-fail-'));
    db = openAgentDatabase(path.join(dir, 'agent.db'));
    store = new JobStore(db);
  });
  after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const breakFrames = (): void => void db.exec("CREATE TRIGGER full_disk BEFORE INSERT ON job_output BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
  const fixFrames = (): void => void db.exec('DROP TRIGGER full_disk');

  function fresh() {
    const jobId = `job-${++n}`;
    store.insertPending(jobId, 'c', spec, 0);
    const hub = new OutputHub();
    const published: OutputFrame[] = [];
    hub.subscribe(jobId, { frame: (f) => published.push(f), end: () => undefined });
    const failures: string[] = [];
    const out = new JobOutput(jobId, { store, hub, metrics: new AgentMetrics('test'), clock: { nowMs: () => 1 } }, 64 << 20, undefined, (why) => failures.push(why));
    return { jobId, out, published, failures, stored: () => store.framesAfter(jobId, 0, 100_000) };
  }

  it('keeps every frame while commits fail and stores them all, in seq order, once the database works again', async () => {
    const j = fresh();
    breakFrames();
    try {
      j.out.write('stdout', Buffer.from('one '));
      await nextTurn();
      j.out.write('stderr', Buffer.from('two '));
      await nextTurn();
      j.out.write('stdout', Buffer.alloc(FRAME_BATCH_BYTES, 0x41));
      await nextTurn();
      assert.equal(j.stored().length, 0);
      assert.equal(j.published.length, 0, 'nothing published that is not stored');
    } finally {
      fixFrames();
    }
    const deadline = Date.now() + 20 * COMMIT_RETRY_MS;
    while (j.stored().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const frames = j.stored();
    assert.deepEqual(frames.map((f) => f.seq), [1, 2, 3], 'no seq skipped');
    assert.equal(Buffer.concat(frames.map((f) => f.data)).toString('latin1'), `one two ${'A'.repeat(FRAME_BATCH_BYTES)}`);
    assert.deepEqual(j.published.map((f) => f.seq), [1, 2, 3]);
    const sum = j.out.finish();
    assert.equal(sum.lastSeq, 3);
    assert.equal(sum.truncated, false);
    assert.deepEqual(j.failures, []);
  });

  it('past the bound the job is told once, takes nothing more, and what is stored stays dense', async () => {
    const j = fresh();
    j.out.write('stdout', Buffer.from('kept '));
    await nextTurn();
    assert.equal(j.stored().length, 1);
    breakFrames();
    try {
      const chunk = Buffer.alloc(FRAME_BATCH_BYTES, 0x42);
      for (let i = 0; i * FRAME_BATCH_BYTES <= MAX_UNCOMMITTED_BYTES + FRAME_BATCH_BYTES; i++) j.out.write('stdout', chunk);
      await nextTurn();
      assert.equal(j.failures.length, 1, 'told once');
      assert.match(j.failures[0] ?? '', /output could not be stored: database or disk is full/);
      assert.ok(j.out.failed !== null);
      const sum = j.out.finish();
      assert.equal(sum.lastSeq, 1, 'the summary names the last stored seq');
      assert.equal(sum.truncated, true);
      assert.equal(sum.stdoutBytes, 5);
    } finally {
      fixFrames();
    }
    assert.deepEqual(j.stored().map((f) => f.seq), [1]);
    assert.deepEqual(j.published.map((f) => f.seq), [1]);
  });
});
