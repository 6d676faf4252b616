/**
 * Minting broker credentials (`quickcmd broker add-agent NAME` / `add-controller ID`): a
 * fresh NATS user nkey, its seed written 0600 for the agent or controller to read, and the
 * matching nats-server user block with the permissions of that identity.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { AGENT_NAME_PATTERN } from '../config/broker-schema.js';
import { agentPermissions, controllerPermissions, userBlock } from './broker-permissions.js';
import { BROKER_CONTROLLER_ID } from './subjects.js';

/** A minted identity. */
export interface MintedCredentials {
  /** `agent` or `controller`. */
  readonly role: 'agent' | 'controller';
  readonly name: string;
  /** The user's public nkey (U…), the only part the server config holds. */
  readonly publicKey: string;
  /** The seed (SU…): the secret. */
  readonly seed: string;
  /** nats-server user block for `authorization.users`. */
  readonly block: string;
}

/** Mint credentials for an agent or a controller; throws Error on an invalid name. */
export function mintCredentials(role: 'agent' | 'controller', name: string): MintedCredentials {
  if (role === 'agent' && !AGENT_NAME_PATTERN.test(name)) throw new Error(`agent name ${JSON.stringify(name)} must match [a-z0-9][a-z0-9-]{0,62}`);
  if (role === 'controller' && !BROKER_CONTROLLER_ID.test(name)) throw new Error(`controller id ${JSON.stringify(name)} must be letters, digits, "_" or "-" (one broker subject token)`);
  const kp = createUser();
  const publicKey = kp.getPublicKey();
  const seed = Buffer.from(kp.getSeed()).toString('utf8');
  const perms = role === 'agent' ? agentPermissions(name) : controllerPermissions(name);
  return { role, name, publicKey, seed, block: userBlock(publicKey, perms, `${role} ${name}`) };
}

/** Write the seed to `dir/<role>-<name>.nk` (0600, never overwriting); returns the path. */
export function writeSeed(dir: string, c: MintedCredentials): string {
  const file = path.join(dir, `${c.role}-${c.name}.nk`);
  fs.writeFileSync(file, `${c.seed}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}
