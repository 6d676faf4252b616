/**
 * Live log frames over WebSocket (SPEC §6). Placeholder until the streaming issue lands:
 * upgrades are refused.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Clock } from './clock.js';
import type { AgentConfig } from './config.js';
import type { JobManager } from './job-manager.js';
import type { JobStore } from './job-store.js';
import type { Logger } from './logger.js';
import type { AgentMetrics } from './metrics.js';
import type { OutputHub } from './output-hub.js';
import type { RequestAuth } from './request-auth.js';

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
}

/** The WebSocket side of the agent. */
export interface StreamServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Close every follower (1001) and stop. Idempotent. */
  close(): void;
}

/** Build the stream server. */
export function createStreamServer(_d: StreamDeps): StreamServer {
  return {
    handleUpgrade(_req, socket) {
      socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    },
    close() {},
  };
}
