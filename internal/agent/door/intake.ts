/**
 * The front door: every check of SPEC §3 in its order, before any side effect. A
 * rejection is audited with its exact reason and counted; the client gets the generic
 * message. Only a job that passes everything reaches the job manager.
 */
import type { AuditLog } from '../../audit/audit-log.js';
import { nowSeconds, type Clock } from '../clock.js';
import type { AgentConfig } from '../config/config.js';
import type { DockerHealth } from '../engine/docker-health.js';
import { AgentError, asAgentError, RejectionError } from '../errors.js';
import type { JobManager } from '../jobs/job-manager.js';
import { checkNamedCall, checkShellCommand } from './command-policy.js';
import { jobSpecFor } from './job-limits.js';
import { checkTarget } from './target-binding.js';
import { filesAudit, jobFilesFor, withFiles } from './job-files.js';
import { accessFor } from './keyring.js';
import type { Logger } from '../logger.js';
import type { AgentMetrics } from '../metrics.js';
import { namedCommandRequest } from '../wire/named-command-request.js';
import { parseSignedJob, type JobPayload } from '../wire/payload.js';
import { verifyJobSignature } from '../wire/signing.js';

/** Where a submission came from. */
export interface RequestOrigin {
  readonly remoteAddr: string | null;
  /** Names (CN and SANs) of a verified client certificate, or null without mTLS. */
  readonly tlsIdentities: ReadonlySet<string> | null;
  readonly requestId: string;
  /** The job must name this agent in candidate_metadata.target_agent (every job through the broker). */
  readonly requireTarget?: boolean;
  /**
   * Delivered from the offline inbox (SPEC §10): it waited while this agent was away, so its
   * age is bounded by its own TTL (and max_ttl_seconds), not by max_job_age_seconds.
   */
  readonly queued?: boolean;
}

/** Dependencies of the intake. */
export interface IntakeDeps {
  readonly config: () => AgentConfig;
  readonly clock: Clock;
  readonly manager: JobManager;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  readonly docker: DockerHealth;
  readonly logger: Logger;
}

/** What the client gets on acceptance. */
export interface Accepted {
  readonly job_id: string;
  readonly status: 'pending';
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The job intake pipeline. */
export class Intake {
  constructor(private readonly d: IntakeDeps) {}

  /** Check and accept one submission body (size and content type were checked by the HTTP layer). */
  submit(body: Buffer, origin: RequestOrigin): Accepted {
    let payload: JobPayload | null = null;
    let signed = false;
    try {
      const job = parseSignedJob(decodeUtf8(body));
      payload = job.payload;
      const call = namedCommandRequest(payload.candidateMetadata);
      const cfg = this.d.config();
      const access = accessFor(cfg, payload.controllerId);
      if (!verifyJobSignature(job, access.secrets)) {
        const why = access.source === 'none' ? `no secret is configured for controller ${JSON.stringify(payload.controllerId)}` : `signature does not match any ${access.source} secret of ${JSON.stringify(payload.controllerId)}`;
        throw new RejectionError('INVALID_SIGNATURE', 'signature verification failed', why);
      }
      signed = true;
      this.checkTimes(payload, cfg, origin.queued === true);
      checkTarget(payload, cfg.agent_name, origin.requireTarget === true);
      if (!access.allowed) {
        throw new RejectionError('CONTROLLER_NOT_ALLOWED', 'controller is not allowed to submit jobs', `controller ${JSON.stringify(payload.controllerId)} is not in allowed_controllers`);
      }
      if (origin.tlsIdentities !== null && !origin.tlsIdentities.has(payload.controllerId)) {
        throw new RejectionError('CONTROLLER_NOT_ALLOWED', 'controller does not match the client certificate', `client certificate names ${[...origin.tlsIdentities].join(',')} do not include ${payload.controllerId}`);
      }
      if (this.d.manager.get(payload.jobId) !== null || this.wasAccepted(payload.jobId)) {
        throw new RejectionError('DUPLICATE_JOB', `job id ${payload.jobId} was already accepted`);
      }
      const missing = (payload.requiredScopes ?? []).filter((s) => !access.scopes.has(s));
      if (missing.length > 0) {
        throw new RejectionError('INSUFFICIENT_SCOPES', `controller lacks required scopes: ${missing.join(', ')}`);
      }
      // SPEC §11, after the scopes: which command may run, then its parameters.
      const named = call === null ? null : checkNamedCall(cfg, access.scopes, call);
      if (call === null) checkShellCommand(cfg, access.scopes);
      const files = jobFilesFor(payload, cfg);
      const spec = withFiles(jobSpecFor(payload, cfg, named), files);
      if (!this.d.manager.isAccepting) throw new AgentError('SHUTTING_DOWN', 'agent is shutting down', { expose: true });
      this.d.manager.checkCapacity();
      if (!this.d.docker.up) throw new AgentError('DOCKER_UNAVAILABLE', 'container engine unavailable; retry later', { expose: true });
      this.d.manager.accept({
        jobId: payload.jobId,
        controllerId: payload.controllerId,
        spec,
        inputs: files.inputs,
        remoteAddr: origin.remoteAddr,
        auditDetails: {
          ...filesAudit(files),
          command: payload.command,
          prompt: payload.prompt,
          required_scopes: payload.requiredScopes ?? [],
          ttl: payload.ttl,
          timestamp: payload.timestamp,
          env_keys: Object.keys(spec.env),
          request_id: origin.requestId,
          ...(named === null ? {} : { named_command: { name: named.name, params: named.params, sha256: named.sha256 }, argv: named.argv }),
        },
      });
      return { job_id: payload.jobId, status: 'pending' };
    } catch (e) {
      const known = asAgentError(e);
      const err = known !== null && known.code === 'AUDIT_UNAVAILABLE' && !known.expose
        ? new AgentError('AUDIT_UNAVAILABLE', 'audit log unavailable: new jobs are refused until it can be written', { expose: true, cause: e, headers: { 'Retry-After': '5' } })
        : e;
      this.rejected(err, origin, payload, signed);
      throw err;
    }
  }

