/**
 * The bench's controller: signs jobs and requests with the project's signing module (as
 * the Go controller does), submits over keep-alive HTTPS and follows jobs over the
 * signed WebSocket stream, timestamping what a user would see: the 202, the first output
 * frame, the final frame.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import WebSocket from 'ws';
import type { JobPayload } from '../internal/agent/wire/payload.js';
import { encodeJobBody, signRequest } from '../internal/agent/wire/signing.js';

/** Where the agent is and who we are to it. */
export interface BenchTarget {
  readonly url: string;
  readonly caFile: string;
  readonly secret: string;
  readonly controllerId: string;
}

/** Signed `candidate_metadata.sandbox` settings. */
export interface SandboxRequest {
  readonly cpu_limit?: number;
  readonly memory_limit?: number;
  readonly timeout_seconds?: number;
  readonly env?: Record<string, string>;
}

/** One HTTP answer with its timing. */
export interface TimedReply {
  readonly status: number;
  readonly text: string;
  /** performance.now() when the whole answer was in. */
  readonly at: number;
}

/** What following a job saw; times are performance.now() values. */
export interface FollowResult {
  readonly openedAt: number;
  readonly firstFrameAt: number | null;
  readonly finalAt: number;
  /** Bytes of `data` over all output frames (UTF-8). */
  readonly bytes: number;
  readonly frames: number;
  readonly status: string;
  readonly exitCode: number | null;
}

/** Keep-alive HTTPS and WebSocket client of one agent. */
export class BenchClient {
  private readonly pool: https.Agent;
  private readonly ca: Buffer;
  private readonly key: Buffer;
  private readonly base: URL;

  constructor(
    readonly target: BenchTarget,
    maxSockets = 16,
  ) {
    this.ca = fs.readFileSync(target.caFile);
    this.key = Buffer.from(target.secret, 'utf8');
    this.base = new URL(target.url);
    this.pool = new https.Agent({ keepAlive: true, maxSockets, ca: this.ca });
  }

  /** A signed job body for `command` (fresh id, now, 5 min ttl). */
  jobBody(command: string, sandbox?: SandboxRequest): { jobId: string; body: string } {
    const now = Math.floor(Date.now() / 1000);
    const p: JobPayload = {
      jobId: `bench-${crypto.randomUUID()}`,
      prompt: '',
      command,
      candidateMetadata: sandbox === undefined ? null : { sandbox: { ...sandbox } },
      pluginMetadata: null,
      requiredScopes: null,
      snapshotMetadata: '',
      ttl: now + 300,
      timestamp: now,
      controllerId: this.target.controllerId,
    };
    return { jobId: p.jobId, body: encodeJobBody(p, this.key) };
  }

  /** Submit a job; throws unless the agent answers 202. */
  async submit(command: string, sandbox?: SandboxRequest): Promise<{ jobId: string; acceptedAt: number }> {
    const { jobId, body } = this.jobBody(command, sandbox);
    const r = await this.request('POST', '/api/v1/jobs', body, { 'content-type': 'application/json' });
    if (r.status !== 202) throw new Error(`submit answered ${r.status}: ${r.text}`);
    return { jobId, acceptedAt: r.at };
  }

  /** Signed cancel of a job (202 expected; a finished job answers 409). */
  async cancel(jobId: string): Promise<number> {
    const p = `/api/v1/jobs/${encodeURIComponent(jobId)}/cancel`;
    return (await this.request('POST', p, '', this.signed('POST', p))).status;
  }

  /** GET /health (unsigned). */
  health(): Promise<TimedReply> {
    return this.request('GET', '/health');
  }

  /** One request over the keep-alive pool. */
  request(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<TimedReply> {
    return new Promise((resolve, reject) => {
      const buf = body === undefined ? undefined : Buffer.from(body, 'utf8');
      const req = https.request(
        {
          method,
          hostname: this.base.hostname,
          port: this.base.port,
          path,
          agent: this.pool,
          headers: { ...(buf !== undefined ? { 'content-length': String(buf.length) } : {}), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), at: performance.now() }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(buf);
    });
  }

  /** Follow a job from frame `fromSeq` to its final frame; `onOpen` fires once the socket is open. */
  follow(jobId: string, opts: { fromSeq?: number; onOpen?: () => void; timeoutMs?: number } = {}): Promise<FollowResult> {
    const path = `/api/v1/stream/${encodeURIComponent(jobId)}?from_seq=${opts.fromSeq ?? 0}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://${this.base.host}${path}`, { headers: this.signed('GET', path), ca: this.ca, perMessageDeflate: false, handshakeTimeout: 15_000 });
      let openedAt = Number.NaN;
      let firstFrameAt: number | null = null;
      let bytes = 0;
      let frames = 0;
      let done = false;
      const timer = setTimeout(() => fail(new Error(`job ${jobId}: no final frame within ${opts.timeoutMs ?? 300_000} ms`)), opts.timeoutMs ?? 300_000);
      const fail = (e: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ws.terminate();
        reject(e);
      };
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => fail(new Error(`stream of ${jobId} refused: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8')}`)));
      });
      ws.on('open', () => {
        openedAt = performance.now();
        opts.onOpen?.();
      });
      ws.on('message', (data: WebSocket.RawData) => {
        const at = performance.now();
        const f = JSON.parse(data.toString()) as { final: boolean; data: string; status?: string; exit_code?: number | null };
        if (!f.final) {
          firstFrameAt ??= at;
          frames++;
          bytes += Buffer.byteLength(f.data, 'utf8');
          return;
        }
        done = true;
        clearTimeout(timer);
        ws.close(1000);
        resolve({ openedAt, firstFrameAt, finalAt: at, bytes, frames, status: f.status ?? '', exitCode: f.exit_code ?? null });
      });
      ws.on('error', (e: Error) => fail(e));
      ws.on('close', (code: number) => fail(new Error(`stream of ${jobId} closed with ${code} before its final frame`)));
    });
  }

  /** Release pooled connections. */
  close(): void {
    this.pool.destroy();
  }

  private signed(method: string, path: string): Record<string, string> {
    const ts = Math.floor(Date.now() / 1000);
    return {
      'x-quickcmd-controller': this.target.controllerId,
      'x-quickcmd-timestamp': String(ts),
      'x-quickcmd-signature': signRequest(this.key, method, path, ts, Buffer.alloc(0)),
    };
  }
}
