/**
 * Config keys of the fleet (SPEC §10): the agent's name and labels, whether it listens at
 * all, and the NATS broker it dials out to. Spread into the main schema; the defaults
 * (no broker, listening) keep an agent exactly as it was without them.
 */
import os from 'node:os';
import { z } from 'zod';

import { AGENT_NAME_PATTERN } from '../broker/subjects.js';

export { AGENT_NAME_PATTERN };
/** Label keys and values. */
export const LABEL_PATTERN = /^[A-Za-z0-9._-]{1,63}$/;

/** The host name made into a valid agent name (lower-cased; other characters become `-`). */
export function defaultAgentName(host: string = os.hostname()): string {
  const cleaned = host.toLowerCase().split('.')[0]?.replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 63) ?? '';
  return AGENT_NAME_PATTERN.test(cleaned) ? cleaned : 'agent';
}

/** The `broker:` block. */
export const brokerSchema = z.strictObject({
  /** `tls://host:4222` (verified), or `nats://` only with `insecure: true`; `wss://`/`ws://` parse but are refused at load (the client is TCP only). */
  url: z.string().regex(/^(tls|nats|wss|ws):\/\/[^\s/]+\/?$/, 'must be tls://host:port (or nats:// with insecure: true)'),
  /** PEM CA bundle that verifies the broker's certificate. */
  ca_file: z.string().min(1).optional(),
  /** PEM client certificate for the broker (optional). */
  cert_file: z.string().min(1).optional(),
  /** PEM client key for the broker (optional). */
  key_file: z.string().min(1).optional(),
  /** File holding the agent's NATS nkey seed (SU…). */
  nkey_seed_file: z.string().min(1).optional(),
  /** A NATS .creds file (JWT and seed). */
  creds_file: z.string().min(1).optional(),
  /** User name for user/password authentication. */
  user: z.string().min(1).optional(),
  /** File holding the password of `user`. */
  password_file: z.string().min(1).optional(),
  /** Development only: plain nats:// and no verification; warns at start. */
  insecure: z.boolean().default(false),
});

/** The fleet keys of the agent config file. */
export const fleetConfigKeys = {
  /** The agent's name in subjects, discovery and fan-out (default: the host name). */
  agent_name: z.string().regex(AGENT_NAME_PATTERN, 'must match [a-z0-9][a-z0-9-]{0,62}').default(() => defaultAgentName()),
  /** Labels for selectors (`quickcmd run --selector k=v`). */
  labels: z.record(z.string().regex(LABEL_PATTERN, 'label keys must match [A-Za-z0-9._-]{1,63}'), z.string().regex(LABEL_PATTERN, 'label values must match [A-Za-z0-9._-]{1,63}')).default({}),
  /** false: no HTTPS listener at all (dial-out only through the broker). */
  listen: z.boolean().default(true),
  /** The NATS broker to dial out to (absent: HTTPS only). */
  broker: brokerSchema.optional(),
  /** Seconds between heartbeats on `quickcmd.v1.<agent>.hb`. */
  heartbeat_seconds: z.number().int().positive().max(3600).default(15),
};

/** The `broker:` block as parsed. */
export type BrokerConfig = z.infer<typeof brokerSchema>;
