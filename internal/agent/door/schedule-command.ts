/**
 * A schedule's named command at every fire (SPEC §11, §13): the call (schedule-call.ts,
 * also checked at load) made into the job spec under the definition in force then. The
 * operator wrote both the schedule and the command, so the command's scopes are held.
 */
import type { AgentConfig } from '../config/config.js';
import type { ScheduleConfig } from '../config/schedules-schema.js';
import { RejectionError } from '../errors.js';
import type { JobSpec } from '../jobs/job.js';
import { namedJobSpec } from './job-limits.js';
import type { ResolvedCall } from './named-command.js';
import { scheduleCall, ScheduleCommandError } from './schedule-call.js';

export { scheduleCall, ScheduleCommandError } from './schedule-call.js';

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
