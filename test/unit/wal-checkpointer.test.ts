import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Db } from '../../internal/audit/database.js';
import { openAgentDatabase } from '../../internal/agent/agent-database.js';
import { DEFAULT_AUTOCHECKPOINT_PAGES, SAFETY_AUTOCHECKPOINT_PAGES, WalCheckpointer } from '../../internal/audit/wal-checkpointer.js';
import { JobStore } from '../../internal/agent/jobs/job-store.js';

describe('WAL checkpoints off the event loop', () => {
  let dir: string;
  let file: string;
  let db: Db;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-ckpt-'));
    file = path.join(dir, 'agent.db');
    db = openAgentDatabase(file);
  });
  afterEach(() => {
    if (db.open) db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const autocheckpoint = (): number => Number(db.pragma('wal_autocheckpoint', { simple: true }));

  it('copies heavy output back into the database file in a worker, then goes away', async () => {
    const warnings: string[] = [];
    let done = 0;
    const wake: Array<() => void> = [];
    const ck = new WalCheckpointer(db, file, { warn: (m) => warnings.push(m), checkpointed: () => { done++; wake.shift()?.(); } });
    const store = new JobStore(db, (n) => ck.noteWritten(n));
    assert.equal(ck.active, false, 'no thread before any bulk write');
    assert.equal(autocheckpoint(), DEFAULT_AUTOCHECKPOINT_PAGES);
    store.insertPending('job-1', 'ctl', { command: 'x' } as never, 1);
    const before = fs.statSync(file).size;
    const data = Buffer.alloc(16 * 1024, 0x61);
    const first = new Promise<void>((r) => wake.push(r));
    store.transaction(() => {
      for (let seq = 1; seq <= 320; seq++) store.appendFrame('job-1', { seq, ts: seq, stream: 'stdout', data }); // 5 MiB
    });
    assert.equal(ck.active, true, 'started by 4 MiB of output');
    assert.equal(autocheckpoint(), SAFETY_AUTOCHECKPOINT_PAGES, 'the inline checkpoint is only a safety bound while the worker runs');
    await first;
    assert.ok(done >= 1);
    // The main connection never checkpointed (its threshold is far above 5 MiB): the worker wrote the pages home.
    assert.ok(fs.statSync(file).size >= before + 5 * 1024 * 1024, `database file ${fs.statSync(file).size} bytes after the worker's checkpoint`);
    assert.equal(store.framesAfter('job-1', 0, 1000).length, 320, 'every frame is still there');
    await ck.close();
    await ck.close();
    assert.equal(ck.active, false);
    assert.equal(autocheckpoint(), DEFAULT_AUTOCHECKPOINT_PAGES, 'back to the usual inline checkpoint');
    assert.deepEqual(warnings, []);
    // Closed: more output does not start a thread again.
    store.transaction(() => {
      for (let seq = 321; seq <= 640; seq++) store.appendFrame('job-1', { seq, ts: seq, stream: 'stdout', data });
    });
    assert.equal(ck.active, false);
  });

  it('leaves small writes to the inline checkpoint (no thread)', () => {
    const ck = new WalCheckpointer(db, file);
    ck.noteWritten(1024 * 1024);
    assert.equal(ck.active, false);
    assert.equal(Number(db.pragma('journal_size_limit', { simple: true })), 64 * 1024 * 1024);
  });
});
