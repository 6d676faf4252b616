/**
 * The two routes a flood hits, answered ahead of Koa: `POST /api/v1/jobs` (every forged or
 * unsigned submission lands here) and `GET /health` (what a load balancer polls meanwhile).
 * Koa's per-request context, delegation, router matching and on-finished bookkeeping were
 * about a sixth of the CPU of refusing a forged submission (`npm run bench -- --only=door
 * --cpu-prof`). The work is the same functions the Koa routes call (submit-route.ts), the
 * answer the same status, headers (`X-Request-Id`, JSON content type, an error's own
 * headers) and `{"error","code"}` body as the error middleware writes; every other request
 * (other methods and paths, HEAD, trailing slashes) goes to Koa unchanged.
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { RequestOrigin } from '../door/intake.js';
import { peerIdentities } from '../door/tls-identity.js';
import { asAgentError } from '../errors.js';
import type { Logger } from '../logger.js';
import { healthReport, submitJob, type HealthDeps, type SubmitDeps } from './submit-route.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** What the front door needs. */
export interface FrontDoorDeps extends SubmitDeps, HealthDeps {
  readonly logger: Logger;
}

/** True when the request's path (query ignored) is exactly `path`. */
function isPath(url: string | undefined, path: string): boolean {
  return url !== undefined && url.startsWith(path) && (url.length === path.length || url.charCodeAt(path.length) === 63 /* ? */);
}

function send(res: http.ServerResponse, requestId: string, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('X-Request-Id', requestId);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** As errorMiddleware (http-errors.ts) answers a thrown error. */
function sendError(res: http.ServerResponse, requestId: string, e: unknown, logger: Logger, extra: Record<string, string>): void {
  const known = asAgentError(e);
  if (known !== null) {
    if (known.status >= 500 && !known.expose) logger.error({ err: e, request_id: requestId }, 'request failed');
    send(res, requestId, known.status, { error: known.expose ? known.message : 'internal error', code: known.code }, { ...extra, ...known.headers });
    return;
  }
  logger.error({ err: e, request_id: requestId }, 'unexpected error');
  send(res, requestId, 500, { error: 'internal error', code: 'INTERNAL' }, extra);
}

/** Wrap Koa's handler: the submit and health routes are answered here, the rest by `next`. */
export function frontDoor(d: FrontDoorDeps, next: Handler): Handler {
  return (req, res) => {
    const submit = req.method === 'POST' && isPath(req.url, '/api/v1/jobs');
    if (!submit && !(req.method === 'GET' && isPath(req.url, '/health'))) {
      next(req, res);
      return;
    }
    const requestId = crypto.randomUUID();
    if (!submit) {
      healthReport(d).then(
        (h) => send(res, requestId, h.status, h.body),
        (e: unknown) => sendError(res, requestId, e, d.logger, {}),
      );
      return;
    }
    const origin: RequestOrigin = {
      remoteAddr: req.socket.remoteAddress ?? null,
      tlsIdentities: d.config().tls_client_ca_file !== undefined ? peerIdentities(req.socket as TLSSocket) : null,
      requestId,
    };
    const extra: Record<string, string> = {};
    submitJob(d, req, origin, () => {
      extra['Connection'] = 'close';
    }).then(
      (accepted) => send(res, requestId, 202, accepted),
      (e: unknown) => sendError(res, requestId, e, d.logger, extra),
    );
  };
}
