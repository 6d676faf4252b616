/**
 * NATS connection options from the agent's `broker:` block: verified TLS (the broker's CA,
 * an optional client certificate), credentials from files (nkey seed, creds file, or user
 * and password), and no reconnect policy of the client's own: BrokerConnection owns it.
 */
import fs from 'node:fs';
import type { Authenticator, NodeConnectionOptions } from '@nats-io/transport-node';
import type { BrokerConfig } from '../config/broker-schema.js';
import { ConfigError } from '../errors.js';
import { natsClient } from './nats-client.js';

function read(key: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new ConfigError(`broker.${key}`, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** The authenticator for `b`, or undefined when the broker needs none. */
export function brokerAuthenticator(b: BrokerConfig): Authenticator | undefined {
  if (b.nkey_seed_file !== undefined) {
    const seed = read('nkey_seed_file', b.nkey_seed_file).toString('utf8').trim();
    return natsClient().nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (b.creds_file !== undefined) return natsClient().credsAuthenticator(new Uint8Array(read('creds_file', b.creds_file)));
  if (b.user !== undefined && b.password_file !== undefined) {
    return natsClient().usernamePasswordAuthenticator(b.user, read('password_file', b.password_file).toString('utf8').replace(/\r?\n$/, ''));
  }
  return undefined;
}

/** Connection options (files are read now, so a rotated file is picked up on the next connection). */
export function brokerConnectOptions(b: BrokerConfig, name: string, inboxPrefix?: string): NodeConnectionOptions {
  const scheme = b.url.slice(0, b.url.indexOf(':'));
  const hostPort = b.url.replace(/^[a-z]+:\/\//, '').replace(/\/$/, '');
  const tls = scheme === 'tls'
    ? {
        ...(b.ca_file !== undefined ? { ca: read('ca_file', b.ca_file).toString('utf8') } : {}),
        ...(b.cert_file !== undefined ? { cert: read('cert_file', b.cert_file).toString('utf8') } : {}),
        ...(b.key_file !== undefined ? { key: read('key_file', b.key_file).toString('utf8') } : {}),
        rejectUnauthorized: !b.insecure,
      }
    : null;
  const authenticator = brokerAuthenticator(b);
  return {
    servers: hostPort,
    name,
    ...(inboxPrefix !== undefined ? { inboxPrefix } : {}),
    tls,
    ...(authenticator !== undefined ? { authenticator } : {}),
    // The client's own reconnects (same connection, subscriptions kept) with our jitter;
    // when it gives up ('close'), BrokerConnection opens a fresh connection.
    reconnect: true,
    maxReconnectAttempts: -1,
    timeout: 10_000,
    pingInterval: 20_000,
    maxPingOut: 2,
    ignoreAuthErrorAbort: true,
  };
}
