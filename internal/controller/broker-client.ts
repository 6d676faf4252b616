/**
 * BrokerAgentClient: one agent reached through the broker (SPEC §10). It is an
 * AgentClient over another RequestTransport, so every request AgentClient knows (status,
 * cancel, commands, job list, schedules, and any added later) goes through the broker
 * unchanged: the submission is the very body HTTPS would send, sealed for the agent's
 * submit subject; every other request is signed as over HTTPS and sealed for its rpc
 * subject. Only submit (bound to the agent by `target_agent`, frames subscribed first)
 * and follow (sealed live frames plus the gap filler) are its own. Answers open only with
 * this controller's key and its own reply subject; an unsealed answer is trusted only as
 * a refusal (the agent could not open the request, so it could not seal its answer).
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { inboxSubject, outSubject, rpcSubject, submitSubject } from '../agent/broker/subjects.js';
import { encodeJobBody, signRequest } from '../agent/wire/signing.js';
import { findQueued, queueSubmission } from './broker-inbox.js';
import { seal, SealError, unseal } from '../agent/wire/seal.js';
import { AgentClient, jobPath, type RequestTransport, type Submitted } from './client.js';
import { ControllerError } from './controller-error.js';
import { followOverBroker, FrameInbox } from './broker-follow.js';
import type { FollowOptions } from './follow.js';
import { buildPayload, newJobId, type RunSpec } from './job-request.js';
import type { HttpReply } from './transport.js';
import type { FinalFrame } from './wire.js';

/** Default time an agent has to answer one request. */
export const BROKER_REQUEST_TIMEOUT_MS = 30_000;

/** Who this side is. */
export interface BrokerIdentity {
  readonly controllerId: string;
  readonly secret: Buffer;
}

/** Requests to one agent as sealed broker messages. */
export class BrokerRequestTransport implements RequestTransport {
  constructor(
    private readonly nc: NatsConnection,
    private readonly agent: string,
    private readonly who: BrokerIdentity,
    private readonly opts: { timeoutMs?: number; now?: () => number } = {},
  ) {}

  request(method: string, pathWithQuery: string, o: { body?: string; contentType?: string; signed: boolean }): Promise<HttpReply> {
    const body = o.body ?? '';
    // The submission is signed inside its body; everything else carries the request signature.
    if (method === 'POST' && pathWithQuery === '/api/v1/jobs' && !o.signed) return this.send(submitSubject(this.agent), body);
    const ts = Math.floor((this.opts.now ?? Date.now)() / 1000);
    const headers = {
      'x-quickcmd-controller': this.who.controllerId,
      'x-quickcmd-timestamp': String(ts),
      'x-quickcmd-signature': signRequest(this.who.secret, method, pathWithQuery, ts, Buffer.from(body, 'utf8')),
      ...(o.contentType !== undefined ? { 'content-type': o.contentType } : {}),
    };
    return this.send(rpcSubject(this.agent), JSON.stringify({ method, path: pathWithQuery, body, headers }));
  }

  private async send(subject: string, plaintext: string): Promise<HttpReply> {
    const sealed = seal(this.who.secret, this.who.controllerId, { kind: 'messages' }, subject, plaintext);
    const max = this.nc.info?.max_payload ?? 1024 * 1024;
    if (sealed.length > max) throw new ControllerError(this.agent, 'REQUEST_TOO_LARGE', `request of ${sealed.length} bytes (sealed) exceeds the broker's max_payload of ${max}`);
    let msg;
    try {
      msg = await this.nc.request(subject, sealed, { timeout: this.opts.timeoutMs ?? BROKER_REQUEST_TIMEOUT_MS });
    } catch (e) {
      throw brokerError(this.agent, e);
    }
    try {
      return asReply(this.agent, unseal(msg.data, () => [this.who.secret], { kind: 'messages' }, msg.subject).plaintext.toString('utf8'));
    } catch (e) {
      if (!(e instanceof SealError)) throw e;
      return plainRefusal(this.agent, msg.data);
    }
  }

