/**
 * Cross-key rules of the fleet keys (SPEC §10), checked at load like every other rule:
 * `listen: false` needs a broker; plain `nats://` needs `broker.insecure`; one kind of
 * credential at most; credential files exist and are not readable by other users. Each
 * failure is a ConfigError naming the key (the agent exits 2).
 */
import { ConfigError } from '../errors.js';
import type { ConfigFile } from './config-schema.js';

/** The file-system view the checks need (the loader's own). */
export interface BrokerFileDeps {
  stat(path: string): { mode: number; isFile(): boolean };
}

/** Throw ConfigError unless the fleet keys of `cfg` are consistent. */
export function checkFleetKeys(cfg: ConfigFile, deps: BrokerFileDeps): void {
  const b = cfg.broker;
  if (!cfg.listen && b === undefined) throw new ConfigError('listen', 'false needs a broker: block (otherwise nothing can reach the agent)');
  if (b === undefined) return;
  const scheme = b.url.slice(0, b.url.indexOf(':'));
  // The Node client speaks NATS over TCP (TLS); WebSocket needs a transport not shipped here.
  if (scheme === 'wss' || scheme === 'ws') throw new ConfigError('broker.url', `${scheme}:// is not supported by this agent yet; use tls://host:port`);
  if (scheme === 'nats' && !b.insecure) throw new ConfigError('broker.url', `${scheme}:// is not encrypted; use tls://, or set broker.insecure: true for development`);
  const kinds = [b.nkey_seed_file, b.creds_file, b.user].filter((x) => x !== undefined).length;
  if (kinds > 1) throw new ConfigError('broker.nkey_seed_file', 'set only one of nkey_seed_file, creds_file, user');
  if (b.password_file !== undefined && b.user === undefined) throw new ConfigError('broker.password_file', 'needs broker.user');
  if (b.user !== undefined && b.password_file === undefined) throw new ConfigError('broker.user', 'needs broker.password_file');
  if ((b.cert_file === undefined) !== (b.key_file === undefined)) throw new ConfigError(b.cert_file === undefined ? 'broker.cert_file' : 'broker.key_file', 'a client certificate needs both cert_file and key_file');
  for (const key of ['nkey_seed_file', 'creds_file', 'password_file', 'key_file'] as const) {
    const file = b[key];
    if (file === undefined) continue;
    let st: { mode: number; isFile(): boolean };
    try {
      st = deps.stat(file);
    } catch (e) {
      throw new ConfigError(`broker.${key}`, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (!st.isFile()) throw new ConfigError(`broker.${key}`, `${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) throw new ConfigError(`broker.${key}`, `${file} is accessible by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  for (const key of ['ca_file', 'cert_file'] as const) {
    const file = b[key];
    if (file === undefined) continue;
    try {
      if (!deps.stat(file).isFile()) throw new Error('not a file');
    } catch (e) {
      throw new ConfigError(`broker.${key}`, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
}
