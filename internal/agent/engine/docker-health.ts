/**
 * Tracks whether the Docker engine answers: polled (faster while down), exported as the
 * `quickcmd_agent_docker_up` gauge, consulted by the intake (503 DOCKER_UNAVAILABLE) and
 * the job manager (no new starts while down; recovery when it returns).
 */
import type { Sandbox } from '../../sandbox/sandbox.js';
import { RetryTimer } from '../../shared/retry.js';
import type { Logger } from '../logger.js';
import type { AgentMetrics } from '../metrics.js';

/** Health monitor of the container engine. */
/** Longest wait for one engine ping. */
const PING_TIMEOUT_MS = 2000;

export class DockerHealth {
  private state = true;
  private readonly poll = new RetryTimer();
  private polling = false;
  private readonly listeners = new Set<(up: boolean) => void>();
  private checking: Promise<boolean> | null = null;
  private checkedAt = 0;

  constructor(
    private readonly sandbox: Sandbox,
    private readonly metrics: AgentMetrics,
    private readonly logger: Logger,
    private readonly intervals = { upMs: 10_000, downMs: 1_000 },
  ) {
    metrics.dockerUp.set(1);
  }

  /** Last known state. */
  get up(): boolean {
    return this.state;
  }

  /** Ping now (coalescing concurrent calls) and update the state. */
  check(): Promise<boolean> {
    if (this.checking === null) {
      // Bounded: an engine that accepts the connection but never answers is down.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), PING_TIMEOUT_MS);
        timer.unref();
      });
      this.checking = Promise.race([this.sandbox.ping().catch(() => false), bound])
        .finally(() => clearTimeout(timer))
        .then((ok) => {
          this.checking = null;
          this.checkedAt = Date.now();
          this.set(ok);
          return ok;
        });
    }
    return this.checking;
  }

  /** The state, pinging only when the last answer is older than `maxAgeMs` (cheap under load). */
  async recent(maxAgeMs: number): Promise<boolean> {
    const age = Date.now() - this.checkedAt;
    if (age > maxAgeMs) return this.check();
    // Refresh ahead of expiry, so a steady poller (a load balancer, /health under a flood)
    // is answered from a state never older than maxAgeMs without waiting for a ping itself.
    if (age > maxAgeMs / 2) void this.check();
    return this.state;
  }

  /** Mark the engine down (e.g. a start failed with DOCKER_UNAVAILABLE) and poll faster. */
  markDown(): void {
    this.set(false);
  }

  /** Call `fn` on every change. */
  onChange(fn: (up: boolean) => void): void {
    this.listeners.add(fn);
  }

  /** Start polling. */
  start(): void {
    if (this.polling) return;
    this.polling = true;
    const tick = (): void => {
      void this.check().then(() => {
        if (this.polling) this.poll.schedule(this.state ? this.intervals.upMs : this.intervals.downMs, tick);
      });
    };
    this.poll.schedule(0, tick);
  }

  /** Stop polling. Idempotent. */
  close(): void {
    this.polling = false;
    this.poll.cancel();
  }

  private set(up: boolean): void {
    if (up === this.state) return;
    this.state = up;
    this.metrics.dockerUp.set(up ? 1 : 0);
    if (up) this.logger.info('docker engine is reachable again');
    else this.logger.error('docker engine is unreachable');
    for (const fn of this.listeners) fn(up);
  }
}