  /** Nothing to release: the connection belongs to the session. */
  close(): void {}
}

/** A job's frames subscription opened before its submission, so no frame is missed. */
interface Watch {
  readonly sub: Subscription;
  readonly inbox: FrameInbox;
}

/** Talks to one agent through the broker. */
export class BrokerAgentClient extends AgentClient {
  private readonly watches = new Map<string, Watch>();
  private readonly rpcTransport: BrokerRequestTransport;

  constructor(
    private readonly nc: NatsConnection,
    name: string,
    private readonly who: BrokerIdentity,
    opts: { timeoutMs?: number; now?: () => number } = {},
  ) {
    const transport = new BrokerRequestTransport(nc, name, who, opts);
    super({ name, url: new URL(`nats://${name}`), controllerId: who.controllerId, secret: who.secret, insecure: false }, opts, transport);
    this.rpcTransport = transport;
  }

  /** A signed rpc (for routes AgentClient has no method for). */
  rpc(method: string, pathWithQuery: string, body = ''): Promise<HttpReply> {
    return this.rpcTransport.request(method, pathWithQuery, { body, signed: true });
  }

  override async submit(spec: RunSpec, nowMs: number = Date.now()): Promise<Submitted> {
    const jobId = spec.jobId ?? newJobId();
    this.watch(jobId);
    try {
      return await super.submit({ ...spec, jobId, targetAgent: this.name }, nowMs);
    } catch (e) {
      this.unwatch(jobId);
      throw e;
    }
  }

  /**
   * Store the job in this agent's offline inbox (SPEC §10) instead of submitting it live:
   * the same signed body, sealed for the inbox subject. The frames subscription is opened
   * now, so a follow that starts later misses nothing the agent publishes.
   */
  async queue(spec: RunSpec, nowMs: number = Date.now()): Promise<Submitted> {
    const jobId = spec.jobId ?? newJobId();
    const payload = buildPayload({ ...spec, targetAgent: this.name }, this.who.controllerId, Math.floor(nowMs / 1000), jobId);
    const sealed = seal(this.who.secret, this.who.controllerId, { kind: 'messages' }, inboxSubject(this.name), encodeJobBody(payload, this.who.secret));
    this.watch(jobId);
    try {
      await queueSubmission(this.nc, this.name, jobId, sealed);
    } catch (e) {
      this.unwatch(jobId);
      throw e;
    }
    return { jobId, status: 'pending' };
  }

  /** True when `jobId` still waits, undelivered, in this agent's offline inbox. */
  isQueuedOffline(jobId: string): Promise<boolean> {
    return findQueued(this.nc, this.name, jobId);
  }

  override async follow(jobId: string, opts: FollowOptions): Promise<FinalFrame> {
    const w = this.watches.get(jobId) ?? this.watch(jobId);
    try {
      return await followOverBroker(w.inbox, (fromSeq) => this.rpc('GET', `${jobPath(jobId)}/frames?from_seq=${fromSeq}`), this.name, opts);
    } finally {
      this.unwatch(jobId);
    }
  }

  private watch(jobId: string): Watch {
    const inbox = new FrameInbox((data, subject) => unseal(data, () => [this.who.secret], { kind: 'frames', jobId }, subject).plaintext.toString('utf8'));
    const sub = this.nc.subscribe(outSubject(this.name, jobId), { callback: (err, msg) => (err === null ? inbox.push(msg.data, msg.subject) : inbox.fail()) });
    const w = { sub, inbox };
    this.watches.set(jobId, w);
    return w;
  }

  private unwatch(jobId: string): void {
    const w = this.watches.get(jobId);
    if (w === undefined) return;
    this.watches.delete(jobId);
    try {
      w.sub.unsubscribe();
    } catch {
      // The connection is already closed.
    }
  }

  override close(): void {
    for (const id of [...this.watches.keys()]) this.unwatch(id);
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
