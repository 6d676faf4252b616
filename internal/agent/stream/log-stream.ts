/**
 * Live log frames over WebSocket (SPEC §6), served by `ws` on the agent's own TLS server.
 * The upgrade is a gate, passed in full before any WebSocket exists: route and
 * `from_seq`, browser Origin, signed request or mTLS identity (SPEC §3), then the job must
 * exist and belong to the caller. A refusal is an ordinary HTTP `{"error","code"}`
 * response written on the raw socket. Each accepted connection becomes a StreamFollower;
 * one timer pings them all and drops the ones that stopped answering.
 */
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Clock } from '../clock.js';
import type { AgentConfig } from '../config/config.js';
import { AgentError, asAgentError } from '../errors.js';
import type { JobManager } from '../jobs/job-manager.js';
import type { JobStore } from '../jobs/job-store.js';
import type { Logger } from '../logger.js';
import type { AgentMetrics } from '../metrics.js';
import type { OutputHub } from './output-hub.js';
import type { RequestAuth } from '../door/request-auth.js';
import { mayRead } from '../door/read-access.js';
import { DEFAULT_FOLLOWER_LIMITS, StreamFollower, type FollowerLimits } from './stream-follower.js';
import { FrameEncoder } from './stream-frame.js';
import { FollowerCaps } from './follower-caps.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { clip } from '../../audit/audit-clip.js';
import { refuseUpgrade } from './stream-refusal.js';
import { peerIdentities } from '../door/tls-identity.js';

/** Dependencies of the stream server. */
export interface StreamDeps {
  readonly config: () => AgentConfig;
  readonly clock: Clock;
  readonly auth: RequestAuth;
  readonly manager: JobManager;
  readonly store: JobStore;
  readonly hub: OutputHub;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  /** Keep-alive period; a follower that misses one ping is dropped at the next (default 30 s). */
  readonly pingIntervalMs?: number;
  /** Per-follower flow control (default: SPEC §6's 8 MiB). */
  readonly limits?: FollowerLimits;
  /** Where refused browser Origins are audited (none: logged only). */
  readonly audit?: AuditLog;
}

/** The WebSocket side of the agent. */
export interface StreamServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Close every follower (1001) and stop. Idempotent. */
  close(): void;
}

/** Default keep-alive period. */
export const DEFAULT_PING_INTERVAL_MS = 30_000;

/** Clients send nothing meaningful; anything larger than this closes the connection (1009). */
const MAX_CLIENT_MESSAGE_BYTES = 1024;

/** Followers that do not answer the 1001 close within this are cut. */
const SHUTDOWN_GRACE_MS = 1000;

const ROUTE = /^\/api\/v1\/stream\/([^/]+)$/;

/** What an upgrade asks for. */
export interface StreamTarget {
  readonly jobId: string;
  /** Resume after this frame (0: from the start). */
  readonly fromSeq: number;
}

