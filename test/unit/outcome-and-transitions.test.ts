/** Pure job-state rules: the transition table and the terminal-status decision. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideOutcome, TIMEOUT_EXIT_CODE, type RunFacts } from '../../internal/agent/jobs/job-outcome.js';
import { canTransition, isTerminal, parseStatus, type JobStatus } from '../../internal/agent/jobs/job.js';

const ALL: JobStatus[] = ['pending', 'running', 'completed', 'failed', 'cancelled', 'rejected'];

test('transition table: only the lifecycle of SPEC §4 is legal', () => {
  const legal = new Set(['pending>running', 'pending>cancelled', 'pending>rejected', 'pending>failed', 'running>completed', 'running>failed', 'running>cancelled']);
  for (const from of ALL) for (const to of ALL) assert.equal(canTransition(from, to), legal.has(`${from}>${to}`), `${from} → ${to}`);
  for (const s of ALL) assert.equal(isTerminal(s), s !== 'pending' && s !== 'running');
  assert.throws(() => parseStatus('done'), /unknown job status/);
});

const base: RunFacts = {
  exit: { exitCode: 0, signal: null, oomKilled: false, error: null },
  timedOut: false,
  cancelled: false,
  shutdown: false,
  timeoutSeconds: 10,
  memoryLimit: 8 << 20,
};

test('a command that exits by itself is completed whatever its code', () => {
  assert.deepEqual(decideOutcome(base), { status: 'completed', exitCode: 0, error: null, timedOut: false, oomKilled: false });
  assert.equal(decideOutcome({ ...base, exit: { ...base.exit, exitCode: 7 } }).status, 'completed');
  assert.equal(decideOutcome({ ...base, exit: { ...base.exit, exitCode: 7 } }).exitCode, 7);
});

test('timeout wins over the kill it caused: failed, 124, timed_out', () => {
  const o = decideOutcome({ ...base, timedOut: true, exit: { exitCode: 143, signal: 15, oomKilled: false, error: null } });
  assert.equal(o.status, 'failed');
  assert.equal(o.exitCode, TIMEOUT_EXIT_CODE);
  assert.equal(o.timedOut, true);
  assert.match(String(o.error), /timed out after 10s/);
});

test('cancel, shutdown, engine errors and OOM each say why', () => {
  assert.equal(decideOutcome({ ...base, cancelled: true }).status, 'cancelled');
  const sd = decideOutcome({ ...base, shutdown: true });
  assert.equal(sd.status, 'failed');
  assert.match(String(sd.error), /agent shutdown/);
  const gone = decideOutcome({ ...base, exit: { exitCode: -1, signal: null, oomKilled: false, error: 'docker engine unavailable' } });
  assert.equal(gone.status, 'failed');
  assert.equal(gone.exitCode, null);
  assert.equal(gone.error, 'docker engine unavailable');
  const oom = decideOutcome({ ...base, exit: { exitCode: 137, signal: 9, oomKilled: true, error: null } });
  assert.equal(oom.status, 'failed');
  assert.equal(oom.oomKilled, true);
  assert.match(String(oom.error), /out of memory/);
});
