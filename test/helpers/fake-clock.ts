/**
 * A fake clock for tests only: a wall clock the test sets, moves and jumps, and one-shot
 * timers on a separate monotonic timeline (as Node's are), so a wall-clock jump does not
 * fire a timer early and `advance` runs due timers in order without sleeping.
 */
import type { CancelTimer, Clock, Timers } from '../../internal/agent/clock.js';

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** Wall clock + timers under the test's control. */
export class FakeClock implements Clock, Timers {
  private wall: number;
  private mono = 0;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(startWall: number | string) {
    this.wall = typeof startWall === 'string' ? Date.parse(startWall) : startWall;
  }

  nowMs(): number {
    return this.wall;
  }

  set(fn: () => void, ms: number): CancelTimer {
    const p = { at: this.mono + Math.max(0, ms), seq: this.seq++, fn };
    this.pending.push(p);
    return () => {
      this.pending = this.pending.filter((x) => x !== p);
    };
  }

  /** Timers waiting. */
  get timers(): number {
    return this.pending.length;
  }

  /** Move both clocks forward by `ms`, running every timer that falls due, in order, at its own time. */
  advance(ms: number): void {
    const end = this.mono + ms;
    for (;;) {
      const next = [...this.pending].sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (next === undefined || next.at > end) break;
      this.pending = this.pending.filter((x) => x !== next);
      this.wall += next.at - this.mono;
      this.mono = next.at;
      next.fn();
    }
    this.wall += end - this.mono;
    this.mono = end;
  }

  /** Change the wall clock only (an operator or NTP setting the time); timers keep their monotonic delays. */
  jump(ms: number): void {
    this.wall += ms;
  }
}