  /** Record a rejection that happened before the body was parsed (size, content type). */
  rejectedEarly(e: unknown, origin: RequestOrigin): void {
    this.rejected(e, origin, null, false);
  }

  private wasAccepted(jobId: string): boolean {
    return this.d.manager.wasAccepted(jobId);
  }

  private checkTimes(p: JobPayload, cfg: AgentConfig, queued: boolean): void {
    const now = nowSeconds(this.d.clock);
    if (p.ttl < now) throw new RejectionError('JOB_EXPIRED', 'job ttl has passed', `ttl ${p.ttl} < now ${now}`);
    if (!queued && now - p.timestamp > cfg.max_job_age_seconds) {
      throw new RejectionError('JOB_TOO_OLD', 'job timestamp is too old', `age ${now - p.timestamp}s > max_job_age_seconds ${cfg.max_job_age_seconds}`);
    }
    if (p.timestamp - now > cfg.max_clock_skew_seconds) {
      throw new RejectionError('JOB_FROM_FUTURE', 'job timestamp is in the future', `timestamp ${p.timestamp} is ${p.timestamp - now}s ahead; max_clock_skew_seconds ${cfg.max_clock_skew_seconds}`);
    }
    if (p.ttl - p.timestamp > cfg.max_ttl_seconds) {
      throw new RejectionError('TTL_TOO_LONG', 'job ttl is too far after its timestamp', `ttl - timestamp = ${p.ttl - p.timestamp}s > max_ttl_seconds ${cfg.max_ttl_seconds}`);
    }
  }

  private rejected(e: unknown, origin: RequestOrigin, payload: JobPayload | null, signed: boolean): void {
    const known = asAgentError(e);
    if (known === null) return;
    this.d.metrics.jobsRejected.inc({ code: known.code });
    if (known.code === 'AUDIT_UNAVAILABLE') {
      this.d.logger.error({ request_id: origin.requestId, err: known.cause }, 'job refused: the audit log cannot be written');
      return;
    }
    const reason = known instanceof RejectionError ? known.reason : known.message;
    try {
      this.d.audit.appendBatched({
        type: 'job.rejected',
        jobId: payload?.jobId ?? null,
        controllerId: payload?.controllerId ?? null,
        remoteAddr: origin.remoteAddr,
        details: { code: known.code, reason, request_id: origin.requestId },
        // Unsigned or forged: a stranger's, coalesced per address and minute past a burst.
        stranger: !signed,
      });
    } catch (auditErr) {
      this.d.logger.error({ err: auditErr, code: known.code }, 'could not audit a rejection');
    }
    // Anyone can send unsigned or forged bodies: one info line each would let a flood drown
    // the journal (whose rate limit then drops real lines). Those are audited and counted;
    // only refusals of correctly signed jobs, which an operator must act on, log at info.
    this.d.logger[signed ? 'info' : 'debug']({ request_id: origin.requestId, code: known.code, reason, job_id: payload?.jobId, controller_id: payload?.controllerId, remote_addr: origin.remoteAddr }, 'job rejected');
  }
}

function decodeUtf8(body: Buffer): string {
  if (body.length === 0) throw new RejectionError('INVALID_JSON', 'request body is empty');
  try {
    return decoder.decode(body);
  } catch {
    throw new RejectionError('INVALID_JSON', 'request body is not valid UTF-8');
  }
}
