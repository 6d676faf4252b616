/**
 * Counting instead of writing: per remote address and minute, the first few rejections of
 * strangers (unsigned, forged, unauthenticated) are audited row by row, the rest only
 * counted by code, and one summary row per address and minute carries the counts into the
 * chain. The same counts absorb whatever does not fit the bounded backlog while the disk
 * is full, so a flood can neither fill the disk nor be lost without a trace.
 */

/** Rows per address and minute written verbatim before counting starts. */
export const STRANGER_BURST = 10;
/** Addresses tracked at once; beyond it every new address shares one bucket. */
export const MAX_TRACKED_ADDRESSES = 4096;
/** Key of the shared bucket (remote_addr null in its summary). */
const OVERFLOW_KEY = '\u0000overflow';

/** One address's minute. */
interface Bucket {
  readonly minute: number;
  readonly addr: string | null;
  passed: number;
  counted: number;
  readonly counts: Map<string, number>;
  /** Counted because the backlog was full (a subset of `counted`). */
  overflowed: number;
}

/** A summary row to be written. */
export interface CoalescedSummary {
  readonly remoteAddr: string | null;
  readonly details: {
    readonly minute: string;
    readonly counted: number;
    /** Per code, in code order (a list: codes like INVALID_SIGNATURE would be redacted as keys). */
    readonly counts: readonly { readonly code: string; readonly count: number }[];
    readonly backlog_overflow: number;
    readonly burst: number;
  };
}

const minuteOf = (ms: number): number => Math.floor(ms / 60_000);

/** The per-address, per-minute counter. */
export class Coalescer {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly burst: number = STRANGER_BURST, private readonly maxAddresses: number = MAX_TRACKED_ADDRESSES) {}

  /** Events counted and not yet summarised. */
  get pending(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.counted;
    return n;
  }

  /** True when this stranger's rejection should be written as its own row (within the burst). */
  admit(addr: string | null, nowMs: number): boolean {
    const b = this.bucket(addr, nowMs);
    if (b.passed < this.burst) {
      b.passed += 1;
      return true;
    }
    return false;
  }

  /** Count one event instead of writing it (`overflow`: because the backlog was full). */
  count(addr: string | null, code: string, nowMs: number, overflow = false): void {
    const b = this.bucket(addr, nowMs);
    b.counted += 1;
    if (overflow) b.overflowed += 1;
    b.counts.set(code, (b.counts.get(code) ?? 0) + 1);
  }

  /** Summaries of minutes that are over (all of them with `all`), removed from the counter. */
  drain(nowMs: number, all = false): CoalescedSummary[] {
    const now = minuteOf(nowMs);
    const out: CoalescedSummary[] = [];
    for (const [key, b] of this.buckets) {
      if (!all && b.minute >= now) continue;
      this.buckets.delete(key);
      if (b.counted === 0) continue;
      out.push({
        remoteAddr: b.addr,
        details: { minute: new Date(b.minute * 60_000).toISOString(), counted: b.counted, counts: [...b.counts].sort(([x], [y]) => (x < y ? -1 : 1)).map(([code, count]) => ({ code, count })), backlog_overflow: b.overflowed, burst: this.burst },
      });
    }
    return out;
  }

  /** Put summaries back (they could not be written); merged into the current buckets. */
  restore(rows: readonly CoalescedSummary[], nowMs: number): void {
    for (const r of rows) {
      const b = this.bucket(r.remoteAddr, nowMs);
      b.counted += r.details.counted;
      b.overflowed += r.details.backlog_overflow;
      for (const { code, count } of r.details.counts) b.counts.set(code, (b.counts.get(code) ?? 0) + count);
    }
  }

  private bucket(addr: string | null, nowMs: number): Bucket {
    const minute = minuteOf(nowMs);
    let key = addr ?? OVERFLOW_KEY;
    let b = this.buckets.get(key);
    if (b !== undefined && b.minute !== minute && b.counted === 0) {
      this.buckets.delete(key);
      b = undefined;
    }
    if (b === undefined && this.buckets.size >= this.maxAddresses) {
      key = OVERFLOW_KEY;
      b = this.buckets.get(key);
    }
    if (b === undefined) {
      b = { minute, addr: key === OVERFLOW_KEY ? null : addr, passed: 0, counted: 0, counts: new Map(), overflowed: 0 };
      this.buckets.set(key, b);
    }
    return b;
  }
}
