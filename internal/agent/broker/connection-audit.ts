/**
 * Broker connections in the audit log (`broker.connected`): the agent's first connection
 * after start always, then each reconnect (the client's own, subscriptions kept) or fresh
 * connection (after the client gave up), at most one row a minute so a flapping broker
 * cannot grow the log without bound; reconnects left without a row are counted in the
 * next one. The row names the server and the agent's broker identity, never a secret.
 */
import type { AuditLog } from '../../audit/audit-log.js';
import type { Logger } from '../logger.js';

/** Reconnect rows at most this often. */
export const RECONNECT_AUDIT_INTERVAL_MS = 60_000;

/** How a connection came up. */
export type ConnectionKind = 'first' | 'fresh' | 'reconnect';

/** Dependencies. */
export interface ConnectionAuditDeps {
  readonly audit: Pick<AuditLog, 'append'>;
  readonly nowMs: () => number;
  readonly logger: Logger;
}

/** Writes `broker.connected` rows. */
export class ConnectionAudit {
  private seen = false;
  private lastRowMs = Number.NEGATIVE_INFINITY;
  private unaudited = 0;

  constructor(private readonly d: ConnectionAuditDeps) {}

  /** A connection to `server` is up (`fresh`: a new connection, else the client reconnected). */
  connected(server: string, fresh: boolean, agentName: string, url: string): void {
    const kind: ConnectionKind = !this.seen ? 'first' : fresh ? 'fresh' : 'reconnect';
    this.seen = true;
    const now = this.d.nowMs();
    if (kind !== 'first' && now - this.lastRowMs < RECONNECT_AUDIT_INTERVAL_MS) {
      this.unaudited++;
      return;
    }
    try {
      this.d.audit.append({ type: 'broker.connected', remoteAddr: server, details: { connection: kind, agent_name: agentName, broker_url: url, unaudited_reconnects: this.unaudited } });
      this.lastRowMs = now;
      this.unaudited = 0;
    } catch (e) {
      // The audit's own health (503 AUDIT_UNAVAILABLE for new jobs) covers a failed write;
      // the connection itself is not refused for it.
      this.unaudited++;
      this.d.logger.error({ err: e, connection: kind }, 'could not audit the broker connection');
    }
  }
}
