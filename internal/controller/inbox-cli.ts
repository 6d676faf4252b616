/**
 * The CLI's offline inbox (SPEC §10, issue 14): `run|job submit --queue[=always]` stores
 * the sealed submission in the agent's JetStream inbox when the agent has no responders
 * (or always), `run` then waits until the agent has taken it (up to its TTL or --wait) and
 * follows it as usual; `job status` of a job still in the inbox says `queued-offline`;
 * `quickcmd broker init` creates the stream with its limits.
 *
 * QueueingClient is a JobClient like any other, so single runs and fan-out (--agents,
 * --group) go through the same runSingleOn / runFanOutOn with the same output and exit codes.
 */
import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_INBOX_LIMITS } from '../agent/broker/inbox-stream.js';
import type { BrokerAgentClient } from './broker-client.js';
import { ensureInboxStream } from './broker-inbox.js';
import type { CancelReply, Submitted } from './client.js';
import { ControllerError, SettingsError } from './controller-error.js';
import type { FollowOptions } from './follow.js';
import type { JobClient } from './job-client.js';
import type { ArtifactDownload } from './job-files.js';
import { newJobId, type RunSpec } from './job-request.js';
import type { CommandList } from './named-commands.js';
import type { FinalFrame, JobStatusReply } from './wire.js';

/** `--queue` (offline: only when the agent has no responders) or `--queue=always`. */
export type QueueMode = 'offline' | 'always';

/** Validity of a queued job when --ttl is not given: an hour (the agents' default max_ttl_seconds). */
export const QUEUE_TTL_SECONDS = 3600;

/** Parse the value of --queue. */
export function parseQueueMode(v: string | boolean | undefined): QueueMode | null {
  if (v === undefined || v === false) return null;
  if (v === true || v === 'offline') return 'offline';
  if (v === 'always') return 'always';
  throw new SettingsError(`--queue=${String(v)}: use --queue or --queue=always`);
}

/** A duration flag (`--ttl`, `--wait`): whole seconds such as 90, 90s, 15m or 2h. */
export function durationSeconds(flag: string): (v: string) => number {
  return (v) => {
    const m = /^(\d+)\s*([smh]?)$/.exec(v.trim());
    const n = m === null ? NaN : Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600 }[m[2] ?? ''] ?? NaN);
    if (!Number.isSafeInteger(n) || n <= 0) throw new SettingsError(`${flag} ${JSON.stringify(v)}: expected whole seconds such as 90, 90s, 15m or 2h`);
    return n;
  };
}

/** The `run` / `job submit` flags of the inbox. */
export interface QueueFlags {
  readonly queue?: string | boolean;
  readonly wait?: number;
  readonly ttl?: number;
}

/** Add --queue, --ttl (and for run --wait) to a command. */
export function withQueue(cmd: Command, arg: (parse: (v: string) => number) => (v: string) => number, run: boolean): Command {
  cmd
    .option('--queue [when]', 'through the broker: if the agent is offline (or --queue=always), store the job in its offline inbox; it runs when the agent connects, never after its TTL')
    .option('--ttl <duration>', `how long the job stays valid (default 300 s; ${QUEUE_TTL_SECONDS} s with --queue)`, arg(durationSeconds('--ttl')));
  if (run) cmd.option('--wait <duration>', 'with --queue: wait at most this long for the agent to take the job (default: up to its TTL)', arg(durationSeconds('--wait')));
  return cmd;
}

/** How a QueueingClient behaves. */
export interface QueueOptions {
  readonly mode: QueueMode;
  /** Wait for the agent to take the job before submit() returns (`run`), else return at once. */
  readonly waitForDelivery: boolean;
  /** Longest wait (--wait), null: up to the job's TTL. */
  readonly waitMs: number | null;
  /** Where "queued" notes go (stderr). */
  readonly note: (line: string) => void;
  readonly pollMs?: number;
}

/** A broker client whose submissions fall back to (or always use) the offline inbox. */
export class QueueingClient implements JobClient {
  readonly name: string;

  constructor(
    private readonly inner: BrokerAgentClient,
    private readonly o: QueueOptions,
  ) {
    this.name = inner.name;
  }

  async submit(spec: RunSpec, nowMs: number = Date.now()): Promise<Submitted> {
    const s: RunSpec = { ...spec, jobId: spec.jobId ?? newJobId(), ttlSeconds: spec.ttlSeconds ?? QUEUE_TTL_SECONDS };
    const jobId = s.jobId as string;
    if (this.o.mode === 'offline') {
      try {
        return await this.inner.submit(s, nowMs);
      } catch (e) {
        if (!(e instanceof ControllerError && e.code === 'AGENT_OFFLINE')) throw e;
      }
    }
    await this.inner.queue(s, nowMs);
    const expires = nowMs + (s.ttlSeconds as number) * 1000;
    this.o.note(`agent ${this.name}: job ${jobId} queued in its offline inbox; it runs when the agent connects, never after ${new Date(expires).toISOString()}`);
    if (this.o.waitForDelivery) await this.waitForDelivery(jobId, Math.min(expires, this.o.waitMs === null ? expires : Date.now() + this.o.waitMs));
    return { jobId, status: 'pending' };
  }

