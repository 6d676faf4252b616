/**
 * Which keys may verify a controller, and what it may do. A controller listed under
 * `controllers` verifies only with its own secrets (the shared secret cannot impersonate
 * it); any other id may use the shared secret, subject to `allowed_controllers`.
 */
import type { AgentConfig } from '../config/config.js';

/** How a controller authenticates. */
export interface ControllerAccess {
  /** Keys that may verify its signatures (empty: nothing can). */
  readonly secrets: readonly Buffer[];
  /** Scopes it holds (none with the shared secret). */
  readonly scopes: ReadonlySet<string>;
  /** 'controller' for own keys, 'shared' for the legacy secret, 'none' when neither applies. */
  readonly source: 'controller' | 'shared' | 'none';
  /** Whether it may submit jobs and read them. */
  readonly allowed: boolean;
}

const NO_SCOPES: ReadonlySet<string> = new Set();

/** Keys and rights of `controllerId` under `cfg`. */
export function accessFor(cfg: AgentConfig, controllerId: string): ControllerAccess {
  const own = cfg.controller_keys.get(controllerId);
  if (own !== undefined) return { secrets: own.secrets, scopes: own.scopes, source: 'controller', allowed: true };
  if (cfg.shared_secret !== null) {
    return { secrets: [cfg.shared_secret], scopes: NO_SCOPES, source: 'shared', allowed: cfg.allowed_controllers.includes(controllerId) };
  }
  return { secrets: [], scopes: NO_SCOPES, source: 'none', allowed: false };
}
