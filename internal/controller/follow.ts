/**
 * Following a job's live output (SPEC §6): a signed WebSocket upgrade to
 * /api/v1/stream/:id?from_seq=N; frames are handed over in order, once each; a dropped
 * connection or a 1013 close (too far behind) resumes from the last frame seen. An agent
 * without the stream route (501, or 404 NOT_FOUND) is followed by polling its status
 * route instead, which gives the output when the job ends.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { Backoff, sleep, type BackoffPolicy } from '../shared/retry.js';
import { ControllerError, networkError } from './controller-error.js';
import type { Transport } from './transport.js';
import { parseFrame, type FinalFrame, type JobStatusReply, type OutputFrame, type StreamFrame } from './wire.js';

/** How to follow. */
export interface FollowOptions {
  /** Resume after this frame (0 or absent: from the start). */
  readonly fromSeq?: number;
  /** Called for each output frame, in order, once. */
  readonly onFrame: (f: OutputFrame) => void;
  /** Stops following; the promise then rejects with FollowAborted. */
  readonly signal?: AbortSignal;
  /** Called once when the agent has no stream route and its status route is polled instead. */
  readonly onFallback?: () => void;
  /** Consecutive failed reconnects before giving up (default 20, about 90 s). */
  readonly maxReconnects?: number;
  /**
   * A connection silent this long (no frame, no ping) is taken as dead and replaced; the
   * agent pings every 30 s, so the default 75 s allows one lost ping.
   */
  readonly idleTimeoutMs?: number;
}

/** Following was stopped by its AbortSignal. */
export class FollowAborted extends Error {
  constructor() {
    super('follow aborted');
    this.name = 'FollowAborted';
  }
}

/** Where polling reads status from. */
interface StatusSource {
  status(jobId: string): Promise<JobStatusReply>;
}

type Attempt =
  | { kind: 'final'; frame: FinalFrame }
  | { kind: 'unsupported' }
  | { kind: 'resume' }
  | { kind: 'dropped'; error: ControllerError; opened: boolean }
  | { kind: 'rejected'; error: ControllerError }
  | { kind: 'aborted' };

const CLOSE_TRY_AGAIN_LATER = 1013;
/** Waits between reconnects of a dropped stream: 250 ms, doubling, at most 5 s. */
const RECONNECT_BACKOFF: BackoffPolicy = { firstMs: 250, factor: 2, maxMs: 5000 };
/** Waits between status polls when the agent has no stream: 200 ms, ×1.5, at most 2 s. */
const POLL_BACKOFF: BackoffPolicy = { firstMs: 200, factor: 1.5, maxMs: 2000 };

/** Follow `jobId` on the agent behind `transport` until its final frame. */
export async function followJob(transport: Transport, source: StatusSource, jobId: string, opts: FollowOptions): Promise<FinalFrame> {
  let lastSeq = opts.fromSeq ?? 0;
  let failures = 0;
  const reconnectDelay = new Backoff(RECONNECT_BACKOFF);
  let everOpened = false;
  const max = opts.maxReconnects ?? 20;
  const accept = (f: StreamFrame): void => {
    if (f.seq <= lastSeq && !f.final) return; // already seen before a reconnect
    lastSeq = Math.max(lastSeq, f.seq);
    failures = 0;
    reconnectDelay.reset();
    if (!f.final) opts.onFrame(f);
  };
  for (;;) {
    if (opts.signal?.aborted === true) throw new FollowAborted();
    const a = await streamOnce(transport, jobId, lastSeq, accept, opts.signal, opts.idleTimeoutMs ?? 75_000);
    switch (a.kind) {
      case 'final':
        return a.frame;
      case 'aborted':
        throw new FollowAborted();
      case 'rejected':
        throw a.error;
      case 'unsupported':
        if (everOpened) throw new ControllerError(transport.target.name, 'STREAM_FAILED', 'the live stream went away');
        opts.onFallback?.();
        return pollUntilEnd(source, jobId, opts);
      case 'resume':
        everOpened = true;
        continue;
      case 'dropped':
        everOpened ||= a.opened;
        // A first connection that fails outright (unreachable, TLS) is reported at once.
        if (!everOpened || a.error.code === 'TLS_VERIFY_FAILED') throw a.error;
        if (++failures > max) throw new ControllerError(transport.target.name, 'STREAM_FAILED', `live stream lost after ${max} reconnects: ${a.error.message}`);
        await sleep(reconnectDelay.next(), opts.signal);
    }
  }
}

