/**
 * The one place errors become responses: `{"error","code"}` with the AgentError's status
 * and headers. Anything else is a 500 whose body carries no internal detail; the detail
 * goes to the log with the request id.
 */
import type { Context, Next } from 'koa';
import { asAgentError, type ErrorBody } from '../errors.js';
import type { Logger } from '../logger.js';

export type { ErrorBody } from '../errors.js';

/** Koa middleware turning thrown errors into JSON error responses. */
export function errorMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: 'no such route', code: 'NOT_FOUND' } satisfies ErrorBody;
      }
    } catch (e) {
      const known = asAgentError(e);
      if (known !== null) {
        ctx.status = known.status;
        for (const [k, v] of Object.entries(known.headers)) ctx.set(k, v);
        const message = known.expose ? known.message : 'internal error';
        if (known.status >= 500 && !known.expose) logger.error({ err: e, request_id: ctx.state['requestId'] }, 'request failed');
        ctx.body = { error: message, code: known.code } satisfies ErrorBody;
        return;
      }
      const status = typeof e === 'object' && e !== null && 'status' in e && typeof e.status === 'number' ? e.status : 500;
      if (status >= 400 && status < 500) {
        // Koa's own client errors (e.g. malformed URL encoding).
        ctx.status = status;
        ctx.body = { error: 'bad request', code: status === 404 ? 'NOT_FOUND' : 'INVALID_PAYLOAD' } satisfies ErrorBody;
        return;
      }
      logger.error({ err: e, request_id: ctx.state['requestId'] }, 'unexpected error');
      ctx.status = 500;
      ctx.body = { error: 'internal error', code: 'INTERNAL' } satisfies ErrorBody;
    }
  };
}
