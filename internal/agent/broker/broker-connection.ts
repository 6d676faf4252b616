/**
 * The agent's connection to the broker, kept forever: the first connection and every
 * fresh one after the client gave up ('close') are retried with jittered backoff capped
 * at 20 s; the client's own reconnects (subscriptions kept) use the same delays. Up/down
 * is reported to the caller and counted (`quickcmd_agent_broker_up`,
 * `quickcmd_agent_broker_reconnects_total`). Running jobs never wait on any of it.
 */
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from '../logger.js';
import type { AgentMetrics } from '../metrics.js';
import { backoffMs } from './backoff.js';
import { natsClient } from './nats-client.js';

/** What the connection tells its owner. */
export interface BrokerConnectionHooks {
  /** A connection is usable; `fresh` when it is a new one (subscribe again), else the client reconnected. */
  up(nc: NatsConnection, fresh: boolean): void;
  /** The connection was lost (the client is reconnecting, or a fresh one will be opened). */
  down(): void;
}

/** Dependencies. */
export interface BrokerConnectionDeps {
  /** Options of each new connection (files are re-read every time). */
  readonly options: () => NodeConnectionOptions;
  readonly hooks: BrokerConnectionHooks;
  readonly metrics: Pick<AgentMetrics, 'brokerUp' | 'brokerReconnects'>;
  readonly logger: Logger;
  /** The client's connect (tests of the retry policy pass their own). */
  readonly connect?: (o: NodeConnectionOptions) => Promise<NatsConnection>;
}

/** A broker connection that comes back by itself. */
export class BrokerConnection {
  private nc: NatsConnection | null = null;
  private isUp = false;
  private closed = false;
  private attempt = 0;
  private everUp = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly d: BrokerConnectionDeps) {}

  /** True while connected. */
  get up(): boolean {
    return this.isUp;
  }

  /** The live connection, or null. */
  get connection(): NatsConnection | null {
    return this.isUp ? this.nc : null;
  }

  /** Start connecting in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  private setUp(up: boolean): void {
    if (this.isUp === up) return;
    this.isUp = up;
    this.d.metrics.brokerUp.set(up ? 1 : 0);
    if (!up) this.d.hooks.down();
  }

  private async run(): Promise<void> {
    const connectFn = this.d.connect ?? ((o: NodeConnectionOptions) => natsClient().connect(o));
    while (!this.closed) {
      let nc: NatsConnection;
      try {
        nc = await connectFn({ ...this.d.options(), reconnectDelayHandler: () => backoffMs(this.attempt++) });
      } catch (e) {
        const wait = backoffMs(this.attempt++);
        this.d.logger.warn({ err: e instanceof Error ? e.message : String(e), retry_ms: wait }, 'broker unreachable; retrying');
        await this.sleep(wait);
        continue;
      }
      if (this.closed) {
        await nc.close().catch(() => undefined);
        return;
      }
      this.nc = nc;
      this.attempt = 0;
      if (this.everUp) this.d.metrics.brokerReconnects.inc();
      this.everUp = true;
      this.setUp(true);
      this.d.logger.info({ server: nc.getServer() }, 'broker connected');
      this.d.hooks.up(nc, true);
      void this.watch(nc);
      const err = await nc.closed();
      this.nc = null;
      this.setUp(false);
      if (this.closed) return;
      const wait = backoffMs(this.attempt++);
      this.d.logger.warn({ err: err instanceof Error ? err.message : undefined, retry_ms: wait }, 'broker connection closed; opening a fresh one');
      await this.sleep(wait);
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.d.logger.warn('broker connection lost; reconnecting');
          this.setUp(false);
          break;
        case 'reconnect':
          this.attempt = 0;
          this.d.metrics.brokerReconnects.inc();
          this.setUp(true);
          this.d.logger.info({ server: nc.getServer() }, 'broker reconnected');
          this.d.hooks.up(nc, false);
          break;
        case 'error':
        case 'slowConsumer':
          this.d.logger.warn({ status: s.type }, 'broker reported a problem');
          break;
        case 'reconnecting':
        case 'update':
        case 'ldm':
        case 'ping':
        case 'staleConnection':
        case 'forceReconnect':
        case 'close':
          break;
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      t.unref();
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Drain and close; no more reconnects. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const nc = this.nc;
    if (nc !== null && !nc.isClosed()) {
      await Promise.race([nc.drain().catch(() => nc.close()), new Promise((r) => setTimeout(r, 2000).unref())]);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
    this.setUp(false);
    // A connect in flight is closed by run() when it lands; do not wait for its timeout.
    await Promise.race([this.loop, new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
