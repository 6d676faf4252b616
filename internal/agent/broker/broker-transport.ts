/**
 * The agent's broker transport (SPEC §10): dial out, subscribe to this agent's submit and
 * rpc subjects and to discovery, heartbeat, publish frames. A thin adapter: requests go to
 * the same route table as HTTPS through BrokerRequests; nothing here decides about a job.
 * A malformed message gets an error reply (none for discovery) and never an exception.
 * An offline-inbox consumer (issue 14) plugs in beside these handlers through `up`.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { AuditLog } from '../../audit/audit-log.js';
import { rfc3339, type Clock } from '../clock.js';
import type { AgentConfig } from '../config/config.js';
import type { RequestOrigin } from '../door/intake.js';
import type { JobManager } from '../jobs/job-manager.js';
import type { JobStore } from '../jobs/job-store.js';
import type { Logger } from '../logger.js';
import type { AgentMetrics } from '../metrics.js';
import type { OutputHub } from '../stream/output-hub.js';
import { AGENT_VERSION } from '../version.js';
import { BrokerConnection } from './broker-connection.js';
import { brokerConnectOptions } from './broker-options.js';
import { ConnectionAudit } from './connection-audit.js';
import { BrokerRequests, type BrokerMessage, type BrokerRouted, type BrokerRoutedReply } from './broker-requests.js';
import { FramePublisher } from './frame-publisher.js';
import { InboxConsumer, type InboxConsumerDeps } from './inbox-consumer.js';
import { DISCOVER_SUBJECT, agentInboxPrefix, type AgentPresence, heartbeatSubject, rpcSubject, submitSubject } from './subjects.js';

/** Requests handled at once; more get 429 until some finish. */
const MAX_IN_FLIGHT = 256;

/** Dependencies: the same objects the HTTPS side is built on. */
export interface BrokerTransportDeps {
  readonly config: () => AgentConfig;
  readonly clock: Clock;
  readonly dispatch: (r: BrokerRouted) => Promise<BrokerRoutedReply>;
  readonly rejectedEarly: (e: unknown, origin: RequestOrigin) => void;
  readonly manager: Pick<JobManager, 'running' | 'queued'>;
  readonly store: Pick<JobStore, 'get'>;
  readonly hub: Pick<OutputHub, 'subscribeAll'>;
  readonly audit: AuditLog;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  /** Timings and the crash-point seam of the offline-inbox consumer (tests). */
  readonly inbox?: Pick<InboxConsumerDeps, 'retryMs' | 'laterMs' | 'ackWaitMs' | 'beforeAck'>;
}

/** The agent's side of the broker. */
export interface BrokerTransport {
  /** `ok` while connected, else `down`. */
  state(): 'ok' | 'down';
  /** Start connecting (returns at once; the connection comes when the broker is there). */
  start(): void;
  /** Stop: drain and close the connection. Idempotent. */
  close(): Promise<void>;
}

/** Build the transport. */
export function createBrokerTransport(d: BrokerTransportDeps): BrokerTransport {
  const startedAt = rfc3339(d.clock.nowMs());
  const requests = new BrokerRequests({ config: d.config, dispatch: d.dispatch, audit: d.audit, rejectedEarly: d.rejectedEarly, logger: d.logger });
  let subs: Subscription[] = [];
  let heartbeat: NodeJS.Timeout | null = null;
  let inFlight = 0;
  let closed = false;

  const presence = (): AgentPresence => {
    const cfg = d.config();
    return { agent: cfg.agent_name, version: AGENT_VERSION, labels: cfg.labels, running: d.manager.running, queued: d.manager.queued, max_concurrent_jobs: cfg.max_concurrent_jobs, started_at: startedAt };
  };

  const serve = (nc: NatsConnection, handle: (m: BrokerMessage) => Promise<Buffer | null>) => (err: Error | null, msg: Msg): void => {
    if (err !== null) {
      d.logger.warn({ err: err.message }, 'broker subscription error');
      return;
    }
    const m: BrokerMessage = { subject: msg.subject, reply: msg.reply, data: msg.data };
    if (inFlight >= MAX_IN_FLIGHT) {
      if (msg.reply !== undefined) msg.respond(JSON.stringify({ status: 429, body: { error: 'too many broker requests at once; retry', code: 'QUEUE_FULL' } }));
      return;
    }
    inFlight++;
    handle(m)
      .then((reply) => {
        if (reply !== null && msg.reply !== undefined && !nc.isClosed()) msg.respond(reply);
      })
      .catch((e: unknown) => d.logger.error({ err: e }, 'broker request handler failed'))
      .finally(() => inFlight--);
  };

  const subscribe = (nc: NatsConnection): void => {
    for (const s of subs) {
      try {
        s.unsubscribe();
      } catch {
        // A subscription of a connection already closed is gone anyway.
      }
    }
    const name = d.config().agent_name;
    subs = [
      nc.subscribe(submitSubject(name), { callback: serve(nc, (m) => requests.submit(m)) }),
      nc.subscribe(rpcSubject(name), { callback: serve(nc, (m) => requests.rpc(m)) }),
      nc.subscribe(DISCOVER_SUBJECT, {
        callback: (err, msg) => {
          if (err === null && msg.reply !== undefined && msg.reply !== '') msg.respond(JSON.stringify(presence()));
        },
      }),
    ];
  };

  const beat = (): void => {
    const nc = connection.connection;
    if (nc === null) return;
    try {
      nc.publish(heartbeatSubject(d.config().agent_name), JSON.stringify(presence()));
    } catch (e) {
      d.logger.debug({ err: e }, 'heartbeat not published');
    }
  };

  const connections = new ConnectionAudit({ audit: d.audit, nowMs: () => d.clock.nowMs(), logger: d.logger });
  const inbox = new InboxConsumer({ ...d.inbox, agentName: () => d.config().agent_name, admit: (m) => requests.submitQueued(m), logger: d.logger });
  const connection: BrokerConnection = new BrokerConnection({
    options: () => brokerConnectOptions(d.config().broker ?? { url: 'nats://127.0.0.1:4222', insecure: false }, `quickcmd-agent ${d.config().agent_name}`, agentInboxPrefix(d.config().agent_name)),
    metrics: d.metrics,
    logger: d.logger,
    hooks: {
      up(nc, fresh) {
        if (fresh) subscribe(nc);
        connections.connected(nc.getServer(), fresh, d.config().agent_name, d.config().broker?.url ?? '');
        publisher.up();
        inbox.up(nc);
        beat();
      },
      down() {
        publisher.down();
        inbox.down();
      },
    },
  });
  const publisher = new FramePublisher({ config: d.config, hub: d.hub, store: d.store, connection: () => connection.connection, logger: d.logger, nowMs: () => d.clock.nowMs() });

  return {
    state: () => (connection.up ? 'ok' : 'down'),
    start() {
      if (closed) return;
      d.metrics.brokerUp.set(0);
      if (d.config().broker?.insecure === true) d.logger.warn('broker.insecure is set: the broker connection is not verified (development only)');
      connection.start();
      heartbeat = setInterval(beat, d.config().heartbeat_seconds * 1000);
      heartbeat.unref();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (heartbeat !== null) clearInterval(heartbeat);
      publisher.close();
      inbox.close();
      await connection.close();
    },
  };
}
