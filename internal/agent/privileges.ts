/**
 * Dropping root after the port is bound and the database is open (SPEC §2 run_as_user):
 * supplementary groups from the user's entries (so `docker` group membership keeps the
 * socket reachable), then gid, then uid — in that order, since after setuid nothing else
 * may change.
 */
import { ConfigError } from './errors.js';

/** The process calls needed (injectable for tests). */
export interface ProcessIds {
  getuid(): number;
  initgroups(user: string, group: string): void;
  setgid(group: string): void;
  setuid(user: string): void;
}

/** What happened. */
export type DropResult = 'not-root' | 'kept-root' | 'dropped';

/** Drop to `user`/`group` if running as root; `run_as_user: root` keeps root (development only). */
export function dropPrivileges(user: string, group: string, p: ProcessIds = process as unknown as ProcessIds): DropResult {
  if (typeof p.getuid !== 'function' || p.getuid() !== 0) return 'not-root';
  if (user === 'root') return 'kept-root';
  try {
    p.initgroups(user, group);
    p.setgid(group);
    p.setuid(user);
  } catch (e) {
    throw new ConfigError('run_as_user', `cannot switch to ${user}:${group} (${(e as Error).message}); create the user (scripts/setup-agent.sh does) or set run_as_user: root for development`);
  }
  return 'dropped';
}
