/**
 * The route table without a socket: one request runs through the very same Koa
 * middleware (request id, error mapping) and routes as an HTTPS request, and the answer
 * comes back as `{status, body}`. The broker's submit and rpc use this, so every signed
 * route (status, cancel, frames, and any added later) is served over both transports by
 * one code path. Only the request's origin differs: it is preset in `ctx.state.origin`,
 * which `originOf` prefers over the socket's.
 */
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import type Koa from 'koa';
import type { RequestOrigin } from '../door/intake.js';

/** A request from another transport. */
export interface RoutedRequest {
  readonly method: string;
  readonly path: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Where it came from, for the door and the audit (requestId is filled in here). */
  readonly origin: Omit<RequestOrigin, 'requestId'>;
}

/** What the routes answered: the HTTP status and the JSON body HTTPS would send. */
export interface RoutedReply {
  readonly status: number;
  readonly body: unknown;
}

/** Key of ctx.state holding a preset origin. */
export const PRESET_ORIGIN = 'presetOrigin';

/** Largest non-JSON body (a stream or text) collected for a reply. */
const MAX_COLLECT_BYTES = 4 * 1024 * 1024;

/** Build the dispatcher over `app`'s middleware. */
export function routeDispatcher(app: Koa): (req: RoutedRequest) => Promise<RoutedReply> {
  return async (r) => {
    const socket = new net.Socket();
    Object.defineProperty(socket, 'remoteAddress', { value: r.origin.remoteAddr ?? undefined });
    const req = new http.IncomingMessage(socket);
    req.method = r.method;
    req.url = r.path;
    req.headers = { ...r.headers, 'content-length': String(r.body.length) };
    req.push(r.body);
    req.push(null);
    const res = new http.ServerResponse(req);
    const ctx = app.createContext(req, res);
    ctx.state[PRESET_ORIGIN] = r.origin;
    res.statusCode = 404;
    const chain = app.middleware;
    const run = (i: number): Promise<void> => {
      const fn = chain[i];
      return fn === undefined ? Promise.resolve() : Promise.resolve(fn(ctx, () => run(i + 1))).then(() => undefined);
    };
    await run(0);
    socket.destroy();
    return { status: ctx.status, body: await plainBody(ctx.body, ctx.type) };
  };
}

/**
 * The reply body for the broker: JSON as JSON, text as text, and bytes of any other type
 * (an artifact tar, a file) as `{"content_type","content_base64"}`, since a broker reply is
 * JSON and raw bytes would not survive it.
 */
async function plainBody(body: unknown, type: string): Promise<unknown> {
  if (body === undefined || body === null) return null;
  let bytes: Buffer;
  if (typeof body === 'string') bytes = Buffer.from(body, 'utf8');
  else if (Buffer.isBuffer(body)) bytes = body;
  else if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of body) {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
      size += b.length;
      if (size > MAX_COLLECT_BYTES) {
        body.destroy();
        return { error: 'response too large for the broker', code: 'REQUEST_TOO_LARGE' };
      }
      chunks.push(b);
    }
    bytes = Buffer.concat(chunks);
  } else return body;
  if (type !== '' && !/json|^text\//.test(type)) return { content_type: type, content_base64: bytes.toString('base64') };
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