/** Job id and from_seq of a stream URL; throws NOT_FOUND for another path, INVALID_PAYLOAD for a bad from_seq. */
export function parseStreamUrl(url: string): StreamTarget {
  const q = url.indexOf('?');
  const m = ROUTE.exec(q < 0 ? url : url.slice(0, q));
  if (m === null) throw new AgentError('NOT_FOUND', 'no such route');
  let jobId: string;
  try {
    jobId = decodeURIComponent(m[1] as string);
  } catch {
    throw new AgentError('JOB_NOT_FOUND', 'job not found');
  }
  const raw = q < 0 ? null : new URLSearchParams(url.slice(q + 1)).get('from_seq');
  if (raw !== null && !/^\d{1,15}$/.test(raw)) throw new AgentError('INVALID_PAYLOAD', 'from_seq must be a non-negative integer');
  return { jobId, fromSeq: raw === null ? 0 : Number(raw) };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Build the stream server. */
export function createStreamServer(d: StreamDeps): StreamServer {
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false });
  const followers = new Set<StreamFollower>();
  const caps = new FollowerCaps();
  const followerDeps = { store: d.store, hub: d.hub, clock: d.clock, encoder: new FrameEncoder(), logger: d.logger, limits: d.limits ?? DEFAULT_FOLLOWER_LIMITS };
  let closed = false;
  const heartbeat = setInterval(() => {
    for (const f of followers) f.heartbeat();
  }, d.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS);
  heartbeat.unref();

  /** Every check of the upgrade, in order; throws the AgentError to answer with. */
  const admit = (req: IncomingMessage, requestId: string): StreamTarget & { release: () => void } => {
    if (closed) throw new AgentError('SHUTTING_DOWN', 'agent is shutting down', { expose: true });
    const target = parseStreamUrl(req.url ?? '');
    const cfg = d.config();
    // A browser page on another site must not ride on the user's client certificate.
    const origin = headerValue(req, 'origin') ?? headerValue(req, 'sec-websocket-origin');
    if (origin !== undefined && !cfg.allowed_origins.includes(origin)) {
      d.logger.warn({ origin: origin.slice(0, 256), remote_addr: req.socket.remoteAddress, request_id: requestId }, 'stream upgrade refused: Origin not allowed');
      d.audit?.appendBatched({
        type: 'request.rejected',
        remoteAddr: req.socket.remoteAddress ?? null,
        details: { code: 'FORBIDDEN', reason: `Origin ${JSON.stringify(clip(origin, 256))} is not in allowed_origins`, path: (req.url ?? '').slice(0, 512), request_id: requestId },
        stranger: true,
      });
      throw new AgentError('FORBIDDEN', 'origin not allowed');
    }
    const mtls = cfg.tls_client_ca_file !== undefined;
    const principal = d.auth.authenticate({
      method: req.method ?? 'GET',
      pathWithQuery: req.url ?? '',
      headers: req.headers,
      body: Buffer.alloc(0),
      tlsIdentities: mtls ? peerIdentities(req.socket as TLSSocket) : null,
      remoteAddr: req.socket.remoteAddress ?? null,
      requestId,
    });
    const rec = d.manager.get(target.jobId);
    // Another controller's job is reported as absent: existence is not leaked.
    if (rec === null || !mayRead(principal, cfg, rec.controllerId)) throw new AgentError('JOB_NOT_FOUND', 'job not found');
    // Last check, before any replay: the follower caps.
    return { ...target, release: caps.reserve(target.jobId, cfg) };
  };

  const accept = (ws: WebSocket, target: StreamTarget): void => {
    if (closed) {
      ws.close(1001, 'agent shutting down');
      return;
    }
    d.metrics.streamClients.inc();
    let follower: StreamFollower | null = null;
    ws.once('close', () => {
      if (follower !== null) followers.delete(follower);
      d.metrics.streamClients.dec();
    });
    follower = new StreamFollower(ws, target.jobId, target.fromSeq, followerDeps);
    followers.add(follower);
  };

  return {
    handleUpgrade(req, socket, head) {
      // The socket has left the HTTP server; without a listener an error would crash the agent.
      socket.on('error', (e: Error) => d.logger.debug({ err: e }, 'stream upgrade socket error'));
      const requestId = crypto.randomUUID();
      let target: StreamTarget & { release: () => void };
      try {
        target = admit(req, requestId);
        socket.once('close', target.release);
      } catch (e) {
        const known = asAgentError(e);
        if (known === null || (known.status >= 500 && !known.expose)) d.logger.error({ err: e, request_id: requestId }, 'stream upgrade failed');
        refuseUpgrade(socket, e, requestId);
        return;
      }
      try {
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws, target));
      } catch (e) {
        d.logger.error({ err: e, request_id: requestId }, 'stream upgrade failed');
        socket.destroy();
      }
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      for (const f of followers) f.close(1001, 'agent shutting down');
      if (followers.size > 0) {
        setTimeout(() => {
          for (const f of followers) f.terminate();
        }, SHUTDOWN_GRACE_MS).unref();
      }
      wss.close();
    },
  };
}