function streamOnce(transport: Transport, jobId: string, fromSeq: number, accept: (f: StreamFrame) => void, signal: AbortSignal | undefined, idleMs: number): Promise<Attempt> {
  const path = `/api/v1/stream/${encodeURIComponent(jobId)}?from_seq=${fromSeq}`;
  const base = transport.target.url;
  const url = `${transport.isTls ? 'wss' : 'ws'}://${base.host}${path}`;
  const name = transport.target.name;
  return new Promise<Attempt>((resolve) => {
    let settled = false;
    let opened = false;
    let final: FinalFrame | null = null;
    const ws = new WebSocket(url, {
      headers: transport.signedHeaders('GET', path, Buffer.alloc(0)),
      ...(transport.isTls ? transport.tls() : {}),
      // Its own connection, not the submit's pooled one: this handshake overlaps the
      // container's start on the agent, and the status request after the final frame
      // finds the submit's keep-alive socket idle instead of paying a handshake at the end.
      handshakeTimeout: 15_000,
      perMessageDeflate: false,
    });
    // A half-open TCP connection never closes by itself: silence past idleMs ends it.
    let idle: NodeJS.Timeout | undefined;
    const alive = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => ws.terminate(), idleMs);
    };
    const settle = (a: Attempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      signal?.removeEventListener('abort', onAbort);
      resolve(a);
    };
    const onAbort = (): void => {
      ws.terminate();
      settle({ kind: 'aborted' });
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        let code = `HTTP_${status}`;
        let message = `live stream refused: HTTP ${status}`;
        try {
          const b = JSON.parse(text) as Record<string, unknown>;
          if (typeof b['code'] === 'string') code = b['code'];
          if (typeof b['error'] === 'string') message = `live stream refused: ${b['error']}`;
        } catch {
          // No JSON body (the 501 placeholder, a proxy): the status decides.
        }
        if (status === 501 || code === 'NOT_FOUND' || code === 'METHOD_NOT_ALLOWED') settle({ kind: 'unsupported' });
        else if (status >= 500) settle({ kind: 'dropped', error: new ControllerError(name, code, message, { status }), opened });
        else settle({ kind: 'rejected', error: new ControllerError(name, code, message, { status }) });
      });
      res.on('error', () => settle({ kind: 'dropped', error: new ControllerError(name, 'STREAM_FAILED', 'live stream refused'), opened }));
    });
    ws.on('open', () => {
      opened = true;
      alive();
    });
    ws.on('ping', alive);
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary || settled) return;
      alive();
      const frame = parseFrame(data.toString());
      if (frame === null) return; // not a frame this version knows; frames are never binary
      accept(frame);
      if (frame.final) {
        final = frame;
        ws.close(1000);
        settle({ kind: 'final', frame });
      }
    });
    ws.on('error', (e: Error) => settle({ kind: 'dropped', error: networkError(name, e), opened }));
    ws.on('close', (code: number, reason: Buffer) => {
      if (final !== null) return settle({ kind: 'final', frame: final });
      if (code === CLOSE_TRY_AGAIN_LATER) return settle({ kind: 'resume' });
      const why = reason.length > 0 ? `: ${reason.toString('utf8')}` : '';
      settle({ kind: 'dropped', error: new ControllerError(name, 'STREAM_FAILED', `live stream closed (${code}${why})`), opened });
    });
  });
}

/** The fallback: poll the status route until the job ends, then hand over its whole output. */
async function pollUntilEnd(source: StatusSource, jobId: string, opts: FollowOptions): Promise<FinalFrame> {
  const interval = new Backoff(POLL_BACKOFF);
  for (;;) {
    if (opts.signal?.aborted === true) throw new FollowAborted();
    const s = await source.status(jobId);
    if (s.result !== null) {
      let seq = 0;
      if (s.result.stdout !== '') opts.onFrame({ final: false, seq: ++seq, timestamp: null, stream: 'stdout', data: s.result.stdout });
      if (s.result.stderr !== '') opts.onFrame({ final: false, seq: ++seq, timestamp: null, stream: 'stderr', data: s.result.stderr });
      return { final: true, seq: seq + 1, status: s.result.status, exit_code: s.result.exit_code };
    }
    await sleep(interval.next(), opts.signal);
  }
}
