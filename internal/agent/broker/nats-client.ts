/**
 * The NATS client, loaded on first use. Importing it costs about 12 MiB of resident memory
 * (Node 20: RSS after `await import('@nats-io/transport-node')`), which an agent without a
 * `broker:` block must not pay. The package is CommonJS, so a require on first use keeps
 * every caller synchronous, as in internal/sandbox/docker-client.ts.
 */
import { createRequire } from 'node:module';
import type * as JetStream from '@nats-io/jetstream';
import type * as Nats from '@nats-io/transport-node';

const load = createRequire(import.meta.url);

/** The client module (loaded by the first call, cached by Node after). */
export function natsClient(): typeof Nats {
  return load('@nats-io/transport-node') as typeof Nats;
}

/** The JetStream client (the offline inbox), loaded by the first call like the client itself. */
export function jetStreamClient(): typeof JetStream {
  return load('@nats-io/jetstream') as typeof JetStream;
}
