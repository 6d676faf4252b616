/**
 * The shared polling/backoff helper (internal/shared/retry.ts): the delay sequences the
 * four former hand-written loops used, the one-pending-run timer, and the abortable sleep.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, RetryTimer, sleep } from '../../internal/shared/retry.js';

function take(b: Backoff, n: number): number[] {
  return Array.from({ length: n }, () => b.next());
}

test('reconnect backoff: 250 ms doubling to 5 s, as min(5000, 250 * 2^(n-1))', () => {
  const b = new Backoff({ firstMs: 250, factor: 2, maxMs: 5000 });
  const want = Array.from({ length: 9 }, (_, i) => Math.min(5000, 250 * 2 ** i));
  assert.deepEqual(take(b, 9), want);
  b.reset();
  assert.equal(b.next(), 250);
});

test('poll backoff: 200 ms, x1.5 rounded at each step, to 2 s', () => {
  const b = new Backoff({ firstMs: 200, factor: 1.5, maxMs: 2000 });
  const want: number[] = [];
  for (let interval = 200, i = 0; i < 8; i++) {
    want.push(interval);
    interval = Math.min(2000, Math.round(interval * 1.5));
  }
  assert.deepEqual(take(b, 8), want);
  assert.deepEqual(want.slice(0, 6), [200, 300, 450, 675, 1013, 1520]);
});

test('warm-pool refill backoff: the configured first delay, doubling to 30 s, reset after a success', () => {
  const b = new Backoff({ firstMs: 1000, factor: 2, maxMs: 30_000 });
  assert.deepEqual(take(b, 7), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  b.reset();
  assert.deepEqual(take(b, 2), [1000, 2000]);
});

test('RetryTimer: one pending run at a time, cancel drops it, then it can be scheduled again', async (ctx) => {
  // The timer is unref'd (it never holds the process); this keeps the test's loop alive.
  const alive = setInterval(() => undefined, 1000);
  ctx.after(() => clearInterval(alive));
  const t = new RetryTimer();
  let runs = 0;
  let ran!: () => void;
  const first = new Promise<void>((r) => (ran = r));
  t.schedule(1, () => {
    runs++;
    ran();
  });
  assert.equal(t.pending, true);
  t.schedule(1, () => {
    runs += 100;
  });
  await first;
  assert.equal(runs, 1);
  assert.equal(t.pending, false);

  t.schedule(60_000, () => {
    runs += 1000;
  });
  assert.equal(t.pending, true);
  t.cancel();
  t.cancel();
  assert.equal(t.pending, false);
  const again = new Promise<void>((r) => t.schedule(1, r));
  await again;
  assert.equal(runs, 1);
});

test('sleep resolves at once when its signal aborts, and at once if already aborted', async () => {
  const ac = new AbortController();
  const t0 = performance.now();
  const slept = sleep(60_000, ac.signal);
  ac.abort();
  await slept;
  await sleep(60_000, ac.signal);
  assert.ok(performance.now() - t0 < 5_000);
});