  /** Until the agent knows the job (accepted it), or the deadline. */
  private async waitForDelivery(jobId: string, deadline: number): Promise<void> {
    for (;;) {
      try {
        await this.inner.status(jobId);
        return;
      } catch (e) {
        if (!(e instanceof ControllerError) || !['AGENT_OFFLINE', 'JOB_NOT_FOUND', 'TIMEOUT'].includes(e.code)) throw e;
        // Online and without the job: refused on delivery (expired, duplicate, not allowed...).
        if (e.code === 'JOB_NOT_FOUND' && !(await this.inner.isQueuedOffline(jobId))) {
          throw new ControllerError(this.name, 'JOB_REFUSED', `the agent took job ${jobId} from its inbox and refused it (its audit log says why)`);
        }
      }
      if (Date.now() >= deadline) {
        throw new ControllerError(this.name, 'STILL_QUEUED', `job ${jobId} is still in the offline inbox; it runs if the agent connects before its TTL (quickcmd job status ${jobId})`);
      }
      await new Promise((r) => setTimeout(r, this.o.pollMs ?? 1000));
    }
  }

  status(jobId: string): Promise<JobStatusReply> {
    return this.inner.status(jobId);
  }

  cancel(jobId: string): Promise<CancelReply> {
    return this.inner.cancel(jobId);
  }

  follow(jobId: string, opts: FollowOptions): Promise<FinalFrame> {
    return this.inner.follow(jobId, opts);
  }

  commands(): Promise<CommandList> {
    return this.inner.commands();
  }

  artifact(jobId: string, path: string): Promise<ArtifactDownload> {
    return this.inner.artifact(jobId, path);
  }

  close(): void {
    this.inner.close();
  }
}

/**
 * `job status` through the broker: the agent's answer, or `queued-offline` when the agent
 * is offline or does not know the job yet and the job waits in its inbox.
 */
export async function statusOrQueued(c: BrokerAgentClient, jobId: string): Promise<JobStatusReply | { job_id: string; status: 'queued-offline'; result: null }> {
  try {
    return await c.status(jobId);
  } catch (e) {
    if (e instanceof ControllerError && (e.code === 'AGENT_OFFLINE' || e.code === 'JOB_NOT_FOUND') && (await c.isQueuedOffline(jobId))) {
      return { job_id: jobId, status: 'queued-offline', result: null };
    }
    throw e;
  }
}

/** Options of `quickcmd broker init`. */
export interface InboxInitFlags {
  readonly maxMsgsPerAgent?: number;
  readonly maxBytes?: number;
  readonly maxAge?: number;
}

/** Create the inbox stream on the broker `nc`; prints what it did. */
export async function initInbox(nc: NatsConnection, f: InboxInitFlags, out: { write(s: string): unknown }): Promise<number> {
  const limits = {
    maxMsgsPerAgent: f.maxMsgsPerAgent ?? DEFAULT_INBOX_LIMITS.maxMsgsPerAgent,
    maxBytes: f.maxBytes ?? DEFAULT_INBOX_LIMITS.maxBytes,
    maxAgeSeconds: f.maxAge ?? DEFAULT_INBOX_LIMITS.maxAgeSeconds,
  };
  const r = await ensureInboxStream(nc, limits);
  out.write(r === 'created'
    ? `created stream QUICKCMD_INBOX (max ${limits.maxMsgsPerAgent} jobs per agent, ${limits.maxBytes} bytes, kept ${limits.maxAgeSeconds} s)\n`
    : 'stream QUICKCMD_INBOX exists (its limits are unchanged)\n');
  return 0;
}

/** The flags `broker init` adds to a command. */
export function withInboxLimits(cmd: Command, integer: (min: number) => (v: string) => number): Command {
  return cmd
    .option('--max-msgs-per-agent <n>', `jobs kept per agent (default ${DEFAULT_INBOX_LIMITS.maxMsgsPerAgent}); beyond it a --queue is refused`, integer(1))
    .option('--max-bytes <n>', `bytes kept in all (default ${DEFAULT_INBOX_LIMITS.maxBytes})`, integer(1024))
    .option('--max-age <seconds>', `longest a job is kept (default ${DEFAULT_INBOX_LIMITS.maxAgeSeconds}); at least the agents' max_ttl_seconds`, integer(1));
}
