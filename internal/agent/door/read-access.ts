/**
 * Who may read a job (SPEC §13): its own controller, or a controller holding the scope
 * `jobs:read-all`, which sees every job (scheduled ones included) and may read their
 * status, frames and artifacts. Writes (cancel) stay with the owner (`mayAccess`).
 */
import type { AgentConfig } from '../config/config.js';
import { accessFor } from './keyring.js';
import { mayAccess, type Principal } from './request-auth.js';

/** The scope that lets a controller read every job on the agent. */
export const READ_ALL_SCOPE = 'jobs:read-all';

/** True when a proven identity of `p` holds `scope` (open reads hold none). */
export function holdsScope(p: Principal, cfg: AgentConfig, scope: string): boolean {
  if (p.open) return false;
  for (const id of p.ids) if (accessFor(cfg, id).scopes.has(scope)) return true;
  return false;
}

/** True when `p` may see every job (open reads, or the jobs:read-all scope). */
export function readsAll(p: Principal, cfg: AgentConfig): boolean {
  return p.open || holdsScope(p, cfg, READ_ALL_SCOPE);
}

/** True when `p` may read (status, frames, artifacts) a job of `controllerId`. */
export function mayRead(p: Principal, cfg: AgentConfig, controllerId: string): boolean {
  return mayAccess(p, controllerId) || holdsScope(p, cfg, READ_ALL_SCOPE);
}
