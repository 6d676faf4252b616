/**
 * createAgent: the one place the agent's objects are built and wired. Everything that
 * holds a resource is closed here, in reverse order; shutdown is graceful (stop
 * accepting, drain jobs) then forced.
 */
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type Dockerode from 'dockerode';
import Koa from 'koa';
import type { AuditLog } from '../audit/audit-log.js';
import { SqliteAuditLog } from '../audit/audit-store.js';
import type { Db } from '../audit/database.js';
import { WalCheckpointer } from '../audit/wal-checkpointer.js';
import { openAgentDatabase } from './agent-database.js';
import { dockerClient } from '../sandbox/docker-client.js';
import { DockerSandbox } from '../sandbox/docker-sandbox.js';
import { WarmPoolSandbox } from '../sandbox/warm-pool.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { systemClock, systemTimers, type Clock, type Timers } from './clock.js';
import { buildScheduler } from './jobs/schedule-sink.js';
import type { Scheduler } from './jobs/scheduler.js';
import type { AgentConfig } from './config/config.js';
import { DockerHealth } from './engine/docker-health.js';
import { errorMiddleware } from './http/http-errors.js';
import { Intake } from './door/intake.js';
import { JobManager } from './jobs/job-manager.js';
import { JobStore } from './jobs/job-store.js';
import { listJobs } from './jobs/job-list.js';
import { createStreamServer, type StreamServer } from './stream/log-stream.js';
import { createLogger, type Logger } from './logger.js';
import { AgentMetrics } from './metrics.js';
import { OutputHub } from './stream/output-hub.js';
import { reconcileJobs } from './jobs/recovery.js';
import { RequestAuth } from './door/request-auth.js';
import { buildRouter } from './http/routes.js';
import { frontDoor } from './http/front-door.js';
import { applyConnectionLimits, closeServer, createServer, listen, reloadTls, type AgentServer } from './http/server.js';
import { BodyBudget } from './http/body-budget.js';
import { AGENT_VERSION } from './version.js';
import { logBoundFor } from '../sandbox/container-options.js';
import { chooseRuntime } from '../sandbox/runtimes.js';
import { checkEngineRuntimes } from './engine/runtime-check.js';
import { createBrokerTransport, type BrokerTransport, type BrokerTransportDeps } from './broker/broker-transport.js';
import { routeDispatcher } from './http/route-dispatch.js';

/** Keys that only take effect on restart; a reload keeps their old values. */
const RESTART_KEYS = ['port', 'bind_address', 'insecure_http', 'tls_client_ca_file', 'audit_db_path', 'run_as_user', 'run_as_group', 'log_level', 'warm_pool_size', 'agent_name', 'listen', 'broker', 'heartbeat_seconds', 'audit_stranger_burst', 'tls_handshake_timeout_seconds'] as const;

/** Optional dependencies (tests and benchmarks pass their own). */
export interface AgentDeps {
  readonly docker?: Dockerode;
  readonly sandbox?: Sandbox;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Period of the reconciler and retention pruning (default 60 s). */
  readonly maintenanceMs?: number;
  /** Keep-alive ping period of live-log followers (default 30 s). */
  readonly streamPingIntervalMs?: number;
  /** One-shot timers of the scheduler (tests pass a fake clock's). */
  readonly timers?: Timers;
  /** Wrap the audit log (fault-injection tests: an audit that fails on a chosen write). */
  readonly wrapAudit?: (real: AuditLog) => AuditLog;
  /** Timings and the crash-point seam of the offline-inbox consumer (tests). */
  readonly inbox?: BrokerTransportDeps['inbox'];
}

/** A built agent. */
export interface Agent {
  readonly app: Koa;
  readonly server: AgentServer;
  readonly manager: JobManager;
  readonly metrics: AgentMetrics;
  readonly audit: AuditLog;
  readonly agentId: string;
  readonly db: Db;
  /** The schedule loop (SPEC §13). */
  readonly scheduler: Scheduler;
  /** The config in force. */
  config(): AgentConfig;
  /** Listen, recover jobs from a previous run, start maintenance. */
  start(): Promise<AddressInfo>;
  /** Swap in a validated config (SIGHUP), all or nothing: throws ConfigError (nothing changed) if its TLS files cannot be read. */
  reload(next: AgentConfig): void;
  /** Throws ConfigError naming an allowed runtime the engine does not list (SPEC §14); call before reload. */
  verifyRuntimes(next: AgentConfig): Promise<void>;
  /** Graceful stop: refuse new jobs, let running ones finish within the grace period, then stop them. */
  shutdown(): Promise<void>;
  /** Release everything at once (jobs keep running in Docker and are re-adopted on the next start). Idempotent. */
  close(): Promise<void>;
}

