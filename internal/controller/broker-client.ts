/**
 * BrokerAgentClient: one agent reached through the broker (SPEC §10), with the same
 * surface as AgentClient. Submissions are the very body HTTPS would send, sealed for the
 * agent's submit subject and bound to the agent by `target_agent`; status, cancel and
 * frames are signed requests sealed for its rpc subject. Answers open only with this
 * controller's key and its own reply subject; an unsealed answer is trusted only as a
 * refusal (the agent could not open the request, so it could not seal its answer).
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { outSubject, rpcSubject, submitSubject } from '../agent/broker/subjects.js';
import { encodeJobBody, signRequest } from '../agent/wire/signing.js';
import { seal, SealError, unseal } from '../agent/wire/seal.js';
import { jobPath, type CancelReply, type Submitted } from './client.js';
import { ControllerError } from './controller-error.js';
import { followOverBroker, FrameInbox } from './broker-follow.js';
import type { FollowOptions } from './follow.js';
import type { JobClient } from './job-client.js';
import { parseCommandList, type CommandList } from './named-commands.js';
import { parseJobList, type JobListReply } from './job-list.js';
import { buildPayload, newJobId, type RunSpec } from './job-request.js';
import { replyError, type HttpReply } from './transport.js';
import { parseStatusReply, type FinalFrame, type JobStatusReply } from './wire.js';

/** Default time an agent has to answer one request. */
export const BROKER_REQUEST_TIMEOUT_MS = 30_000;

/** Who this side is. */
export interface BrokerIdentity {
  readonly controllerId: string;
  readonly secret: Buffer;
}

/** A job's frames subscription opened before its submission, so no frame is missed. */
interface Pending {
  readonly sub: Subscription;
  readonly inbox: FrameInbox;
}

/** Talks to one agent through the broker. */
export class BrokerAgentClient implements JobClient {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly nc: NatsConnection,
    readonly name: string,
    private readonly who: BrokerIdentity,
    private readonly opts: { timeoutMs?: number; now?: () => number } = {},
  ) {}

  /** Send a sealed request and open the sealed answer into an HttpReply-like value. */
  private async request(subject: string, plaintext: Buffer | string): Promise<HttpReply> {
    const sealed = seal(this.who.secret, this.who.controllerId, { kind: 'messages' }, subject, plaintext);
    const max = this.nc.info?.max_payload ?? 1024 * 1024;
    if (sealed.length > max) throw new ControllerError(this.name, 'REQUEST_TOO_LARGE', `request of ${sealed.length} bytes (sealed) exceeds the broker's max_payload of ${max}`);
    let msg;
    try {
      msg = await this.nc.request(subject, sealed, { timeout: this.opts.timeoutMs ?? BROKER_REQUEST_TIMEOUT_MS });
    } catch (e) {
      throw brokerError(this.name, e);
    }
    let text: string;
    try {
      text = unseal(msg.data, () => [this.who.secret], { kind: 'messages' }, msg.subject).plaintext.toString('utf8');
    } catch (e) {
      if (!(e instanceof SealError)) throw e;
      return plainRefusal(this.name, msg.data);
    }
    return asReply(this.name, text);
  }

  /** A signed rpc (the same signature as the HTTPS request would carry). */
  rpc(method: string, pathWithQuery: string, body = ''): Promise<HttpReply> {
    const ts = Math.floor((this.opts.now ?? Date.now)() / 1000);
    const headers = {
      'x-quickcmd-controller': this.who.controllerId,
      'x-quickcmd-timestamp': String(ts),
      'x-quickcmd-signature': signRequest(this.who.secret, method, pathWithQuery, ts, Buffer.from(body, 'utf8')),
    };
    return this.request(rpcSubject(this.name), JSON.stringify({ method, path: pathWithQuery, body, headers }));
  }

  async submit(spec: RunSpec, nowMs: number = Date.now()): Promise<Submitted> {
    const jobId = spec.jobId ?? newJobId();
    const payload = buildPayload({ ...spec, targetAgent: this.name }, this.who.controllerId, Math.floor(nowMs / 1000), jobId);
    const body = encodeJobBody(payload, this.who.secret);
    this.watch(jobId);
    try {
      const reply = await this.request(submitSubject(this.name), body);
      if (reply.status !== 202) throw replyError(this.name, reply, 'job refused');
    } catch (e) {
      this.unwatch(jobId);
      throw e;
    }
    return { jobId, status: 'pending' };
  }

  async status(jobId: string): Promise<JobStatusReply> {
    const reply = await this.rpc('GET', jobPath(jobId));
    if (reply.status !== 200) throw replyError(this.name, reply, `status of ${jobId}`);
    const parsed = parseStatusReply(reply.text);
    if (parsed === null) throw new ControllerError(this.name, 'BAD_RESPONSE', `status of ${jobId}: unexpected answer`, { status: reply.status });
    return parsed;
  }

  async cancel(jobId: string): Promise<CancelReply> {
    const reply = await this.rpc('POST', `${jobPath(jobId)}/cancel`);
    if (reply.status !== 202 && reply.status !== 200) throw replyError(this.name, reply, `cancel of ${jobId}`);
    const b = JSON.parse(reply.text) as Record<string, unknown>;
    return { jobId, status: typeof b['status'] === 'string' ? b['status'] : 'unknown' };
  }

  /** `GET /api/v1/commands` through the broker. */
  async commands(): Promise<CommandList> {
    const reply = await this.rpc('GET', '/api/v1/commands');
    if (reply.status !== 200) throw replyError(this.name, reply, 'command list');
    const parsed = parseCommandList(reply.text);
    if (parsed === null) throw new ControllerError(this.name, 'BAD_RESPONSE', 'command list: unexpected answer', { status: reply.status });
    return parsed;
  }

  /** `GET /api/v1/jobs` through the broker. */
  async listJobs(query: string): Promise<JobListReply> {
    const reply = await this.rpc('GET', `/api/v1/jobs${query}`);
    if (reply.status !== 200) throw replyError(this.name, reply, 'job list');
    const parsed = parseJobList(reply.text);
    if (parsed === null) throw new ControllerError(this.name, 'BAD_RESPONSE', 'job list: unexpected answer', { status: reply.status });
    return parsed;
  }

  async follow(jobId: string, opts: FollowOptions): Promise<FinalFrame> {
    const p = this.pending.get(jobId) ?? this.watch(jobId);
    try {
      return await followOverBroker(p.inbox, (fromSeq) => this.rpc('GET', `${jobPath(jobId)}/frames?from_seq=${fromSeq}`), this.name, opts);
    } finally {
      this.unwatch(jobId);
    }
  }

  private watch(jobId: string): Pending {
    const subject = outSubject(this.name, jobId);
    const inbox = new FrameInbox((data, subj) => unseal(data, () => [this.who.secret], { kind: 'frames', jobId }, subj).plaintext.toString('utf8'));
    const sub = this.nc.subscribe(subject, { callback: (err, msg) => (err === null ? inbox.push(msg.data, msg.subject) : inbox.fail()) });
    const p = { sub, inbox };
    this.pending.set(jobId, p);
    return p;
  }

  private unwatch(jobId: string): void {
    const p = this.pending.get(jobId);
    if (p === undefined) return;
    this.pending.delete(jobId);
    try {
      p.sub.unsubscribe();
    } catch {
      // The connection is already closed.
    }
  }

  close(): void {
    for (const id of [...this.pending.keys()]) this.unwatch(id);
  }
}

