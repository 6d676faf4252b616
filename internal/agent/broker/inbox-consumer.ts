/**
 * The agent's consumer of its offline inbox (SPEC §10): on every (re)connect, one durable
 * pull consumer filtered to `quickcmd.v1.<agent>.inbox`, one message at a time
 * (`max_ack_pending: 1`, so in order), each through the same door as a live submission.
 *
 * At most once: a message is acked after the door accepted or refused it; a redelivery
 * (the agent died between accept and ack) is refused `DUPLICATE_JOB` by the job id and
 * acked then. Only a refusal that says "later" (429 QUEUE_FULL, 503 while shutting down or
 * while Docker or the audit is down) leaves it for redelivery, after a delay.
 * Without the stream or without JetStream the consumer waits and looks again; the live
 * transport is unaffected.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { jetStreamClient } from './nats-client.js';
import type { Logger } from '../logger.js';
import { inboxSubject } from './subjects.js';
import { INBOX_STREAM, inboxDurable } from './inbox-stream.js';

/** Dependencies of the consumer. */
export interface InboxConsumerDeps {
  readonly agentName: () => string;
  /** Hands one sealed submission to the door; resolves with the HTTP status it got. */
  readonly admit: (m: { subject: string; data: Uint8Array }) => Promise<number>;
  readonly logger: Logger;
  /** Wait before looking again for a missing stream or JetStream (default 15 s). */
  readonly retryMs?: number;
  /** Redelivery delay of a message refused for now (default 5 s). */
  readonly laterMs?: number;
  /** How long the server waits for an ack before redelivering (default 30 s). */
  readonly ackWaitMs?: number;
  /** Test seam: runs between the door's answer and the ack (a crash point). */
  readonly beforeAck?: (status: number) => Promise<void>;
}

/** Statuses that mean "not now": the message stays for redelivery. */
function isLater(status: number): boolean {
  return status === 429 || status === 503;
}

/** Consumes this agent's inbox while the broker connection is up. */
export class InboxConsumer {
  private generation = 0;
  private closed = false;
  private wake: (() => void) | null = null;
  private warned = '';

  constructor(private readonly d: InboxConsumerDeps) {}

  /** The connection is (again) usable: (re)start consuming on it. */
  up(nc: NatsConnection): void {
    if (this.closed) return;
    const gen = ++this.generation;
    this.wake?.();
    void this.run(nc, gen);
  }

  /** The connection is lost: the loop stops at its next step. */
  down(): void {
    this.generation++;
    this.wake?.();
  }

  /** Stop for good. Idempotent. */
  close(): void {
    this.closed = true;
    this.down();
  }

  private live(gen: number): boolean {
    return !this.closed && gen === this.generation;
  }

  private async run(nc: NatsConnection, gen: number): Promise<void> {
    while (this.live(gen)) {
      let consumer: Consumer;
      try {
        consumer = await this.ensure(nc);
      } catch (e) {
        this.warnOnce(e, 'offline inbox not available; will look again');
        await this.pause(this.d.retryMs ?? 15_000, gen);
        continue;
      }
      this.warned = '';
      try {
        while (this.live(gen)) {
          const m = await consumer.next({ expires: 5_000 });
          if (m !== null) await this.handle(m);
        }
      } catch (e) {
        if (!this.live(gen)) return;
        this.warnOnce(e, 'offline inbox consumer interrupted; will resume');
        await this.pause(this.d.retryMs ?? 15_000, gen);
      }
    }
  }

  /** Create (or confirm: the same config is idempotent) this agent's durable consumer. */
  private async ensure(nc: NatsConnection): Promise<Consumer> {
    const name = this.d.agentName();
    const { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } = jetStreamClient();
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(INBOX_STREAM, {
      durable_name: inboxDurable(name),
      filter_subject: inboxSubject(name),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 1,
      ack_wait: (this.d.ackWaitMs ?? 30_000) * 1_000_000,
    });
    return jetstream(nc).consumers.get(INBOX_STREAM, inboxDurable(name));
  }

  private async handle(m: JsMsg): Promise<void> {
    let status: number;
    try {
      status = await this.d.admit({ subject: m.subject, data: m.data });
    } catch (e) {
      this.d.logger.error({ err: e, seq: m.seq }, 'offline inbox message could not be handed to the door; left for redelivery');
      m.nak(this.d.laterMs ?? 5_000);
      return;
    }
    if (this.d.beforeAck !== undefined) await this.d.beforeAck(status);
    if (isLater(status)) {
      this.d.logger.info({ seq: m.seq, status }, 'offline inbox job refused for now; left for redelivery');
      m.nak(this.d.laterMs ?? 5_000);
      return;
    }
    try {
      await m.ackAck();
    } catch (e) {
      // Redelivered then, and refused DUPLICATE_JOB by its id if it was accepted.
      this.d.logger.warn({ err: e, seq: m.seq }, 'offline inbox ack not confirmed');
    }
  }

  private warnOnce(e: unknown, msg: string): void {
    const why = e instanceof Error ? e.message : String(e);
    if (why === this.warned) return;
    this.warned = why;
    this.d.logger.warn({ err: why }, msg);
  }

  private pause(ms: number, gen: number): Promise<void> {
    if (!this.live(gen)) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}
