/**
 * HTTP routes (SPEC §3): submit, status, cancel, health, metrics. Handlers are thin: the
 * intake, request auth and job manager do the work; errors are thrown as AgentError and
 * rendered by the error middleware.
 */
import type { TLSSocket } from 'node:tls';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AuditLog } from '../../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { AgentConfig } from '../config/config.js';
import type { DockerHealth } from '../engine/docker-health.js';
import { AgentError } from '../errors.js';
import { readBody } from './http-body.js';
import type { BodyBudget } from './body-budget.js';
import { bearerMatches } from './bearer.js';
import { healthReport, submitJob } from './submit-route.js';
import type { Intake, RequestOrigin } from '../door/intake.js';
import type { JobManager } from '../jobs/job-manager.js';
import type { AgentMetrics } from '../metrics.js';
import { mayAccess, type RequestAuth } from '../door/request-auth.js';
import { peerIdentities } from '../door/tls-identity.js';
import { registerCommandRoutes } from './commands-route.js';
import { mayRead } from '../door/read-access.js';
import { registerJobListRoutes } from './job-list-route.js';
import type { JobListFilter, JobListPage } from '../jobs/job-list.js';
import type { ScheduleView } from '../jobs/scheduler.js';
import { PRESET_ORIGIN } from './route-dispatch.js';
import type { JobStore } from '../jobs/job-store.js';
import { framesPage } from '../stream/frames-page.js';
import { FrameEncoder } from '../stream/stream-frame.js';
import type { JobFilesStore } from '../jobs/job-files-store.js';
import { addArtifactRoutes } from './artifact-routes.js';

/** What the routes need. */
export interface RouteDeps {
  readonly config: () => AgentConfig;
  readonly clock: Clock;
  readonly intake: Intake;
  readonly auth: RequestAuth;
  readonly manager: JobManager;
  readonly docker: DockerHealth;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  /** Shared budget of in-flight request bodies (max_inflight_body_bytes); none: unbounded. */
  readonly bodies?: BodyBudget;
  /** The job list (GET /api/v1/jobs). */
  readonly listJobs: (f: JobListFilter) => JobListPage;
  /** The schedules (GET /api/v1/schedules). */
  readonly schedules: () => readonly ScheduleView[];
  /** Stored frames, for the frames route (the follower's gap filler). */
  readonly store: Pick<JobStore, 'framesAfter' | 'outputTotals'>;
  /** State of the broker connection for /health, or null without a broker. */
  readonly broker?: () => 'ok' | 'down' | null;
  /** Artifacts of finished jobs (SPEC §12). */
  readonly files: JobFilesStore;
}

/** The origin of a Koa request. */
export function originOf(ctx: Context, mtls: boolean): RequestOrigin {
  // A request routed in from the broker carries its origin (no socket of its own).
  const preset = ctx.state[PRESET_ORIGIN] as Omit<RequestOrigin, 'requestId'> | undefined;
  if (preset !== undefined) return { ...preset, requestId: String(ctx.state['requestId']) };
  return {
    remoteAddr: ctx.req.socket.remoteAddress ?? null,
    tlsIdentities: mtls ? peerIdentities(ctx.req.socket as TLSSocket) : null,
    requestId: String(ctx.state['requestId']),
  };
}

/** Build the router. */
export function buildRouter(d: RouteDeps): Router {
  const router = new Router();
  const mtls = (): boolean => d.config().tls_client_ca_file !== undefined;

  router.post('/api/v1/jobs', async (ctx) => {
    const accepted = await submitJob(d, ctx.req, originOf(ctx, mtls()), () => ctx.set('Connection', 'close'));
    ctx.status = 202;
    ctx.body = accepted;
  });

  const authorize = async (ctx: Context, withBody: boolean) => {
    const origin = originOf(ctx, mtls());
    const body = withBody ? await readBody(ctx.req, d.config().max_request_bytes, d.bodies) : Buffer.alloc(0);
    const principal = d.auth.authenticate({
      method: ctx.method,
      pathWithQuery: ctx.originalUrl,
      headers: ctx.headers,
      body,
      tlsIdentities: origin.tlsIdentities,
      remoteAddr: origin.remoteAddr,
      requestId: origin.requestId,
    });
    const id = String(ctx.params['id']);
    const rec = d.manager.get(id);
    // Another controller's job is reported as absent: existence is not leaked. Reads (GET)
    // are also open to the jobs:read-all scope; everything else stays with the owner.
    const allowed = rec !== null && (ctx.method === 'GET' ? mayRead(principal, d.config(), rec.controllerId) : mayAccess(principal, rec.controllerId));
    if (rec === null || !allowed) throw new AgentError('JOB_NOT_FOUND', 'job not found');
    return { rec, origin, principal };
  };

  registerJobListRoutes(router, { ...d, originOf: (ctx) => originOf(ctx, mtls()) });

  router.get('/api/v1/jobs/:id', async (ctx) => {
    const { rec } = await authorize(ctx, false);
    // A finished job's result carries its whole output: the bytes of results being built and
    // sent at once share the in-flight body budget (503 SERVER_BUSY past it), so ten reads of
    // a 50 MB output cannot take gigabytes; released when the response is done.
    if (d.bodies !== undefined && rec.result !== null) {
      const t = d.manager.outputBytes(rec.jobId);
      // A small result is never refused.
      const cost = t > 64 * 1024 ? t : 0;
      d.bodies.reserve(cost);
      const bodies = d.bodies;
      ctx.res.once('close', () => bodies.release(cost));
    }
    ctx.body = { job_id: rec.jobId, status: rec.status, result: d.manager.result(rec) };
  });

  const encoder = new FrameEncoder();
  router.get('/api/v1/jobs/:id/frames', async (ctx) => {
    const { rec } = await authorize(ctx, false);
    const raw = typeof ctx.query['from_seq'] === 'string' ? ctx.query['from_seq'] : '0';
    if (!/^\d{1,15}$/.test(raw)) throw new AgentError('INVALID_PAYLOAD', 'from_seq must be a non-negative integer');
    ctx.body = framesPage(d.store, encoder, rec, Number(raw));
  });
  addArtifactRoutes(router, authorize, d.files);

  router.post('/api/v1/jobs/:id/cancel', async (ctx) => {
    const { rec, origin } = await authorize(ctx, true);
    const status = d.manager.cancel(rec.jobId, { controllerId: rec.controllerId, remoteAddr: origin.remoteAddr });
    ctx.status = 202;
    ctx.body = { job_id: rec.jobId, status, cancel_requested: true };
  });

  registerCommandRoutes(router, { config: d.config, auth: d.auth, audit: d.audit, origin: (ctx) => originOf(ctx, mtls()) });

  router.get('/health', async (ctx) => {
    // A ping at most once a second: under a flood of requests /health stays cheap.
    const h = await healthReport(d);
    ctx.status = h.status;
    ctx.body = h.body;
  });

  router.get('/metrics', async (ctx) => {
    const token = d.config().metrics_bearer_token;
    if (token !== undefined) {
      if (!bearerMatches(ctx.get('authorization'), token)) {
        ctx.set('WWW-Authenticate', 'Bearer');
        throw new AgentError('UNAUTHENTICATED', 'metrics need a bearer token');
      }
    }
    ctx.type = d.metrics.registry.contentType;
    ctx.body = await d.metrics.registry.metrics();
  });

  return router;
}
