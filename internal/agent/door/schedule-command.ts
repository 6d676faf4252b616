/**
 * A schedule's named command (SPEC §11, §13): resolved with §11's own rules — the command
 * must be defined and its parameters must pass their rules (defaults filled in). The
 * operator wrote both the schedule and the command, so the command's scopes are held.
 * Used at load (exit 2 naming the key) and at every fire (the definition in force then).
 */
import type { AgentConfig } from '../config/config.js';
import type { ScheduleConfig } from '../config/schedules-schema.js';
import { RejectionError } from '../errors.js';
import type { JobSpec } from '../jobs/job.js';
import { findCommand } from './command-policy.js';
import { namedJobSpec } from './job-limits.js';
import { resolveCall, type ResolvedCall } from './named-command.js';

type PolicyConfig = Pick<AgentConfig, 'shell' | 'commands'>;

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
export function scheduleCall(cfg: PolicyConfig, s: Pick<ScheduleConfig, 'command' | 'params'>): ResolvedCall {
  const cmd = findCommand(cfg, s.command);
  if (cmd === undefined) throw new ScheduleCommandError('command', `${JSON.stringify(s.command)} is not a named command of this agent (define it under commands)`);
  try {
    return resolveCall(cmd, s.params);
  } catch (e) {
    if (e instanceof RejectionError) throw new ScheduleCommandError('params', e.reason);
    throw e;
  }
}

/** The job spec and audit details of a fire under `cfg`; throws RejectionError (the scheduler audits it as skipped). */
export function scheduleSpec(s: ScheduleConfig, cfg: AgentConfig): { spec: JobSpec; details: Record<string, unknown> } {
  let call: ResolvedCall;
  try {
    call = scheduleCall(cfg, s);
  } catch (e) {
    if (e instanceof ScheduleCommandError) throw new RejectionError(e.key === 'command' ? 'COMMAND_NOT_ALLOWED' : 'INVALID_PARAMETER', e.message);
    throw e;
  }
  const spec = namedJobSpec(call, cfg);
  return { spec, details: { command: '', named_command: { name: call.name, params: call.params, sha256: call.sha256 }, argv: call.argv } };
}
