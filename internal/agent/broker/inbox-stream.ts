/**
 * The offline inbox's JetStream layout (SPEC §10), one place for agent, controller,
 * permissions and tests: one work-queue stream `QUICKCMD_INBOX` over every agent's
 * `quickcmd.v1.<agent>.inbox`, one durable pull consumer per agent filtered to its own
 * subject, the job id as the message id (JetStream drops a second publish of one id
 * within its duplicate window) and in a header (so `job status` can find it unsealed).
 *
 * nats-server 2.9 has no per-message TTL (`Nats-TTL` came with 2.11): the stream's
 * `max_age` bounds how long anything is stored, and the agent's own TTL check at the door
 * guarantees that an expired job never runs (it is refused `JOB_EXPIRED`, audited, acked).
 */
import { SUBJECT_PREFIX, inboxSubject } from './subjects.js';

/** The stream's name. */
export const INBOX_STREAM = 'QUICKCMD_INBOX';
/** The header that carries the job id of a queued submission. */
export const INBOX_JOB_HEADER = 'QuickCMD-Job-Id';
/** Every agent's inbox subject. */
export const INBOX_SUBJECTS = `${SUBJECT_PREFIX}.*.inbox`;

/** The durable consumer of `agent`'s inbox. */
export function inboxDurable(agent: string): string {
  return `inbox-${agent}`;
}

/** The JetStream API subject that creates (or confirms) `agent`'s consumer with its filter. */
export function inboxConsumerCreateSubject(agent: string): string {
  return `$JS.API.CONSUMER.CREATE.${INBOX_STREAM}.${inboxDurable(agent)}.${inboxSubject(agent)}`;
}

/** Limits of the stream (`quickcmd broker init`). */
export interface InboxLimits {
  /** Messages kept per agent; a submission beyond it is refused (discard new). */
  readonly maxMsgsPerAgent: number;
  /** Bytes kept in all. */
  readonly maxBytes: number;
  /** Longest a message is kept, in seconds (at least the longest TTL a job may have). */
  readonly maxAgeSeconds: number;
}

/** Defaults: 1,000 jobs per agent, 256 MiB, one day. */
export const DEFAULT_INBOX_LIMITS: InboxLimits = { maxMsgsPerAgent: 1000, maxBytes: 256 * 1024 * 1024, maxAgeSeconds: 86_400 };

/** The stream's configuration for `jsm.streams.add` (plain JSON of the JetStream API). */
export function inboxStreamConfig(l: InboxLimits) {
  return {
    name: INBOX_STREAM,
    subjects: [INBOX_SUBJECTS],
    retention: 'workqueue' as const,
    storage: 'file' as const,
    discard: 'new' as const,
    max_msgs_per_subject: l.maxMsgsPerAgent,
    max_bytes: l.maxBytes,
    max_age: l.maxAgeSeconds * 1_000_000_000,
    max_msg_size: 1024 * 1024,
    duplicate_window: 120 * 1_000_000_000,
  };
}
