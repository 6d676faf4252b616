/**
 * JobOutput: one job's output path (cap → UTF-8 framing → batching → stored frame →
 * live followers), on a real SQLite file with the real store, hub and metrics; only the
 * clock is fixed.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Db } from '../../internal/audit/database.js';
import { openAgentDatabase } from '../../internal/agent/agent-database.js';
import { FRAME_BATCH_BYTES, JobOutput } from '../../internal/agent/jobs/job-output.js';
import { JobStore, type OutputFrame } from '../../internal/agent/jobs/job-store.js';
import type { JobSpec } from '../../internal/agent/jobs/job.js';
import { AgentMetrics } from '../../internal/agent/metrics.js';
import { OutputHub } from '../../internal/agent/stream/output-hub.js';

const spec: JobSpec = { command: 'true', image: 'img', cpuLimit: 1, memoryLimit: 8 << 20, timeoutSeconds: 10, pidsLimit: 64, env: {}, requiredScopes: [] };
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('JobOutput', () => {
  let dir: string;
  let db: Db;
  let store: JobStore;
  let n = 0;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-job-output-'));
    db = openAgentDatabase(path.join(dir, 'agent.db'));
    store = new JobStore(db);
  });

  after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh job with its own output, hub follower and metrics. */
  function fresh(maxBytes: number, start?: { stdout: number; stderr: number; lastSeq: number }, jobId = `job-${++n}`) {
    if (store.get(jobId) === null) store.insertPending(jobId, 'c', spec, 0);
    const hub = new OutputHub();
    const metrics = new AgentMetrics('test');
    const published: OutputFrame[] = [];
    hub.subscribe(jobId, { frame: (f) => published.push(f), end: () => undefined });
    const out = new JobOutput(jobId, { store, hub, metrics, clock: { nowMs: () => 1_700_000_000_000 } }, maxBytes, start);
    const stored = (): OutputFrame[] => store.framesAfter(jobId, 0, 10_000);
    const text = (s: 'stdout' | 'stderr'): string => Buffer.concat(stored().filter((f) => f.stream === s).map((f) => f.data)).toString('utf8');
    return { jobId, out, hub, metrics, published, stored, text };
  }

  it('stores every byte per stream, in order, and publishes exactly what it stored', async () => {
    const j = fresh(1 << 20);
    j.out.write('stdout', Buffer.from('a1 '));
    j.out.write('stderr', Buffer.from('e1 '));
    j.out.write('stdout', Buffer.from('a2 '));
    await nextTurn();
    j.out.write('stdout', Buffer.from('a3'));
    const sum = j.out.finish();
    assert.equal(j.text('stdout'), 'a1 a2 a3');
    assert.equal(j.text('stderr'), 'e1 ');
    const frames = j.stored();
    assert.deepEqual(frames.map((f) => f.seq), frames.map((_, i) => i + 1), 'seq is dense from 1');
    assert.deepEqual(j.published.map((f) => [f.seq, f.stream, f.data.toString()]), frames.map((f) => [f.seq, f.stream, f.data.toString()]));
    assert.equal(frames[0]?.ts, 1_700_000_000_000, 'frames carry the clock time');
    assert.equal(sum.stdoutBytes, 8);
    assert.equal(sum.stderrBytes, 3);
    assert.equal(sum.lastSeq, frames.length);
    assert.equal(sum.truncated, false);
    assert.equal(sum.sha256, crypto.createHash('sha256').update(Buffer.concat(frames.map((f) => f.data))).digest('hex'));
  });

  it('coalesces small writes of one I/O turn into one frame; frames of one turn are stored together at its end', async () => {
    const j = fresh(1 << 20);
    for (let i = 0; i < 50; i++) j.out.write('stdout', Buffer.from('x'));
    assert.equal(j.stored().length, 0, 'nothing stored inside the same turn');
    await nextTurn();
    assert.equal(j.stored().length, 1);
    assert.equal(j.stored()[0]?.data.length, 50);
    j.out.write('stdout', Buffer.alloc(FRAME_BATCH_BYTES, 0x41));
    j.out.write('stdout', Buffer.alloc(FRAME_BATCH_BYTES, 0x42));
    j.out.write('stdout', Buffer.from('tail'));
    assert.equal(j.stored().length, 1, 'frames made in this turn are not stored yet');
    assert.equal(j.published.length, 1, 'nor published: a follower never sees a frame the database lacks');
    await nextTurn();
    assert.deepEqual(j.stored().map((f) => f.data.length), [50, FRAME_BATCH_BYTES, FRAME_BATCH_BYTES, 4], 'each full batch is its own frame');
    assert.equal(j.published.length, 4);
    j.out.finish();
    const k = fresh(8 << 20);
    const big = Buffer.alloc(FRAME_BATCH_BYTES, 0x43);
    for (let i = 0; i < 80; i++) k.out.write('stdout', big);
    assert.ok(k.stored().length >= 64, 'past 1 MiB made in one turn, frames are stored at once (bounded memory)');
    k.out.finish();
    assert.equal(k.stored().length, 80);
  });

  it('caps both streams together and says truncated; the metric counts what arrived', async () => {
    const j = fresh(10);
    j.out.write('stdout', Buffer.from('123456'));
    j.out.write('stderr', Buffer.from('abcdef'));
    j.out.write('stdout', Buffer.from('zzz'));
    const sum = j.out.finish();
    assert.equal(j.text('stdout') + j.text('stderr'), '123456abcd');
    assert.equal(sum.stdoutBytes + sum.stderrBytes, 10);
    assert.equal(sum.truncated, true);
    const m = await j.metrics.outputBytes.get();
    const byStream = Object.fromEntries(m.values.map((v) => [v.labels['stream'], v.value]));
    assert.deepEqual(byStream, { stdout: 9, stderr: 6 });
  });

  it('never splits a UTF-8 character across frames, even when the chunks do', async () => {
    const j = fresh(1 << 20);
    const word = Buffer.from('héllo wörld ✓ 🙂', 'utf8');
    for (const b of word) {
      j.out.write('stdout', Buffer.from([b]));
      await nextTurn(); // one frame per turn: every chunk boundary is a potential frame boundary
    }
    j.out.finish();
    const frames = j.stored();
    assert.ok(frames.length > 5);
    for (const f of frames) assert.equal(Buffer.from(f.data.toString('utf8'), 'utf8').compare(f.data), 0, `frame ${f.seq} is whole UTF-8`);
    assert.equal(j.text('stdout'), 'héllo wörld ✓ 🙂');
  });

  it('flushes an incomplete trailing sequence at finish (bytes are never lost)', () => {
    const j = fresh(1 << 20);
    j.out.write('stdout', Buffer.from([0x61, 0xe2, 0x9c]));
    const sum = j.out.finish();
    assert.equal(sum.stdoutBytes, 3);
    assert.deepEqual([...Buffer.concat(j.stored().map((f) => f.data))], [0x61, 0xe2, 0x9c]);
  });

  it('ignores writes after finish; finish is idempotent', () => {
    const j = fresh(1 << 20);
    j.out.write('stdout', Buffer.from('once'));
    const first = j.out.finish();
    j.out.write('stdout', Buffer.from('late'));
    const second = j.out.finish();
    assert.deepEqual(second, first);
    assert.equal(j.text('stdout'), 'once');
  });

  it('resumes after a restart: seq, cap and hash continue from the stored output', () => {
    const a = fresh(12);
    a.out.write('stdout', Buffer.from('before\n'));
    const part = a.out.finish();
    const totals = store.outputTotals(a.jobId);
    assert.deepEqual(totals, { stdout: 7, stderr: 0, lastSeq: part.lastSeq });

    const b = fresh(12, totals, a.jobId);
    b.out.write('stdout', Buffer.from('after\n'));
    const sum = b.out.finish();
    assert.equal(b.text('stdout'), 'before\nafter'.slice(0, 12), 'the cap counts the bytes stored before the restart');
    assert.equal(sum.truncated, true);
    assert.equal(sum.stdoutBytes, 12);
    assert.equal(sum.lastSeq, part.lastSeq + 1);
    const all = Buffer.concat(b.stored().map((f) => f.data));
    assert.equal(sum.sha256, crypto.createHash('sha256').update(all).digest('hex'), 'hash covers old and new frames');
  });
});
