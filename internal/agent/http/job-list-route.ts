/**
 * `GET /api/v1/jobs` (SPEC §13): the caller's jobs, or every job with scope
 * `jobs:read-all`, newest first; `GET /api/v1/schedules` (scope jobs:read-all). Signed
 * like every read; a bad query parameter is 400 INVALID_PAYLOAD naming it, a missing
 * scope 403 INSUFFICIENT_SCOPES, both audited as request.rejected.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AuditLog } from '../../audit/audit-log.js';
import type { AgentConfig } from '../config/config.js';
import type { RequestOrigin } from '../door/intake.js';
import { readsAll, holdsScope, READ_ALL_SCOPE } from '../door/read-access.js';
import type { ScheduleView } from '../jobs/scheduler.js';
import type { Principal, RequestAuth } from '../door/request-auth.js';
import { AgentError } from '../errors.js';
import { DEFAULT_JOB_LIST_LIMIT, MAX_JOB_LIST_LIMIT, type JobListFilter, type JobListPage } from '../jobs/job-list.js';
import { parseStatus, type JobStatus } from '../jobs/job.js';
import type { Logger } from '../logger.js';

/** What the list routes need. */
export interface JobListRouteDeps {
  readonly config: () => AgentConfig;
  readonly auth: RequestAuth;
  readonly audit: AuditLog;
  readonly logger?: Logger;
  readonly listJobs: (f: JobListFilter) => JobListPage;
  readonly schedules: () => readonly ScheduleView[];
  readonly originOf: (ctx: Context) => RequestOrigin;
}

const PARAMS = new Set(['status', 'since', 'controller', 'limit']);
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** A query parameter the agent cannot use. */
function badParam(name: string, why: string): AgentError {
  return new AgentError('INVALID_PAYLOAD', `query parameter ${name}: ${why}`);
}

/** `since`: Unix seconds, a date (UTC midnight) or an RFC 3339 date-time with its offset. */
export function parseSince(v: string): number {
  if (/^\d{1,12}$/.test(v)) return Number(v) * 1000;
  const m = ISO.exec(v);
  const t = Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v);
  if (m === null || Number.isNaN(t) || Number(m[3]) > new Date(Date.UTC(Number(m[1]), Number(m[2]), 0)).getUTCDate()) {
    throw badParam('since', 'must be Unix seconds, a date (2026-12-01) or an RFC 3339 time with offset (2026-12-01T08:00:00Z)');
  }
  return t;
}

/** Parse the query string of a list request into a filter for `principal`. */
export function parseJobListQuery(query: string, principal: Principal, cfg: AgentConfig): JobListFilter {
  const q = new URLSearchParams(query);
  const seen = new Set<string>();
  for (const k of q.keys()) {
    if (!PARAMS.has(k)) throw badParam(k.slice(0, 64), 'unknown (use status, since, controller, limit)');
    if (seen.has(k)) throw badParam(k, 'given more than once');
    seen.add(k);
  }
  const statuses: JobStatus[] = [];
  const status = q.get('status');
  if (status !== null) {
    for (const s of status.split(',')) {
      try {
        statuses.push(parseStatus(s));
      } catch {
        throw badParam('status', `${JSON.stringify(s.slice(0, 32))} is not pending, running, completed, failed, cancelled or rejected`);
      }
    }
  }
  const since = q.get('since');
  const controller = q.get('controller');
  if (controller !== null && (controller.length === 0 || controller.length > 256)) throw badParam('controller', 'must be 1 to 256 characters');
  const limitText = q.get('limit');
  let limit = DEFAULT_JOB_LIST_LIMIT;
  if (limitText !== null) {
    limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_JOB_LIST_LIMIT)) throw badParam('limit', `must be a whole number from 1 to ${MAX_JOB_LIST_LIMIT}`);
  }
  return {
    statuses,
    sinceMs: since === null ? null : parseSince(since),
    controllerId: controller,
    visibleTo: readsAll(principal, cfg) || principal.open ? null : principal.ids,
    limit,
  };
}

/** Authenticate a signed GET; returns the principal. */
export function authenticateRead(d: Pick<JobListRouteDeps, 'auth' | 'originOf'>, ctx: Context): { principal: Principal; origin: RequestOrigin } {
  const origin = d.originOf(ctx);
  const principal = d.auth.authenticate({
    method: ctx.method,
    pathWithQuery: ctx.originalUrl,
    headers: ctx.headers,
    body: Buffer.alloc(0),
    tlsIdentities: origin.tlsIdentities,
    remoteAddr: origin.remoteAddr,
    requestId: origin.requestId,
  });
  return { principal, origin };
}

/** An authenticated read, whichever transport it came by (the HTTPS route, or a broker rpc). */
export interface ReadRequest {
  readonly principal: Principal;
  readonly method: string;
  readonly pathWithQuery: string;
  /** The query string without `?`. */
  readonly query: string;
  readonly remoteAddr: string | null;
  readonly requestId: string;
}

/** Audit a refused read of an authenticated caller, then rethrow it. */
function refuseRead(d: Pick<JobListRouteDeps, 'audit' | 'logger'>, r: ReadRequest, e: unknown): never {
  if (e instanceof AgentError) {
    try {
      d.audit.appendBatched({
        type: 'request.rejected',
        controllerId: r.principal.open ? null : [...r.principal.ids].join(','),
        remoteAddr: r.remoteAddr,
        details: { method: r.method, path: r.pathWithQuery.slice(0, 512), code: e.code, reason: e.message, request_id: r.requestId },
      });
    } catch (auditErr) {
      d.logger?.error({ err: auditErr }, 'could not audit a refused request');
    }
  }
  throw e;
}

/** `GET /api/v1/jobs`: the page for this caller; throws AgentError (audited). */
export function jobListAnswer(d: Omit<JobListRouteDeps, 'originOf' | 'auth'>, r: ReadRequest): JobListPage {
  let filter: JobListFilter;
  try {
    filter = parseJobListQuery(r.query, r.principal, d.config());
  } catch (e) {
    refuseRead(d, r, e);
  }
  return d.listJobs(filter);
}

/** `GET /api/v1/schedules` (scope jobs:read-all); throws AgentError (audited). */
export function scheduleListAnswer(d: Omit<JobListRouteDeps, 'originOf' | 'auth'>, r: ReadRequest): { schedules: readonly ScheduleView[] } {
  try {
    if (r.query !== '') throw badParam(new URLSearchParams(r.query).keys().next().value?.slice(0, 64) ?? '', 'unknown (this route takes none)');
    if (!r.principal.open && !holdsScope(r.principal, d.config(), READ_ALL_SCOPE)) {
      throw new AgentError('INSUFFICIENT_SCOPES', `listing schedules needs scope ${READ_ALL_SCOPE}`);
    }
  } catch (e) {
    refuseRead(d, r, e);
  }
  return { schedules: d.schedules() };
}

/** Add `GET /api/v1/jobs` and `GET /api/v1/schedules` to the router. */
export function registerJobListRoutes(router: Router, d: JobListRouteDeps): void {
  const read = (ctx: Context): ReadRequest => {
    const { principal, origin } = authenticateRead(d, ctx);
    return { principal, method: ctx.method, pathWithQuery: ctx.originalUrl, query: ctx.querystring, remoteAddr: origin.remoteAddr, requestId: origin.requestId };
  };
  router.get('/api/v1/jobs', (ctx) => {
    ctx.body = jobListAnswer(d, read(ctx));
  });
  router.get('/api/v1/schedules', (ctx) => {
    ctx.body = scheduleListAnswer(d, read(ctx));
  });
}
