/**
 * Test-side live-log followers: real `ws` clients over TLS with the test CA, signed like
 * a controller. Frames are checked for shape as they arrive; a follower can keep them all
 * or only count them (the 100 MB tests), and can be told to pause its socket right after
 * the handshake (a client that never reads).
 */
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { signedHeaders } from '../helpers/client.js';

/** Where and as whom to follow. */
export interface StreamTarget {
  readonly url: string;
  readonly caFile: string;
  readonly secret: string;
  readonly controllerId: string;
  readonly clientCert?: { cert: string; key: string };
}

/** A frame as received. */
export interface WireFrame {
  readonly job_id: string;
  readonly seq: number;
  readonly timestamp: string;
  readonly stream: string;
  readonly data: string;
  readonly final: boolean;
  readonly status?: string;
  readonly exit_code?: number | null;
}

/** How to follow. */
export interface FollowOptions {
  readonly fromSeq?: number;
  /** false: do not sign (unsigned or mTLS-only requests). */
  readonly signed?: boolean;
  readonly headers?: Record<string, string>;
  /** false: keep only counts, seqs and the final frame (default true). */
  readonly keep?: boolean;
  /** Pause the socket as soon as the handshake completes. */
  readonly pause?: boolean;
  /** Called after each frame. */
  readonly onFrame?: (f: Follower) => void;
}

/** A running follower. */
export interface Follower {
  readonly ws: WebSocket;
  /** Frames kept (all of them unless keep: false). */
  readonly frames: WireFrame[];
  /** Output bytes (UTF-8) received. */
  bytes: number;
  /** Seq of the last frame received (0 if none). */
  lastSeq: number;
  /** Output frames received. */
  count: number;
  final: WireFrame | null;
  /** Problems found in the frames (shape, order); a test asserts it stays empty. */
  readonly errors: string[];
  /** Resolves once when the connection closes. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The raw socket (set once upgraded). */
  socket: Socket | null;
  /** Resolves when `pred` holds (checked after each frame). */
  until(pred: (f: Follower) => boolean): Promise<void>;
}

/** URL path of a stream request. */
export function streamPath(jobId: string, fromSeq?: number): string {
  return `/api/v1/stream/${encodeURIComponent(jobId)}${fromSeq === undefined ? '' : `?from_seq=${fromSeq}`}`;
}

function tlsOf(t: StreamTarget): WebSocket.ClientOptions {
  return {
    ca: fs.readFileSync(t.caFile),
    ...(t.clientCert ? { cert: fs.readFileSync(t.clientCert.cert), key: fs.readFileSync(t.clientCert.key) } : {}),
    perMessageDeflate: false,
    handshakeTimeout: 10_000,
  };
}

function wsUrl(t: StreamTarget, path: string): string {
  return `${t.url.replace(/^https:/, 'wss:')}${path}`;
}

/** Open a follower of `jobId`. */
export function follow(t: StreamTarget, jobId: string, o: FollowOptions = {}): Follower {
  const path = streamPath(jobId, o.fromSeq);
  const headers = { ...(o.signed === false ? {} : signedHeaders(t, 'GET', path)), ...o.headers };
  const ws = new WebSocket(wsUrl(t, path), { ...tlsOf(t), headers });
  const waiters = new Set<() => void>();
  const f: Follower = {
    ws,
    frames: [],
    bytes: 0,
    lastSeq: o.fromSeq ?? 0,
    count: 0,
    final: null,
    errors: [],
    socket: null,
    closed: new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of waiters) w();
      });
      ws.on('error', (e) => f.errors.push(`socket error: ${e.message}`));
    }),
    until(pred) {
      if (pred(f)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pred(f)) {
            waiters.delete(check);
            resolve();
          } else if (ws.readyState === WebSocket.CLOSED) {
            waiters.delete(check);
            reject(new Error(`connection closed before the condition held (last seq ${f.lastSeq}, errors ${f.errors.join('; ')})`));
          }
        };
        waiters.add(check);
      });
    },
  };
  ws.on('upgrade', (res: IncomingMessage) => {
    f.socket = res.socket as Socket;
    // Paused before ws attaches its reader: nothing is read from here on.
    if (o.pause === true) f.socket.pause();
  });
  ws.on('message', (raw: WebSocket.RawData, isBinary: boolean) => {
    if (isBinary) f.errors.push('binary message');
    const frame = JSON.parse(raw.toString()) as WireFrame;
    if (frame.job_id !== jobId) f.errors.push(`job_id ${frame.job_id}`);
    if (frame.seq !== f.lastSeq + 1) f.errors.push(`seq ${frame.seq} after ${f.lastSeq}`);
    if (f.final !== null) f.errors.push('frame after the final frame');
    if (Number.isNaN(Date.parse(frame.timestamp)) || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(frame.timestamp)) f.errors.push(`timestamp ${frame.timestamp}`);
    if (frame.final) {
      if (frame.stream !== '' || frame.data !== '' || typeof frame.status !== 'string' || !('exit_code' in frame)) f.errors.push(`bad final frame ${raw.toString()}`);
      f.final = frame;
    } else {
      if (frame.stream !== 'stdout' && frame.stream !== 'stderr') f.errors.push(`stream ${frame.stream}`);
      if (frame.data.includes('\ufffd')) f.errors.push(`U+FFFD in frame ${frame.seq}`);
      f.count++;
      f.bytes += Buffer.byteLength(frame.data);
    }
    f.lastSeq = frame.seq;
    if (o.keep !== false || frame.final) f.frames.push(frame);
    o.onFrame?.(f);
    for (const w of waiters) w();
  });
  return f;
}

/** Follow to the end: resolves with the close code once the connection closes. */
export async function followToEnd(t: StreamTarget, jobId: string, o: FollowOptions = {}): Promise<Follower & { code: number }> {
  const f = follow(t, jobId, o);
  const { code } = await f.closed;
  return Object.assign(f, { code });
}

/** An upgrade the agent should refuse: its HTTP status and JSON body. */
export function refusal(t: StreamTarget, path: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(t, path), { ...tlsOf(t), headers });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`upgrade of ${path} was accepted`));
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    ws.on('error', (e) => reject(e));
  });
}

/** Output text of kept frames, per stream or both. */
export function textOf(frames: readonly WireFrame[], stream?: 'stdout' | 'stderr'): string {
  return frames.filter((x) => !x.final && (stream === undefined || x.stream === stream)).map((x) => x.data).join('');
}
