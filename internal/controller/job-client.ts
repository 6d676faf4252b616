/**
 * What running a job needs from a connection to one agent, whichever transport carries it:
 * AgentClient (HTTPS) and BrokerAgentClient (NATS) both fit, so single runs, fan-out and
 * the job commands are one code path.
 */
import type { CancelReply, Submitted } from './client.js';
import type { FollowOptions } from './follow.js';
import type { ArtifactDownload } from './job-files.js';
import type { RunSpec } from './job-request.js';
import type { CommandList } from './named-commands.js';
import type { FinalFrame, JobStatusReply } from './wire.js';

/** One agent, reachable by some transport. */
export interface JobClient {
  /** Display name. */
  readonly name: string;
  submit(spec: RunSpec, nowMs?: number): Promise<Submitted>;
  status(jobId: string): Promise<JobStatusReply>;
  cancel(jobId: string): Promise<CancelReply>;
  follow(jobId: string, opts: FollowOptions): Promise<FinalFrame>;
  /** `GET /api/v1/commands` (named commands, SPEC §11). */
  commands(): Promise<CommandList>;
  /** One artifact of a finished job with its bytes (SPEC §12). */
  artifact(jobId: string, path: string): Promise<ArtifactDownload>;
  /** Release what it holds. Idempotent. */
  close(): void;
}
