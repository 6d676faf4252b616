/**
 * `GET /api/v1/commands` (SPEC §11): the named commands this controller may run and
 * whether it may use the shell. Always a signed request (or a verified client
 * certificate), even with `require_read_auth: false`: what a controller may run depends
 * on who it is.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AuditLog } from '../../audit/audit-log.js';
import type { AgentConfig } from '../config/config.js';
import { commandListFor, scopesOfPrincipal } from '../door/command-policy.js';
import type { RequestOrigin } from '../door/intake.js';
import type { RequestAuth } from '../door/request-auth.js';
import { RejectionError } from '../errors.js';
import { authenticateRead } from './job-list-route.js';

/** What the route needs. */
export interface CommandRouteDeps {
  readonly config: () => AgentConfig;
  readonly auth: RequestAuth;
  readonly audit: AuditLog;
  readonly origin: (ctx: Context) => RequestOrigin;
}

/** Add the commands route to `router`. */
export function registerCommandRoutes(router: Router, d: CommandRouteDeps): void {
  router.get('/api/v1/commands', async (ctx) => {
    const { principal, origin } = authenticateRead({ auth: d.auth, originOf: d.origin }, ctx);
    const cfg = d.config();
    const scopes = scopesOfPrincipal(cfg, principal);
    if (scopes === null) {
      const err = new RejectionError('UNAUTHENTICATED', 'request authentication failed', 'GET /api/v1/commands without a signature (require_read_auth does not open it)');
      d.audit.append({ type: 'request.unauthenticated', remoteAddr: origin.remoteAddr, details: { method: ctx.method, path: ctx.originalUrl.slice(0, 512), reason: err.reason, request_id: origin.requestId } });
      throw err;
    }
    ctx.body = commandListFor(cfg, scopes);
  });
}
