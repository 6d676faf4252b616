/**
 * SPEC §14 fail-closed check of the engine: every runtime in `allowed_runtimes` must be
 * listed by `docker info`, at start (else exit 2) and before a reload is applied (else the
 * old config stays). The per-container check after create (docker-sandbox.ts) is what keeps
 * a job from ever running under another runtime; this one tells the operator at once.
 */
import type { Sandbox } from '../../sandbox/sandbox.js';
import { missingRuntimes, type RuntimeName } from '../../sandbox/runtimes.js';
import { ConfigError } from '../errors.js';

/** What the check needs from the config. */
export interface RuntimeConfig {
  readonly allowed_runtimes: readonly RuntimeName[];
}

/** How the check ended when it did not throw. */
export type RuntimeCheck = { readonly kind: 'ok'; readonly listed: readonly string[] } | { readonly kind: 'engine-down'; readonly error: string };

/**
 * Throws ConfigError(`allowed_runtimes`) naming each allowed runtime the engine does not list.
 * An engine that does not answer cannot be asked: that is reported, not thrown (the agent
 * starts with the engine down as before, and every container's runtime is still checked).
 */
export async function checkEngineRuntimes(sandbox: Pick<Sandbox, 'runtimes'>, cfg: RuntimeConfig): Promise<RuntimeCheck> {
  let listed: string[];
  try {
    listed = await sandbox.runtimes();
  } catch (e) {
    return { kind: 'engine-down', error: e instanceof Error ? e.message : String(e) };
  }
  const missing = missingRuntimes(cfg.allowed_runtimes, listed);
  if (missing.length > 0) {
    throw new ConfigError(
      'allowed_runtimes',
      `runtime ${missing.join(', ')} is not registered with the Docker engine (it lists ${listed.join(', ') || 'none'}); register it in /etc/docker/daemon.json (scripts/docker-up.sh does for runsc) or remove it from allowed_runtimes`,
    );
  }
  return { kind: 'ok', listed };
}
