/**
 * AgentClient: the controller library the CLI, tests and benchmarks share. Submits jobs
 * signed exactly as a Go controller signs them (encodeJobBody), and reads, cancels and
 * follows them with signed requests. Every failure is a ControllerError carrying the
 * agent's code.
 */
import { artifactPath, parseArtifactReply, type ArtifactDownload } from './job-files.js';
import { encodeJobBody } from '../agent/wire/signing.js';
import { ControllerError } from './controller-error.js';
import { followJob, type FollowOptions } from './follow.js';
import { parseJobList, type JobListReply } from './job-list.js';
import { parseScheduleList, type ScheduleListReply } from './schedules.js';
import { buildPayload, newJobId, type RunSpec } from './job-request.js';
import { parseCommandList, type CommandList } from './named-commands.js';
import { replyError, Transport, type AgentTarget, type HttpReply } from './transport.js';
import { parseStatusReply, type FinalFrame, type JobState, type JobStatusReply } from './wire.js';

/** What the agent said to a submission. */
export interface Submitted {
  readonly jobId: string;
  readonly status: JobState;
}

/** What the agent said to a cancel. */
export interface CancelReply {
  readonly jobId: string;
  /** Status right after the request (the job stops within a few seconds). */
  readonly status: string;
}

/** How requests reach the agent: HTTPS (Transport) or the broker (BrokerRequestTransport). */
export interface RequestTransport {
  request(method: string, pathWithQuery: string, opts: { body?: string; contentType?: string; signed: boolean }): Promise<HttpReply>;
  close(): void;
}

/** Talks to one agent. */
export class AgentClient {
  protected readonly transport: RequestTransport;

  constructor(
    readonly target: AgentTarget,
    opts: { timeoutMs?: number; now?: () => number } = {},
    transport?: RequestTransport,
  ) {
    this.transport = transport ?? new Transport(target, opts);
  }

  /** The agent's display name. */
  get name(): string {
    return this.target.name;
  }

  /** Submit a signed job; resolves with its id once the agent accepted it (202). */
  async submit(spec: RunSpec, nowMs: number = Date.now()): Promise<Submitted> {
    const jobId = spec.jobId ?? newJobId();
    const payload = buildPayload(spec, this.target.controllerId, Math.floor(nowMs / 1000), jobId);
    const body = encodeJobBody(payload, this.target.secret);
    const reply = await this.transport.request('POST', '/api/v1/jobs', { body, contentType: 'application/json', signed: false });
    if (reply.status !== 202) throw replyError(this.name, reply, 'job refused');
    return { jobId, status: 'pending' };
  }

  /** The job's status and, once it ended, its result. */
  async status(jobId: string): Promise<JobStatusReply> {
    const reply = await this.transport.request('GET', jobPath(jobId), { signed: true });
    if (reply.status !== 200) throw replyError(this.name, reply, `status of ${jobId}`);
    const parsed = parseStatusReply(reply.text);
    if (parsed === null) throw new ControllerError(this.name, 'BAD_RESPONSE', `status of ${jobId}: unexpected answer`, { status: reply.status });
    return parsed;
  }

  /** Ask the agent to stop a pending or running job (409 JOB_FINISHED when it already ended). */
  async cancel(jobId: string): Promise<CancelReply> {
    const reply = await this.transport.request('POST', `${jobPath(jobId)}/cancel`, { body: '', signed: true });
    if (reply.status !== 202 && reply.status !== 200) throw replyError(this.name, reply, `cancel of ${jobId}`);
    let status = 'unknown';
    try {
      const b: unknown = JSON.parse(reply.text);
      if (typeof b === 'object' && b !== null && typeof (b as Record<string, unknown>)['status'] === 'string') status = (b as Record<string, string>)['status'] as string;
    } catch {
      // The 202 is what matters.
    }
    return { jobId, status };
  }

  /** One artifact of a finished job (`?encoding=base64`), with its bytes. */
  async artifact(jobId: string, p: string): Promise<ArtifactDownload> {
    const reply = await this.transport.request('GET', artifactPath(jobId, p), { signed: true });
    if (reply.status !== 200) throw replyError(this.name, reply, `artifact ${p} of ${jobId}`);
    return parseArtifactReply(this.name, reply.text);
  }

  /** `GET /api/v1/commands`: the named commands this controller may run there, and whether it may use the shell. */
  async commands(): Promise<CommandList> {
    const reply = await this.transport.request('GET', '/api/v1/commands', { signed: true });
    if (reply.status !== 200) throw replyError(this.name, reply, 'command list');
    const parsed = parseCommandList(reply.text);
    if (parsed === null) throw new ControllerError(this.name, 'BAD_RESPONSE', 'command list: unexpected answer', { status: reply.status });
    return parsed;
  }

  /** `GET /api/v1/jobs` with a query built by jobListQuery (own jobs, or all with jobs:read-all). */
  async listJobs(query: string): Promise<JobListReply> {
    const reply = await this.transport.request('GET', `/api/v1/jobs${query}`, { signed: true });
    if (reply.status !== 200) throw replyError(this.name, reply, 'job list');
    const parsed = parseJobList(reply.text);
    if (parsed === null) throw new ControllerError(this.name, 'BAD_RESPONSE', 'job list: unexpected answer', { status: reply.status });
    return parsed;
  }

  /** `GET /api/v1/schedules` (needs scope jobs:read-all). */
  async schedules(): Promise<ScheduleListReply> {
    const reply = await this.transport.request('GET', '/api/v1/schedules', { signed: true });
    if (reply.status !== 200) throw replyError(this.name, reply, 'schedule list');
    const parsed = parseScheduleList(reply.text);
    if (parsed === null) throw new ControllerError(this.name, 'BAD_RESPONSE', 'schedule list: unexpected answer', { status: reply.status });
    return parsed;
  }

  /**
   * Follow a job's output live until it ends; resolves with the final frame. Reconnects
   * and resumes from the last frame seen when the connection drops; falls back to polling
   * the status route when the agent has no stream endpoint.
   */
  follow(jobId: string, opts: FollowOptions): Promise<FinalFrame> {
    if (!(this.transport instanceof Transport)) throw new ControllerError(this.name, 'STREAM_FAILED', 'this transport has no live stream');
    return followJob(this.transport, this, jobId, opts);
  }

  /** Release connections. Idempotent. */
  close(): void {
    this.transport.close();
  }
}

/** The status route of a job. */
export function jobPath(jobId: string): string {
  return `/api/v1/jobs/${encodeURIComponent(jobId)}`;
}
