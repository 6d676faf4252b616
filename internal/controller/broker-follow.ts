/**
 * Following a job through the broker (SPEC §10): live sealed frames on
 * `quickcmd.v1.<agent>.out.<job_id>` (at most once), and the gap filler: when a `seq` is
 * skipped, a frame does not open, or the subject is silent for a while, the missing
 * frames are fetched with the signed rpc `GET /api/v1/jobs/:id/frames?from_seq=N`. Each
 * output frame is handed over once, in order; the promise resolves with the final frame.
 */
import { ControllerError } from './controller-error.js';
import { FollowAborted, type FollowOptions } from './follow.js';
import type { HttpReply } from './transport.js';
import { replyError } from './transport.js';
import { parseFrame, type FinalFrame, type StreamFrame } from './wire.js';

/** Silence after which the gap filler asks; doubles up to SILENCE_MAX_MS while nothing comes. */
const SILENCE_MIN_MS = 1000;
const SILENCE_MAX_MS = 5000;
/** Live frames held while the follower is busy (more: the rest come through the gap filler). */
const INBOX_LIMIT = 4096;

/** Live frames of one job, opened as they arrive. */
export class FrameInbox {
  private readonly queue: (StreamFrame | null)[] = [];
  private waiter: (() => void) | null = null;

  constructor(private readonly open: (data: Uint8Array, subject: string) => string) {}

  /** A message arrived on the frames subject. */
  push(data: Uint8Array, subject: string): void {
    let f: StreamFrame | null = null;
    try {
      f = parseFrame(this.open(data, subject));
    } catch {
      // Does not open (another key, tampered): a gap, filled through rpc.
    }
    if (this.queue.length < INBOX_LIMIT) this.queue.push(f);
    this.waiter?.();
  }

  /** The subscription failed: wake the follower so it falls back to rpc. */
  fail(): void {
    this.queue.push(null);
    this.waiter?.();
  }

  /** The next item (null: a message that did not open), or undefined after `ms` of silence. */
  next(ms: number, signal?: AbortSignal): Promise<StreamFrame | null | undefined> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        this.waiter = null;
        resolve(this.queue.length > 0 ? this.queue.shift() : undefined);
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.waiter = done;
    });
  }
}

/** Follow until the final frame; `fetch(fromSeq)` is the frames rpc. */
export async function followOverBroker(inbox: FrameInbox, fetch: (fromSeq: number) => Promise<HttpReply>, agent: string, opts: FollowOptions): Promise<FinalFrame> {
  let lastSeq = opts.fromSeq ?? 0;
  let silence = SILENCE_MIN_MS;
  const deliver = (f: StreamFrame): FinalFrame | null => {
    if (f.final) return f;
    if (f.seq <= lastSeq) return null;
    lastSeq = f.seq;
    opts.onFrame(f);
    return null;
  };
  /** Fetch everything stored after lastSeq; returns the final frame if the job ended. */
  const fill = async (): Promise<FinalFrame | null> => {
    for (;;) {
      const reply = await fetch(lastSeq);
      if (reply.status !== 200) throw replyError(agent, reply, 'frames');
      const page = JSON.parse(reply.text) as { frames?: unknown; final?: unknown };
      const frames = Array.isArray(page.frames) ? page.frames : [];
      let fin: FinalFrame | null = null;
      for (const raw of frames) {
        const f = parseFrame(JSON.stringify(raw));
        if (f === null) continue;
        fin = deliver(f) ?? fin;
      }
      if (fin !== null) return fin;
      if (page.final === true || frames.length === 0) return null;
    }
  };
  let failures = 0;
  for (;;) {
    if (isAborted(opts.signal)) throw new FollowAborted();
    const item = await inbox.next(silence, opts.signal);
    if (isAborted(opts.signal)) throw new FollowAborted();
    // In order: hand it over (a final frame in order ends the follow).
    if (item !== undefined && item !== null && item.seq <= lastSeq + 1) {
      silence = SILENCE_MIN_MS;
      const fin = deliver(item);
      if (fin !== null) return fin;
      continue;
    }
    // A gap, a frame that did not open, or silence: fetch what is stored.
    if (item === undefined) silence = Math.min(SILENCE_MAX_MS, silence * 2);
    try {
      const fin = await fill();
      failures = 0;
      if (fin !== null) return fin;
    } catch (e) {
      const transient = e instanceof ControllerError && (e.code === 'TIMEOUT' || e.code === 'AGENT_OFFLINE' || e.code === 'BROKER_UNREACHABLE');
      if (!transient || ++failures > (opts.maxReconnects ?? 20)) throw e;
    }
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
