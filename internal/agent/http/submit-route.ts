/**
 * What `POST /api/v1/jobs` and `GET /health` do, apart from how the answer is written: one
 * function each, called by the Koa routes (routes.ts) and by the front door ahead of Koa
 * (front-door.ts), so both paths make exactly the same checks in the same order.
 */
import type { IncomingMessage } from 'node:http';
import { nowSeconds, type Clock } from '../clock.js';
import type { AgentConfig } from '../config/config.js';
import type { DockerHealth } from '../engine/docker-health.js';
import type { Accepted, Intake, RequestOrigin } from '../door/intake.js';
import { AgentError } from '../errors.js';
import type { JobManager } from '../jobs/job-manager.js';
import type { AuditBacklog, AuditLog } from '../../audit/audit-log.js';
import { checkDeclaredLength, checkJsonContentType, readBody } from './http-body.js';
import type { BodyBudget } from './body-budget.js';

/** What a submission needs. */
export interface SubmitDeps {
  readonly config: () => AgentConfig;
  readonly intake: Intake;
  readonly manager: JobManager;
  /** Shared budget of in-flight request bodies (max_inflight_body_bytes); none: unbounded. */
  readonly bodies?: BodyBudget;
}

/**
 * Refuse what can be refused from the headers, read the bounded body, hand it to the
 * intake. Throws the AgentError to answer; `closeConnection` is called first when the
 * connection must not be reused (an oversized body that was not read).
 */
export async function submitJob(d: SubmitDeps, req: IncomingMessage, origin: RequestOrigin, closeConnection: () => void): Promise<Accepted> {
  let body: Buffer;
  try {
    if (!d.manager.isAccepting) throw new AgentError('SHUTTING_DOWN', 'agent is shutting down', { expose: true });
    const max = d.config().max_request_bytes;
    checkDeclaredLength(req, max);
    checkJsonContentType(req);
    body = await readBody(req, max, d.bodies);
  } catch (e) {
    d.intake.rejectedEarly(e, origin);
    if (e instanceof AgentError && e.code === 'REQUEST_TOO_LARGE') closeConnection();
    throw e;
  }
  return d.intake.submit(body, origin);
}

/** What /health needs. */
export interface HealthDeps {
  readonly clock: Clock;
  readonly docker: DockerHealth;
  readonly audit: AuditLog;
  /** State of the broker connection, or null without a broker (SPEC §10). */
  readonly broker?: () => 'ok' | 'down' | null;
}

/** The /health answer. */
export interface HealthReport {
  readonly status: 200 | 503;
  readonly body: { status: 'healthy' | 'unhealthy'; timestamp: number; checks: { docker: 'ok' | 'unavailable'; audit: 'ok' | 'unavailable'; broker?: 'ok' | 'down' }; audit_backlog?: AuditBacklog };
}

/** Engine state at most a second old (a ping at most once a second), and the audit database. */
export async function healthReport(d: HealthDeps): Promise<HealthReport> {
  // The ping is bounded inside DockerHealth (one timer per ping, not per call); the audit is
  // never written here: its own timer rechecks it while it fails (checked() waits for it).
  const [docker, audit] = await Promise.all([d.docker.recent(1000), d.audit.checked()]);
  const ok = docker && audit;
  // The broker is reported, not required: HTTPS (when listening) works without it.
  const broker = d.broker?.() ?? null;
  const backlog = d.audit.backlog();
  return {
    status: ok ? 200 : 503,
    body: {
      status: ok ? 'healthy' : 'unhealthy',
      timestamp: nowSeconds(d.clock),
      checks: { docker: docker ? 'ok' : 'unavailable', audit: audit ? 'ok' : 'unavailable', ...(broker !== null ? { broker } : {}) },
      // While the database fails: what waits to be written (rows, bytes) and what is only counted.
      ...(backlog.rows + backlog.counted > 0 ? { audit_backlog: backlog } : {}),
    },
  };
}
