/**
 * One agent's connection: where it is, who we are to it, and how to reach it over HTTPS
 * with TLS verified (or, only when spelled out, not). Requests for status, cancel and the
 * stream are signed exactly as the agent verifies them (internal/agent/wire/signing.ts).
 */
import http from 'node:http';
import https from 'node:https';
import { SIGNED_REQUEST_HEADERS } from '../agent/wire/signature-format.js';
import { signRequest } from '../agent/wire/signing.js';
import { ControllerError, networkError } from './controller-error.js';

/** Everything needed to talk to one agent. */
export interface AgentTarget {
  /** Display name: the config file's agent name, or the URL. */
  readonly name: string;
  /** Base URL (scheme, host, port). */
  readonly url: URL;
  /** Controller id this side signs as. */
  readonly controllerId: string;
  /** The shared secret's raw bytes (HMAC key). */
  readonly secret: Buffer;
  /** PEM CA bundle or pinned self-signed certificate to verify the agent with. */
  readonly ca?: Buffer;
  /** PEM client certificate for mTLS. */
  readonly cert?: Buffer;
  /** PEM client key for mTLS. */
  readonly key?: Buffer;
  /** Skip verification of the agent's certificate (only from an explicit --insecure). */
  readonly insecure: boolean;
}

/** A complete HTTP answer. */
export interface HttpReply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

/** TLS options shared by HTTPS requests and the WebSocket stream. */
export interface TlsClientOptions {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: boolean;
}

/** Default per-request limit; the agent answers every route quickly (jobs run asynchronously). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** Signs and sends requests to one agent over a keep-alive connection pool. */
export class Transport {
  private readonly pool: http.Agent;

  constructor(
    readonly target: AgentTarget,
    private readonly opts: { timeoutMs?: number; now?: () => number } = {},
  ) {
    this.pool = this.isTls ? new https.Agent({ keepAlive: true, ...this.tls() }) : new http.Agent({ keepAlive: true });
  }

  /** True unless the agent URL is plain http:// (an agent with insecure_http). */
  get isTls(): boolean {
    return this.target.url.protocol === 'https:';
  }

  /** TLS options for this agent. */
  tls(): TlsClientOptions {
    const t = this.target;
    return { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: !t.insecure };
  }

  /** The X-QuickCMD-* headers of a signed request. */
  signedHeaders(method: string, pathWithQuery: string, body: Buffer): Record<string, string> {
    const ts = Math.floor((this.opts.now ?? Date.now)() / 1000);
    return {
      [SIGNED_REQUEST_HEADERS.controller]: this.target.controllerId,
      [SIGNED_REQUEST_HEADERS.timestamp]: String(ts),
      [SIGNED_REQUEST_HEADERS.signature]: signRequest(this.target.secret, method, pathWithQuery, ts, body),
    };
  }

  /** Send one request; `signed` adds the request signature. Rejects only with ControllerError. */
  request(method: string, pathWithQuery: string, opts: { body?: string; contentType?: string; signed: boolean }): Promise<HttpReply> {
    const body = Buffer.from(opts.body ?? '', 'utf8');
    const headers: Record<string, string> = { accept: 'application/json', 'content-length': String(body.length) };
    if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
    if (opts.signed) Object.assign(headers, this.signedHeaders(method, pathWithQuery, body));
    const url = this.target.url;
    const mod = this.isTls ? https : http;
    const timeoutMs = this.opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    return new Promise<HttpReply>((resolve, reject) => {
      const req = mod.request(
        { method, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path: pathWithQuery, headers, agent: this.pool, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e) => reject(networkError(this.target.name, e)));
        },
      );
      req.on('timeout', () => {
        req.destroy(new ControllerError(this.target.name, 'TIMEOUT', `no answer within ${Math.round(timeoutMs / 1000)}s`));
      });
      req.on('error', (e) => reject(networkError(this.target.name, e)));
      req.end(body);
    });
  }

  /** Release pooled connections. Idempotent. */
  close(): void {
    this.pool.destroy();
  }
}

/** Parse an agent error body (`{"error","code"}`) into a ControllerError. */
export function replyError(agent: string, reply: HttpReply, what: string): ControllerError {
  let code = `HTTP_${reply.status}`;
  let message = `${what}: HTTP ${reply.status}`;
  try {
    const body: unknown = JSON.parse(reply.text);
    if (typeof body === 'object' && body !== null) {
      const b = body as Record<string, unknown>;
      if (typeof b['code'] === 'string') code = b['code'];
      if (typeof b['error'] === 'string') message = `${what}: ${b['error']}`;
    }
  } catch {
    // Not JSON (a proxy's page, say): the status alone has to do.
  }
  const retry = Number(reply.headers['retry-after']);
  return new ControllerError(agent, code, message, { status: reply.status, retryAfterSeconds: Number.isFinite(retry) && retry >= 0 ? retry : null });
}
