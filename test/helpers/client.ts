/**
 * A small HTTPS client for tests: signs jobs and requests exactly as a Go controller
 * does (through the project's signing module) and talks to an agent with its test CA.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import WebSocket from 'ws';
import type { JobPayload } from '../../internal/agent/wire/payload.js';
import { encodeJobBody, signRequest } from '../../internal/agent/wire/signing.js';
import { until } from './wait.js';

/** How to reach and authenticate to an agent. */
export interface ClientTarget {
  readonly url: string;
  readonly caFile: string;
  readonly secret: string;
  readonly controllerId: string;
  readonly clientCert?: { cert: string; key: string };
}

/** A plain response. */
export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): Record<string, unknown>;
}

/** Send one HTTPS request. */
export function request(t: Pick<ClientTarget, 'url' | 'caFile' | 'clientCert'>, method: string, pathWithQuery: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
  const u = new URL(pathWithQuery, t.url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        method,
        hostname: u.hostname,
        port: u.port,
        path: pathWithQuery,
        ca: fs.readFileSync(t.caFile),
        cert: t.clientCert ? fs.readFileSync(t.clientCert.cert) : undefined,
        key: t.clientCert ? fs.readFileSync(t.clientCert.key) : undefined,
        headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A payload with sensible defaults (fresh id, now, 5 min ttl). */
export function payload(t: Pick<ClientTarget, 'controllerId'>, p: Partial<JobPayload> = {}): JobPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    jobId: `job-${crypto.randomUUID()}`,
    prompt: '',
    command: 'echo hello',
    candidateMetadata: null,
    pluginMetadata: null,
    requiredScopes: null,
    snapshotMetadata: '',
    ttl: now + 300,
    timestamp: now,
    controllerId: t.controllerId,
    ...p,
  };
}

/** Submit a signed job; returns the reply and the payload. */
export async function submit(t: ClientTarget, p: Partial<JobPayload> = {}, secret = t.secret): Promise<{ reply: Reply; payload: JobPayload }> {
  const pl = payload(t, p);
  const body = encodeJobBody(pl, Buffer.from(secret, 'utf8'));
  const reply = await request(t, 'POST', '/api/v1/jobs', body, { 'content-type': 'application/json' });
  return { reply, payload: pl };
}

/** Headers of a signed request. */
export function signedHeaders(t: Pick<ClientTarget, 'secret' | 'controllerId'>, method: string, pathWithQuery: string, body: Buffer = Buffer.alloc(0)): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return {
    'x-quickcmd-controller': t.controllerId,
    'x-quickcmd-timestamp': String(ts),
    'x-quickcmd-signature': signRequest(Buffer.from(t.secret, 'utf8'), method, pathWithQuery, ts, body),
  };
}

/** Signed GET of a job's status. */
export function status(t: ClientTarget, jobId: string): Promise<Reply> {
  const p = `/api/v1/jobs/${encodeURIComponent(jobId)}`;
  return request(t, 'GET', p, undefined, signedHeaders(t, 'GET', p));
}

/** Signed cancel. */
export function cancel(t: ClientTarget, jobId: string): Promise<Reply> {
  const p = `/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`;
  return request(t, 'POST', p, '', signedHeaders(t, 'POST', p));
}

/** What the final frame of a job's stream says. */
export interface FinalFrame {
  readonly seq: number;
  readonly status: string;
  readonly exit_code: number | null;
}

/**
 * Follow the job's live log (signed like a controller) until its final frame and the close
 * after it; the socket is closed before this settles, so no stream client is left behind.
 * Rejects if the upgrade is refused, the connection ends without a final frame, or after
 * `timeoutMs` (the socket is then terminated).
 */
export function finalFrame(t: ClientTarget, jobId: string, timeoutMs = 60_000): Promise<FinalFrame> {
  const p = `/api/v1/stream/${encodeURIComponent(jobId)}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.url.replace(/^https:/, 'wss:')}${p}`, {
      ca: fs.readFileSync(t.caFile),
      ...(t.clientCert ? { cert: fs.readFileSync(t.clientCert.cert), key: fs.readFileSync(t.clientCert.key) } : {}),
      headers: signedHeaders(t, 'GET', p),
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    let final: FinalFrame | null = null;
    let failure: Error | null = null;
    const timer = setTimeout(() => {
      failure ??= new Error(`no final frame of job ${jobId} within ${timeoutMs} ms`);
      ws.terminate();
    }, timeoutMs);
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        failure ??= new Error(`stream of job ${jobId} refused: ${res.statusCode ?? 0} ${Buffer.concat(chunks).toString()}`);
        ws.terminate();
      });
    });
    ws.on('error', (e) => {
      failure ??= e;
    });
    ws.on('message', (raw: WebSocket.RawData) => {
      const f = JSON.parse(raw.toString()) as { final?: unknown; seq: number; status?: unknown; exit_code?: unknown };
      if (f.final !== true) return;
      final = { seq: f.seq, status: String(f.status), exit_code: typeof f.exit_code === 'number' ? f.exit_code : null };
      // The agent closes after the final frame; closing too makes no difference if it already has.
      ws.close(1000);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      if (final !== null) resolve(final);
      else reject(failure ?? new Error(`stream of job ${jobId} closed (${code} ${reason.toString()}) before its final frame`));
    });
  });
}

/**
 * The job's status body once it ended: waits for the final frame of its stream (the agent
 * stores the result before it sends that frame), then reads the status once.
 */
export async function waitForEnd(t: ClientTarget, jobId: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  let final: FinalFrame;
  try {
    final = await finalFrame(t, jobId, timeoutMs);
  } catch (e) {
    const r = await status(t, jobId).catch((err: unknown) => ({ status: 0, text: String(err) }));
    throw new Error(`job ${jobId} did not end: ${r.status} ${r.text}`, { cause: e });
  }
  const r = await status(t, jobId);
  const body = r.status === 200 ? r.json() : null;
  if (body === null || body['result'] === null || body['status'] !== final.status) {
    throw new Error(`job ${jobId} sent its final frame (${final.status}) but its status reads ${r.status} ${r.text}`);
  }
  return body;
}

/** Poll a job's status until it is `want` (bounded; the job manager moves it on its own). */
export async function waitForStatus(t: ClientTarget, jobId: string, want: string, timeoutMs = 30_000): Promise<void> {
  let last = '';
  try {
    await until(`job ${jobId} to become ${want}`, async () => {
      const r = await status(t, jobId);
      last = r.text;
      return r.status === 200 && r.json()['status'] === want ? true : undefined;
    }, timeoutMs);
  } catch (e) {
    throw new Error(`job ${jobId} never became ${want}: ${last}`, { cause: e });
  }
}
