/**
 * Bounded request bodies: a declared Content-Length over the limit is refused before a
 * byte is read, and a streamed body is cut off the moment it passes the limit, so memory
 * per request never exceeds `maxBytes`.
 */
import type { IncomingMessage } from 'node:http';
import { RejectionError } from '../errors.js';
import type { BodyBudget } from './body-budget.js';

/** Throw REQUEST_TOO_LARGE when the declared length exceeds `maxBytes`. */
export function checkDeclaredLength(req: IncomingMessage, maxBytes: number): void {
  const cl = req.headers['content-length'];
  if (cl !== undefined && /^\d+$/.test(cl) && Number(cl) > maxBytes) {
    throw new RejectionError('REQUEST_TOO_LARGE', `request body exceeds ${maxBytes} bytes`, `content-length ${cl} > max_request_bytes ${maxBytes}`);
  }
}

/** Throw UNSUPPORTED_MEDIA_TYPE unless the content type is JSON (charset, if any, UTF-8). */
export function checkJsonContentType(req: IncomingMessage): void {
  const ct = req.headers['content-type'];
  const parts = (ct ?? '').split(';').map((p) => p.trim().toLowerCase());
  const type = parts[0];
  const charset = parts.slice(1).find((p) => p.startsWith('charset='));
  const okCharset = charset === undefined || /^charset="?utf-8"?$/.test(charset);
  if (type !== 'application/json' || !okCharset) {
    throw new RejectionError('UNSUPPORTED_MEDIA_TYPE', 'content type must be application/json', `content-type ${JSON.stringify(ct ?? null).slice(0, 120)}`);
  }
}

/**
 * Read the whole body, refusing (and no longer buffering) past `maxBytes`; with a budget,
 * every buffered byte is reserved in it while the body is read (SERVER_BUSY past it).
 */
export function readBody(req: IncomingMessage, maxBytes: number, budget?: BodyBudget): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let reserved = 0;
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      budget?.release(reserved);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err !== null) {
        // Keep draining (discarding) so the 413 can still be written on this connection.
        req.resume();
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > maxBytes) {
        chunks.length = 0;
        finish(new RejectionError('REQUEST_TOO_LARGE', `request body exceeds ${maxBytes} bytes`, `streamed body passed max_request_bytes ${maxBytes}`));
        return;
      }
      if (budget !== undefined) {
        try {
          budget.reserve(c.length);
        } catch (e) {
          chunks.length = 0;
          finish(e as Error);
          return;
        }
        reserved += c.length;
      }
      chunks.push(c);
    };
    const onEnd = (): void => finish(null);
    // A client that goes away mid-body is a refusal like any other (audited, one short log
    // line at most), not an internal error with a stack trace.
    const gone = (why: string): RejectionError => new RejectionError('MALFORMED_REQUEST', 'request aborted', why);
    const onError = (e: Error): void => finish(gone(`connection error while reading the body: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    const onAborted = (): void => finish(gone('client closed the connection before the body was complete'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
