/**
 * The controller's side of the offline inbox (SPEC §10): create the stream
 * (`quickcmd broker init`, or on first use), store a sealed submission for an agent that is
 * not online, and find a queued job that has not been delivered yet (for `job status`).
 * The stored message is sealed for the inbox subject, so the broker holds no command text;
 * the job id travels as the message id (a second publish of one id is dropped) and in a
 * header, which is all `job status` needs to find it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager, MsgRequest } from '@nats-io/jetstream';
// Loaded on first use, like the client itself (internal/agent/broker/nats-client.ts).
import { jetStreamClient, natsClient } from '../agent/broker/nats-client.js';
import { DEFAULT_INBOX_LIMITS, INBOX_JOB_HEADER, INBOX_STREAM, inboxStreamConfig, type InboxLimits } from '../agent/broker/inbox-stream.js';
import { inboxSubject } from '../agent/broker/subjects.js';
import { ControllerError } from './controller-error.js';

/** Messages `findQueued` reads at most (the stream keeps at most this many per agent by default). */
const MAX_SCAN = 10_000;

function unavailable(agent: string, e: unknown): ControllerError {
  const msg = e instanceof Error ? e.message : String(e);
  return new ControllerError(agent, 'INBOX_UNAVAILABLE', `the broker has no JetStream inbox: ${msg}`, { cause: e });
}

function isStreamMissing(e: unknown): boolean {
  const m = e instanceof Error ? `${e.name} ${e.message}` : String(e);
  return /stream not found|StreamNotFound/i.test(m);
}

async function manager(nc: NatsConnection, agent: string): Promise<JetStreamManager> {
  try {
    return await jetStreamClient().jetstreamManager(nc);
  } catch (e) {
    throw unavailable(agent, e);
  }
}

/** Create the inbox stream with `limits` unless it exists; says which. */
export async function ensureInboxStream(nc: NatsConnection, limits: InboxLimits = DEFAULT_INBOX_LIMITS, who = 'broker'): Promise<'created' | 'exists'> {
  const jsm = await manager(nc, who);
  try {
    await jsm.streams.info(INBOX_STREAM);
    return 'exists';
  } catch (e) {
    if (!isStreamMissing(e)) throw unavailable(who, e);
  }
  try {
    await jsm.streams.add(inboxStreamConfig(limits));
    return 'created';
  } catch (e) {
    throw unavailable(who, e);
  }
}

/** Store one sealed submission for `agent`; the stream is made on first use. */
export async function queueSubmission(nc: NatsConnection, agent: string, jobId: string, sealed: Uint8Array): Promise<{ seq: number; duplicate: boolean }> {
  await ensureInboxStream(nc, DEFAULT_INBOX_LIMITS, agent);
  const h = natsClient().headers();
  h.set(INBOX_JOB_HEADER, jobId);
  try {
    const ack = await jetStreamClient().jetstream(nc).publish(inboxSubject(agent), sealed, { msgID: jobId, headers: h, timeout: 10_000 });
    return { seq: ack.seq, duplicate: ack.duplicate };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/maximum messages|maximum bytes|message size exceeds|discard/i.test(msg)) throw new ControllerError(agent, 'INBOX_FULL', `the offline inbox refused the job: ${msg}`, { cause: e });
    throw unavailable(agent, e);
  }
}

/** True when `jobId` waits in `agent`'s inbox (stored, not yet delivered and acked). */
export async function findQueued(nc: NatsConnection, agent: string, jobId: string): Promise<boolean> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetStreamClient().jetstreamManager(nc);
  } catch {
    return false;
  }
  const subject = inboxSubject(agent);
  let seq = 0;
  for (let i = 0; i < MAX_SCAN; i++) {
    let m;
    try {
      // STREAM.MSG.GET takes `next_by_subj` (nats-server 2.9 and later); the client's type omits it.
      const query = { seq: seq + 1, next_by_subj: subject } as unknown as MsgRequest;
      m = await jsm.streams.getMessage(INBOX_STREAM, query);
    } catch {
      return false;
    }
    if (m === null) return false;
    if (m.header.get(INBOX_JOB_HEADER) === jobId) return true;
    seq = m.seq;
  }
  return false;
}
