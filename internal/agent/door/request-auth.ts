/**
 * Authentication of reads and cancels (SPEC §3 "Signed requests"): an HMAC over
 * `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nhex(sha256(body))` in X-QuickCMD-* headers, or a
 * verified client certificate under mTLS. The result is the set of controller ids the
 * caller proved; only the controller that submitted a job may read or cancel it.
 */
import type { AuditLog } from '../../audit/audit-log.js';
import { nowSeconds, type Clock } from '../clock.js';
import type { AgentConfig } from '../config/config.js';
import { RejectionError } from '../errors.js';
import { accessFor } from './keyring.js';
import type { Logger } from '../logger.js';
import { SIGNATURE_HEX_RE, SIGNED_REQUEST_HEADERS } from '../wire/signature-format.js';
import { verifyRequestSignature } from '../wire/signing.js';

/** Header names of a signed request, as Node presents them (lower case); see wire/signature-format.ts. */
export const HEADER_CONTROLLER = SIGNED_REQUEST_HEADERS.controller.toLowerCase();
/** Unix seconds of the request. */
export const HEADER_TIMESTAMP = SIGNED_REQUEST_HEADERS.timestamp.toLowerCase();
/** Lowercase hex HMAC-SHA256. */
export const HEADER_SIGNATURE = SIGNED_REQUEST_HEADERS.signature.toLowerCase();

/** Who is asking: `open` when read auth is off, else the proven controller ids. */
export type Principal = { readonly open: true } | { readonly open: false; readonly ids: ReadonlySet<string> };

/** The parts of a request the check needs. */
export interface SignedRequestInput {
  readonly method: string;
  readonly pathWithQuery: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  readonly tlsIdentities: ReadonlySet<string> | null;
  readonly remoteAddr: string | null;
  readonly requestId: string;
}

function header(h: SignedRequestInput['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? undefined : v;
}

/** True when `p` may see or cancel a job of `controllerId`. */
export function mayAccess(p: Principal, controllerId: string): boolean {
  return p.open || p.ids.has(controllerId);
}

/** Verifies signed requests; failures are audited as request.unauthenticated. */
export class RequestAuth {
  constructor(private readonly d: { config: () => AgentConfig; clock: Clock; audit: AuditLog; logger: Logger }) {}

  /** The caller's principal, or throws UNAUTHENTICATED (401). */
  authenticate(req: SignedRequestInput): Principal {
    try {
      return this.check(req);
    } catch (e) {
      if (e instanceof RejectionError) {
        try {
          // Group-committed and coalesced like forged submissions; the controller header is
          // stored once (its column, truncated by the audit), never again inside the reason.
          this.d.audit.appendBatched({
            type: 'request.unauthenticated',
            controllerId: header(req.headers, HEADER_CONTROLLER) ?? null,
            remoteAddr: req.remoteAddr,
            details: { code: 'UNAUTHENTICATED', method: req.method, path: req.pathWithQuery.slice(0, 512), reason: e.reason, request_id: req.requestId },
            stranger: true,
          });
        } catch (auditErr) {
          this.d.logger.error({ err: auditErr }, 'could not audit an unauthenticated request');
        }
      }
      throw e;
    }
  }

  private check(req: SignedRequestInput): Principal {
    const cfg = this.d.config();
    const controller = header(req.headers, HEADER_CONTROLLER);
    if (controller === undefined) {
      if (req.tlsIdentities !== null) return { open: false, ids: req.tlsIdentities };
      if (!cfg.require_read_auth) return { open: true };
      throw fail('missing X-QuickCMD-Controller header');
    }
    const ts = header(req.headers, HEADER_TIMESTAMP);
    const sig = header(req.headers, HEADER_SIGNATURE);
    if (ts === undefined || !/^\d{1,15}$/.test(ts)) throw fail('missing or malformed X-QuickCMD-Timestamp');
    if (sig === undefined || !SIGNATURE_HEX_RE.test(sig)) throw fail('missing or malformed X-QuickCMD-Signature');
    const skew = Math.abs(nowSeconds(this.d.clock) - Number(ts));
    if (skew > cfg.max_clock_skew_seconds) throw fail(`timestamp is ${skew}s away from the agent's clock`);
    const access = accessFor(cfg, controller);
    if (!verifyRequestSignature(access.secrets, req.method, req.pathWithQuery, Number(ts), req.body, sig)) {
      throw fail(`request signature does not match any ${access.source} secret of ${named(controller)}`);
    }
    if (!access.allowed) throw fail(`controller ${named(controller)} is not allowed`);
    if (req.tlsIdentities !== null && !req.tlsIdentities.has(controller)) {
      throw fail(`client certificate does not name controller ${named(controller)}`);
    }
    return { open: false, ids: new Set([controller]) };
  }
}

/**
 * The controller as a reason names it: quoted when short; a long header value is stored
 * once only (in the audit's controller_id column, truncated), never copied into the reason.
 */
function named(controller: string): string {
  return controller.length <= 64 ? JSON.stringify(controller) : `the controller (a ${controller.length}-character header)`;
}

function fail(reason: string): RejectionError {
  return new RejectionError('UNAUTHENTICATED', 'request authentication failed', reason);
}