/** Build an agent from a validated config. */
export function createAgent(initial: AgentConfig, deps: AgentDeps = {}): Agent {
  let current = initial;
  const config = (): AgentConfig => current;
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger(initial.log_level);
  const db = openAgentDatabase(initial.audit_db_path);
  const checkpointer = new WalCheckpointer(db, initial.audit_db_path, { warn: (msg) => logger.warn(msg) });
  const store = new JobStore(db, (bytes) => checkpointer.noteWritten(bytes));
  const realAudit = new SqliteAuditLog({ db, clock: { now: () => new Date(clock.nowMs()) }, strangerBurst: initial.audit_stranger_burst });
  const audit: AuditLog = deps.wrapAudit?.(realAudit) ?? realAudit;
  const agentId = store.meta('agent_id', () => `qa-${crypto.randomUUID()}`);
  const engine = deps.docker ?? dockerClient();
  const logMaxBytes = logBoundFor(initial.max_output_bytes);
  const cold = deps.sandbox ?? new DockerSandbox({ docker: engine, logger, logMaxBytes });
  // Opt-in warm pool of the default profile (never around an injected sandbox).
  const pool = deps.sandbox === undefined && initial.warm_pool_size > 0
    ? new WarmPoolSandbox({ docker: engine, cold, size: initial.warm_pool_size, logMaxBytes, logger, template: () => ({ agentId, image: current.default_image, cpuLimit: current.default_cpu_limit, memoryLimit: current.default_memory_limit, pidsLimit: current.default_pids_limit, tmpfsSizeBytes: current.tmpfs_size_bytes, sandboxUser: current.sandbox_user, runtime: chooseRuntime(null, current.default_image, current) }) })
    : null;
  const sandbox: Sandbox = pool ?? cold;
  const metrics = new AgentMetrics(AGENT_VERSION);
  metrics.watchAuditBacklog(() => audit.backlog());
  const docker = new DockerHealth(sandbox, metrics, logger);
  const hub = new OutputHub();
  const manager = new JobManager({ store, sandbox, audit, hub, metrics, clock, logger, docker, agentId, config });
  const intake = new Intake({ config, clock, manager, audit, metrics, docker, logger });
  const scheduler = buildScheduler({ db, clock, timers: deps.timers ?? systemTimers, manager, hub, docker, config, audit, registry: metrics.registry, logger, agentId });
  const auth = new RequestAuth({ config, clock, audit, logger });

  const app = new Koa();
  app.proxy = false;
  app.silent = true;
  app.use(async (ctx, next) => {
    ctx.state['requestId'] = crypto.randomUUID();
    ctx.set('X-Request-Id', String(ctx.state['requestId']));
    await next();
  });
  app.use(errorMiddleware(logger));
  const brokerState = (): 'ok' | 'down' | null => broker?.state() ?? null;
  const bodies = new BodyBudget(() => current.max_inflight_body_bytes);
  const router = buildRouter({ config, clock, intake, auth, manager, docker, audit, metrics, bodies, listJobs: (f) => listJobs(db, f), schedules: () => scheduler.view(), store, broker: brokerState, files: store.files });
  app.use(router.routes());
  const broker: BrokerTransport | null = initial.broker === undefined
    ? null
    : createBrokerTransport({ config, clock, dispatch: routeDispatcher(app), rejectedEarly: (e, origin) => intake.rejectedEarly(e, origin), manager, store, hub, audit, metrics, logger, inbox: deps.inbox });
  // Submissions and /health are answered ahead of Koa (the routes a flood hits); the rest by Koa.
  const server = createServer(initial, frontDoor({ config, intake, manager, clock, docker, audit, logger, broker: brokerState, bodies }, app.callback()));
  const streams: StreamServer = createStreamServer({ config, clock, auth, manager, store, hub, metrics, logger, pingIntervalMs: deps.streamPingIntervalMs, audit });
  server.on('upgrade', (req, socket, head) => streams.handleUpgrade(req, socket, head));

  let maintenance: NodeJS.Timeout | null = null;
  let closed: Promise<void> | null = null;
  const maintain = async (): Promise<void> => {
    try {
      if (docker.up) await reconcileJobs({ sandbox, agentId, manager, store, logger });
    } catch (e) {
      logger.warn({ err: e }, 'reconciliation failed; will retry');
    }
    try {
      const pruned = store.prune(clock.nowMs() - current.job_retention_seconds * 1000);
      if (pruned > 0) logger.info({ pruned }, 'pruned finished jobs past retention');
    } catch (e) {
      logger.warn({ err: e }, 'pruning failed');
    }
  };
  docker.onChange((up) => {
    if (up) void maintain();
  });

  const agent: Agent = {
    app,
    server,
    manager,
    metrics,
    audit,
    agentId,
    db,
    scheduler,
    config,
    async start() {
      // Before listening: a runtime the engine lacks is a config error (exit 2), not a job failure later.
      // The first ping goes with it, so the first /health after listen has a fresh answer.
      const [engine] = await Promise.all([checkEngineRuntimes(sandbox, current), docker.check()]);
      if (engine.kind === 'engine-down') logger.warn({ allowed_runtimes: current.allowed_runtimes, error: engine.error }, 'cannot ask the Docker engine for its runtimes; each container is still checked after create');
      // listen: false serves the broker only: no socket is bound at all.
      const addr: AddressInfo = current.listen ? await listen(server, current) : { address: 'none', family: 'none', port: 0 };
      docker.start();
      await maintain();
      pool?.fill();
      manager.enqueuePending();
      scheduler.start(current.schedules);
      maintenance = setInterval(() => void maintain(), deps.maintenanceMs ?? 60_000);
      maintenance.unref();
      audit.append({ type: 'agent.started', details: { version: AGENT_VERSION, agent_id: agentId, address: `${addr.address}:${addr.port}`, tls: !current.insecure_http, mtls: current.tls_client_ca_file !== undefined } });
      // After agent.started, so the broker.connected row of the first connection follows it.
      broker?.start();
      if (current.insecure_http) logger.warn('insecure_http is set: plain HTTP, for development only');
      logger.info({ address: addr.address, port: addr.port, agent_id: agentId, agent_name: current.agent_name, broker: current.broker?.url ?? null }, 'agent listening');
      return addr;
    },
    async verifyRuntimes(next) {
      const engine = await checkEngineRuntimes(sandbox, next);
      if (engine.kind === 'engine-down') logger.warn({ allowed_runtimes: next.allowed_runtimes, error: engine.error }, 'cannot ask the Docker engine for its runtimes; reloading anyway (each container is still checked after create)');
    },
    reload(next) {
      const kept: Partial<Record<(typeof RESTART_KEYS)[number], unknown>> = {};
      const changed = Object.keys(next).filter((k) => k !== 'controller_keys' && k !== 'shared_secret' && JSON.stringify((next as Record<string, unknown>)[k]) !== JSON.stringify((current as Record<string, unknown>)[k]));
      for (const k of RESTART_KEYS) {
        if (JSON.stringify(next[k]) !== JSON.stringify(current[k])) logger.warn({ key: k }, 'this key changes only on restart; keeping the old value');
        kept[k] = current[k];
      }
      const candidate = Object.freeze({ ...next, ...kept }) as AgentConfig;
      // All or nothing: certificates that cannot be read refuse the whole reload (ConfigError
      // naming the key) before anything is swapped, so no controller loses access half-way.
      reloadTls(server, candidate);
      current = candidate;
      applyConnectionLimits(server, current);
      audit.append({ type: 'config.reloaded', details: { source_path: next.source_path, changed_keys: changed, controllers: [...next.controller_keys.keys()] } });
      logger.info({ changed_keys: changed }, 'configuration reloaded');
      manager.pump();
      scheduler.replace(current.schedules);
    },
    async shutdown() {
      scheduler.close();
      manager.stopAccepting();
      logger.info({ grace_seconds: current.shutdown_grace_seconds }, 'shutting down: draining running jobs');
      await manager.shutdown(current.shutdown_grace_seconds);
      try {
        audit.append({ type: 'agent.stopped', details: { agent_id: agentId, reason: 'shutdown' } });
      } catch (e) {
        logger.error({ err: e }, 'could not audit agent.stopped');
      }
      await agent.close();
    },
    close() {
      if (closed === null) {
        closed = (async () => {
          scheduler.close();
          if (maintenance !== null) clearInterval(maintenance);
          manager.abandon();
          docker.close();
          streams.close();
          await broker?.close();
          await closeServer(server);
          await sandbox.close();
          try {
            audit.close();
          } catch (e) {
            logger.error({ err: e, backlog: audit.backlog() }, 'could not write the last queued audit events');
          }
          await checkpointer.close();
          db.close();
        })();
      }
      return closed;
    },
  };
  return agent;
}