function asReply(agent: string, text: string): HttpReply {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    throw new ControllerError(agent, 'BAD_RESPONSE', 'the agent answered something that is not JSON');
  }
  if (typeof r !== 'object' || r === null || typeof (r as Record<string, unknown>)['status'] !== 'number') throw new ControllerError(agent, 'BAD_RESPONSE', 'the agent answered without a status');
  const o = r as { status: number; body: unknown };
  return { status: o.status, headers: {}, text: typeof o.body === 'string' ? o.body : JSON.stringify(o.body ?? null) };
}

/** An unsealed answer counts only as a refusal (4xx/5xx); anything else is not to be trusted. */
function plainRefusal(agent: string, data: Uint8Array): HttpReply {
  const r = asReply(agent, Buffer.from(data).toString('utf8'));
  if (r.status < 400) throw new ControllerError(agent, 'BAD_RESPONSE', 'the agent answered without a seal');
  return r;
}

/** Map the client's request errors to controller codes. */
export function brokerError(agent: string, e: unknown): ControllerError {
  if (e instanceof ControllerError) return e;
  const name = e instanceof Error ? e.name : '';
  const msg = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error ? e.cause : undefined;
  const noResponders = (typeof (e as { isNoResponders?: unknown }).isNoResponders === 'function' && (e as { isNoResponders(): boolean }).isNoResponders()) || (cause instanceof Error && cause.name === 'NoRespondersError') || name === 'NoRespondersError';
  if (noResponders) return new ControllerError(agent, 'AGENT_OFFLINE', 'the agent is not connected to the broker', { cause: e });
  if (name === 'TimeoutError' || (cause instanceof Error && cause.name === 'TimeoutError')) return new ControllerError(agent, 'TIMEOUT', 'no answer through the broker in time', { cause: e });
  if (/max.?payload/i.test(msg)) return new ControllerError(agent, 'REQUEST_TOO_LARGE', msg, { cause: e });
  return new ControllerError(agent, 'BROKER_UNREACHABLE', `broker request failed: ${msg}`, { cause: e });
}
