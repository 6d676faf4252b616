/**
 * The controller's connection to the broker: verified TLS with the broker's CA, the
 * controller's nkey seed or creds file, and reply inboxes under `_QC_INBOX.<controller
 * id>` (the only inbox its broker user may subscribe to, so replies are its alone).
 * A broker that cannot be reached is BROKER_UNREACHABLE (exit 125 for run).
 */
import type { Authenticator, NatsConnection } from '@nats-io/transport-node';
// Loaded on first use: `quickcmd run` against an HTTPS agent never pays for the NATS client.
import { natsClient } from '../agent/broker/nats-client.js';
import { BROKER_CONTROLLER_ID, controllerInboxPrefix } from '../agent/broker/subjects.js';
import { ControllerError } from './controller-error.js';

/** Where the broker is and how to authenticate to it. */
export interface BrokerSettings {
  /** tls://host:port (or nats://host:port with `insecure`). */
  readonly url: string;
  /** PEM CA that verifies the broker. */
  readonly ca?: Buffer;
  /** An nkey seed (SU…) or a .creds file's content. */
  readonly creds?: Buffer;
  /** Plain nats:// allowed (development only). */
  readonly insecure: boolean;
}

/** The authenticator for a seed or creds file. */
export function credsFrom(creds: Buffer): Authenticator {
  const text = creds.toString('utf8');
  if (text.includes('-----BEGIN NATS USER JWT-----')) return natsClient().credsAuthenticator(new Uint8Array(creds));
  return natsClient().nkeyAuthenticator(new TextEncoder().encode(text.trim()));
}

/** Connect as `controllerId`; throws ControllerError BROKER_UNREACHABLE. */
export async function connectBroker(s: BrokerSettings, controllerId: string, opts: { timeoutMs?: number } = {}): Promise<NatsConnection> {
  const scheme = s.url.includes('://') ? s.url.slice(0, s.url.indexOf(':')) : 'tls';
  if (scheme !== 'tls' && scheme !== 'nats') throw new ControllerError('broker', 'BROKER_UNREACHABLE', `broker URL ${s.url}: use tls://host:port`);
  if (scheme === 'nats' && !s.insecure) throw new ControllerError('broker', 'BROKER_UNREACHABLE', `broker URL ${s.url} is not encrypted; use tls:// (or --insecure for development)`);
  const hostPort = s.url.replace(/^[a-z]+:\/\//, '').replace(/\/$/, '');
  try {
    return await natsClient().connect({
      servers: hostPort,
      name: `quickcmd ${controllerId}`,
      tls: scheme === 'tls' ? { ...(s.ca !== undefined ? { ca: s.ca.toString('utf8') } : {}), rejectUnauthorized: !s.insecure } : null,
      ...(s.creds !== undefined ? { authenticator: credsFrom(s.creds) } : {}),
      ...(BROKER_CONTROLLER_ID.test(controllerId) ? { inboxPrefix: controllerInboxPrefix(controllerId) } : {}),
      timeout: opts.timeoutMs ?? 5000,
      maxReconnectAttempts: 10,
      reconnectTimeWait: 500,
    });
  } catch (e) {
    throw new ControllerError('broker', 'BROKER_UNREACHABLE', `cannot reach the broker at ${s.url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
