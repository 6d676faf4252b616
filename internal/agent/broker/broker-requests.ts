/**
 * Submit and rpc over the broker (SPEC §10), as a transport adapter only: open the seal,
 * hand the request to the same route table as HTTPS (routeDispatcher: the same door, job
 * manager, audit and metrics), seal the `{status, body}` answer for the reply subject.
 * What cannot be opened is refused like a bad signature (401 INVALID_SIGNATURE, audited
 * with the sender's broker identity) in a plain reply, since there is no key to seal it.
 */
import crypto from 'node:crypto';
import type { AuditLog } from '../../audit/audit-log.js';
import type { AgentConfig } from '../config/config.js';
import { accessFor } from '../door/keyring.js';
import type { RequestOrigin } from '../door/intake.js';
import { AgentError, RejectionError, statusFor, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { seal, SealError, unseal } from '../wire/seal.js';
import type { RoutedReply, RoutedRequest } from '../http/route-dispatch.js';
import { brokerIdentity } from './subjects.js';

/** A request for the route table, and its answer: the types of http/route-dispatch.ts. */
export type BrokerRouted = RoutedRequest;
export type BrokerRoutedReply = RoutedReply;

/** Dependencies of the request handlers. */
export interface BrokerRequestDeps {
  readonly config: () => AgentConfig;
  readonly dispatch: (r: BrokerRouted) => Promise<BrokerRoutedReply>;
  readonly audit: AuditLog;
  /** Records a submission refused before it reached the door (counted and audited like HTTPS's). */
  readonly rejectedEarly: (e: unknown, origin: RequestOrigin) => void;
  readonly logger: Logger;
}

/** One incoming broker request. */
export interface BrokerMessage {
  readonly subject: string;
  readonly reply: string | undefined;
  readonly data: Uint8Array;
}

/** Headers an rpc may carry into the route table; anything else is dropped. */
const RPC_HEADERS = ['x-quickcmd-controller', 'x-quickcmd-timestamp', 'x-quickcmd-signature', 'content-type', 'authorization'] as const;
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

function errorReply(e: AgentError): Buffer {
  return Buffer.from(JSON.stringify({ status: e.status, body: { error: e.expose ? e.message : 'internal error', code: e.code } }));
}

function plainError(code: ErrorCode, message: string): BrokerRoutedReply {
  return { status: statusFor(code), body: { error: message, code } };
}

/** Handles submit and rpc messages; returns the reply bytes (null: no reply subject, nothing to send). */
export class BrokerRequests {
  constructor(private readonly d: BrokerRequestDeps) {}

  /** Keys that may open a seal of `id`: only a controller allowed in (an unknown id has none). */
  private secretsOf(id: string): readonly Buffer[] {
    const a = accessFor(this.d.config(), id);
    return a.allowed ? a.secrets : [];
  }

  /** Largest request accepted: the sealed form of max_request_bytes. */
  private maxSealedBytes(): number {
    return Math.ceil((this.d.config().max_request_bytes * 4) / 3) + 1024;
  }

  /** `quickcmd.v1.<agent>.submit`: the sealed body of POST /api/v1/jobs. */
  async submit(m: BrokerMessage): Promise<Buffer | null> {
    const r = await this.admit(m, brokerIdentity(m.reply));
    return 'refused' in r ? r.refused : this.sealReply(m, r.opened, r.reply);
  }

  /**
   * A message of the offline inbox (`quickcmd.v1.<agent>.inbox`): the same submission
   * through the same door, sealed for the inbox subject; nobody waits for a reply, so the
   * answer is only its status (the consumer acks or leaves it for redelivery by it).
   */
  async submitQueued(m: Omit<BrokerMessage, 'reply'>): Promise<number> {
    const r = await this.admit({ ...m, reply: undefined }, 'nats:inbox', true);
    return 'refused' in r ? r.status : r.reply.status;
  }

  /** Open a sealed submission and hand it to the door; a refusal before the door is audited here. */
  private async admit(m: BrokerMessage, remoteAddr: string, queued = false): Promise<{ refused: Buffer; status: number } | { opened: { controllerId: string; secretIndex: number }; reply: BrokerRoutedReply }> {
    const requestId = crypto.randomUUID();
    const early: RequestOrigin = { remoteAddr, tlsIdentities: null, requestId };
    if (m.data.length > this.maxSealedBytes()) {
      const e = new RejectionError('REQUEST_TOO_LARGE', `request body exceeds ${this.d.config().max_request_bytes} bytes`, `sealed submission of ${m.data.length} bytes`);
      this.d.rejectedEarly(e, early);
      return { refused: errorReply(e), status: e.status };
    }
    let opened: { controllerId: string; plaintext: Buffer; secretIndex: number };
    try {
      opened = unseal(m.data, (id) => this.secretsOf(id), { kind: 'messages' }, m.subject);
    } catch (e) {
      const why = e instanceof SealError ? e.message : String(e);
      const err = new RejectionError('INVALID_SIGNATURE', 'signature verification failed', `broker submission: ${why}`);
      this.d.rejectedEarly(err, early);
      return { refused: errorReply(err), status: err.status };
    }
    const reply = await this.route({
      method: 'POST',
      path: '/api/v1/jobs',
      headers: { 'content-type': 'application/json' },
      body: opened.plaintext,
      origin: { remoteAddr, tlsIdentities: new Set([opened.controllerId]), requireTarget: true, queued },
    });
    return { opened, reply };
  }

  /** `quickcmd.v1.<agent>.rpc`: sealed `{"method","path","body","headers"}`, signed as over HTTPS. */
  async rpc(m: BrokerMessage): Promise<Buffer | null> {
    const remoteAddr = brokerIdentity(m.reply);
    if (m.data.length > this.maxSealedBytes()) return errorReply(new RejectionError('REQUEST_TOO_LARGE', `request body exceeds ${this.d.config().max_request_bytes} bytes`));
    let opened: { controllerId: string; plaintext: Buffer; secretIndex: number };
    try {
      opened = unseal(m.data, (id) => this.secretsOf(id), { kind: 'messages' }, m.subject);
    } catch (e) {
      this.auditUnauthenticated(remoteAddr, m, e instanceof SealError ? e.message : String(e));
      return errorReply(new RejectionError('INVALID_SIGNATURE', 'signature verification failed'));
    }
    const req = parseRpc(opened.plaintext);
    if (typeof req === 'string') return this.sealReply(m, opened, plainError('INVALID_PAYLOAD', req));
    // The seal alone proves the controller; the signature headers also bound replay in time.
    if (req.headers['x-quickcmd-controller'] !== opened.controllerId) {
      this.auditUnauthenticated(remoteAddr, m, 'rpc is not signed by the controller that sealed it');
      return this.sealReply(m, opened, plainError('UNAUTHENTICATED', 'request authentication failed'));
    }
    const reply = await this.route({ ...req, origin: { remoteAddr, tlsIdentities: new Set([opened.controllerId]), requireTarget: true } });
    return this.sealReply(m, opened, reply);
  }

  private async route(r: BrokerRouted): Promise<BrokerRoutedReply> {
    try {
      return await this.d.dispatch(r);
    } catch (e) {
      this.d.logger.error({ err: e }, 'broker request failed');
      return plainError('INTERNAL', 'internal error');
    }
  }

  private sealReply(m: BrokerMessage, opened: { controllerId: string; secretIndex: number }, reply: BrokerRoutedReply): Buffer | null {
    if (m.reply === undefined || m.reply === '') return null;
    const secret = this.secretsOf(opened.controllerId)[opened.secretIndex];
    if (secret === undefined) return errorReply(new RejectionError('INVALID_SIGNATURE', 'signature verification failed'));
    return seal(secret, opened.controllerId, { kind: 'messages' }, m.reply, JSON.stringify(reply));
  }

  private auditUnauthenticated(remoteAddr: string, m: BrokerMessage, reason: string): void {
    let controllerId: string | null = null;
    try {
      const raw = JSON.parse(Buffer.from(m.data).toString('utf8')) as Record<string, unknown>;
      if (typeof raw['controller_id'] === 'string') controllerId = raw['controller_id'].slice(0, 256);
    } catch {
      // Not even JSON: no controller to name.
    }
    try {
      this.d.audit.appendBatched({ type: 'request.unauthenticated', controllerId, remoteAddr, details: { method: 'RPC', path: m.subject, reason: `broker rpc: ${reason}`, request_id: crypto.randomUUID() } });
    } catch (e) {
      this.d.logger.error({ err: e }, 'could not audit an unauthenticated broker request');
    }
  }
}

/** Narrow an opened rpc into a routed request, or say what is wrong with it. */
function parseRpc(plaintext: Buffer): Omit<BrokerRouted, 'origin'> | string {
  let raw: unknown;
  try {
    raw = JSON.parse(plaintext.toString('utf8'));
  } catch {
    return 'rpc is not JSON';
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'rpc must be an object';
  const r = raw as Record<string, unknown>;
  const { method, path, body, headers } = r;
  if (typeof method !== 'string' || !METHODS.has(method)) return 'rpc.method must be GET, POST, PUT, PATCH or DELETE';
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > 4096) return 'rpc.path must be an absolute path';
  if (body !== undefined && typeof body !== 'string') return 'rpc.body must be a string';
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return 'rpc.headers must be an object';
  const h: Record<string, string> = {};
  for (const k of RPC_HEADERS) {
    const v = (headers as Record<string, unknown>)[k];
    if (typeof v === 'string') h[k] = v;
  }
  const bytes = Buffer.from(body ?? '', 'utf8');
  if (bytes.length > 0 && h['content-type'] === undefined) h['content-type'] = 'application/json';
  return { method, path, headers: h, body: bytes };
}
