/**
 * A schedule's call of its named command (SPEC §11, §13), resolved with §11's own rules:
 * the command must be defined and its parameters must pass their rules (defaults filled
 * in). Needs nothing of the loaded config but its commands, so the config loader checks
 * every schedule with it at load (exit 2 naming the key) without importing the door.
 */
import { RejectionError } from '../errors.js';
import type { ScheduleConfig } from '../config/schedules-schema.js';
import { findCommand, resolveCall, type NamedCommand, type ResolvedCall } from './named-command.js';

/** Which key of the schedule is wrong, and why. */
export class ScheduleCommandError extends Error {
  constructor(
    readonly key: 'command' | 'params',
    message: string,
  ) {
    super(message);
    this.name = 'ScheduleCommandError';
  }
}

/** The call of a schedule's command; throws ScheduleCommandError. */
export function scheduleCall(cfg: { readonly commands: readonly NamedCommand[] }, s: Pick<ScheduleConfig, 'command' | 'params'>): ResolvedCall {
  const cmd = findCommand(cfg, s.command);
  if (cmd === undefined) throw new ScheduleCommandError('command', `${JSON.stringify(s.command)} is not a named command of this agent (define it under commands)`);
  try {
    return resolveCall(cmd, s.params);
  } catch (e) {
    if (e instanceof RejectionError) throw new ScheduleCommandError('params', e.reason);
    throw e;
  }
}
