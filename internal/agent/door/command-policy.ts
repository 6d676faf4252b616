/**
 * Command policies at the door (SPEC §11): whether a controller may run a shell command
 * (`shell: allow | scoped | deny`), and the checks of a named-command call in their order
 * — unknown command → 403 COMMAND_NOT_ALLOWED, a missing command scope → 403
 * INSUFFICIENT_SCOPES, a bad parameter → 400 INVALID_PARAMETER — plus the list a
 * controller sees on `GET /api/v1/commands`. Both transports (HTTPS, broker) and the
 * scheduler call these same functions.
 */
import type { AgentConfig } from '../config/config.js';
import { SHELL_SCOPE } from '../config/commands-schema.js';
import { RejectionError } from '../errors.js';
import { accessFor } from './keyring.js';
import type { Principal } from './request-auth.js';
import { describeRule, type ParamDef } from './command-params.js';
import { findCommand, resolveCall, type NamedCommand, type ResolvedCall } from './named-command.js';
import type { NamedCommandRequest } from '../wire/named-command-request.js';

type PolicyConfig = Pick<AgentConfig, 'shell' | 'commands'>;

export { findCommand } from './named-command.js';

/** True when a controller holding `scopes` may submit shell commands. */
export function shellPermitted(cfg: PolicyConfig, scopes: ReadonlySet<string>): boolean {
  switch (cfg.shell) {
    case 'allow':
      return true;
    case 'scoped':
      return scopes.has(SHELL_SCOPE);
    case 'deny':
      return false;
  }
}

/** Throws 403 COMMAND_NOT_ALLOWED when `shell` does not let this controller run a shell command. */
export function checkShellCommand(cfg: PolicyConfig, scopes: ReadonlySet<string>): void {
  if (shellPermitted(cfg, scopes)) return;
  const reason = cfg.shell === 'deny' ? 'shell is deny: only named commands run on this agent' : `shell is scoped: the controller lacks scope "${SHELL_SCOPE}"`;
  throw new RejectionError('COMMAND_NOT_ALLOWED', 'shell commands are not allowed for this controller; call a named command', reason);
}

/** Scopes of `cmd` that `scopes` lacks. */
function missingScopes(cmd: NamedCommand, scopes: ReadonlySet<string>): string[] {
  return cmd.definition.scopes.filter((s) => !scopes.has(s));
}

/**
 * Check a named-command call by a controller holding `scopes` and resolve its argv; throws
 * RejectionError COMMAND_NOT_ALLOWED, INSUFFICIENT_SCOPES or INVALID_PARAMETER, in that order.
 */
export function checkNamedCall(cfg: PolicyConfig, scopes: ReadonlySet<string>, req: NamedCommandRequest): ResolvedCall {
  const cmd = findCommand(cfg, req.name);
  if (cmd === undefined) {
    const shown = JSON.stringify(req.name.length > 64 ? `${req.name.slice(0, 64)}…` : req.name);
    throw new RejectionError('COMMAND_NOT_ALLOWED', `command ${shown} is not offered by this agent`);
  }
  const missing = missingScopes(cmd, scopes);
  if (missing.length > 0) throw new RejectionError('INSUFFICIENT_SCOPES', `command ${cmd.definition.name} needs scopes the controller lacks: ${missing.join(', ')}`);
  return resolveCall(cmd, req.params);
}

/**
 * The scopes of a proven caller of a read route: the union over the controller ids it
 * proved that may submit (several only under mTLS, a certificate's CN and SANs); null for
 * an open principal (no signature, `require_read_auth: false`), who is nobody in particular.
 */
export function scopesOfPrincipal(cfg: AgentConfig, p: Principal): ReadonlySet<string> | null {
  if (p.open) return null;
  const scopes = new Set<string>();
  for (const id of p.ids) {
    const a = accessFor(cfg, id);
    if (a.allowed) for (const s of a.scopes) scopes.add(s);
  }
  return scopes;
}

/** One parameter as `GET /api/v1/commands` shows it: the definition plus its rule in words. */
export type ListedParam = ParamDef & { readonly rule: string };

/** One command as `GET /api/v1/commands` shows it. */
export interface ListedCommand {
  readonly name: string;
  readonly description: string;
  readonly params: Readonly<Record<string, ListedParam>>;
  readonly scopes: readonly string[];
  readonly sha256: string;
}

/** The answer of `GET /api/v1/commands`. */
export interface CommandList {
  readonly commands: readonly ListedCommand[];
  /** Whether this controller may submit shell commands. */
  readonly shell: boolean;
}

/** What a controller holding `scopes` may run: the commands whose scopes it holds all of, and the shell. */
export function commandListFor(cfg: PolicyConfig, scopes: ReadonlySet<string>): CommandList {
  const commands = cfg.commands
    .filter((c) => missingScopes(c, scopes).length === 0)
    .map((c): ListedCommand => {
      const d = c.definition;
      const params: Record<string, ListedParam> = {};
      for (const [k, p] of Object.entries(d.params)) params[k] = { ...p, rule: describeRule(p) };
      return { name: d.name, description: d.description, params, scopes: d.scopes, sha256: c.sha256 };
    });
  return { commands, shell: shellPermitted(cfg, scopes) };
}
