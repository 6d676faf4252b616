/**
 * Live frames on `quickcmd.v1.<agent>.out.<job_id>` (SPEC §10): every frame the job
 * manager publishes, sealed under the job's frames key, at most once. A frame that would
 * not fit the server's max_payload is left out (the follower's gap filler fetches it
 * through rpc). Finals of jobs that ended while the broker was away, or just before,
 * are republished once after the connection is back.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentConfig } from '../config/config.js';
import { accessFor } from '../door/keyring.js';
import type { JobStore, OutputFrame } from '../jobs/job-store.js';
import type { Logger } from '../logger.js';
import type { FinalInfo, OutputHub } from '../stream/output-hub.js';
import { endTime } from '../stream/stream-follower.js';
import { FrameEncoder } from '../stream/stream-frame.js';
import { sealKey, sealWithKey } from '../wire/seal.js';
import { outSubject } from './subjects.js';

/** Finals remembered for republishing after a reconnect. */
const RECENT_FINALS = 1024;
/** A final this long before the connection dropped is republished too (it may have been lost in flight). */
const REPUBLISH_BEFORE_DOWN_MS = 30_000;

/** Dependencies. */
export interface FramePublisherDeps {
  readonly config: () => AgentConfig;
  readonly hub: Pick<OutputHub, 'subscribeAll'>;
  readonly store: Pick<JobStore, 'get'>;
  readonly connection: () => NatsConnection | null;
  readonly logger: Logger;
  readonly nowMs: () => number;
}

interface JobKey {
  readonly controllerId: string;
  readonly key: Buffer;
}

/** Publishes every job's frames to the broker. */
export class FramePublisher {
  private readonly keys = new Map<string, JobKey | null>();
  private readonly finals: { jobId: string; endedMs: number; bytes: Buffer }[] = [];
  private readonly encoder = new FrameEncoder();
  private downSince: number | null = null;
  private readonly unsubscribe: () => void;

  constructor(private readonly d: FramePublisherDeps) {
    this.unsubscribe = d.hub.subscribeAll({
      frame: (jobId, f) => this.frame(jobId, f),
      end: (jobId, fin) => this.end(jobId, fin),
    });
  }

  private keyFor(jobId: string): JobKey | null {
    const hit = this.keys.get(jobId);
    if (hit !== undefined) return hit;
    const rec = this.d.store.get(jobId);
    const secret = rec === null ? undefined : accessFor(this.d.config(), rec.controllerId).secrets[0];
    const k = rec === null || secret === undefined ? null : { controllerId: rec.controllerId, key: sealKey(secret, rec.controllerId, { kind: 'frames', jobId }) };
    // Bounded: entries leave at the job's end; a runaway map means ends are being missed.
    if (this.keys.size >= 4096) this.keys.clear();
    this.keys.set(jobId, k);
    return k;
  }

  private send(jobId: string, plaintext: Buffer): Buffer | null {
    const k = this.keyFor(jobId);
    if (k === null) return null;
    const subject = outSubject(this.d.config().agent_name, jobId);
    const sealed = sealWithKey(k.key, k.controllerId, subject, plaintext);
    const nc = this.d.connection();
    if (nc === null) return sealed;
    if (sealed.length > (nc.info?.max_payload ?? 1024 * 1024) - 512) return sealed;
    try {
      nc.publish(subject, sealed);
    } catch (e) {
      this.d.logger.debug({ err: e, job_id: jobId }, 'frame not published');
    }
    return sealed;
  }

  private frame(jobId: string, f: OutputFrame): void {
    if (this.d.connection() === null) return;
    this.send(jobId, this.encoder.output(jobId, f));
  }

  private end(jobId: string, fin: FinalInfo): void {
    const rec = this.d.store.get(jobId);
    const endedMs = rec === null ? this.d.nowMs() : endTime(rec);
    const plaintext = this.encoder.final(jobId, { seq: fin.lastSeq + 1, ts: endedMs, status: fin.status, exitCode: fin.exitCode });
    this.send(jobId, plaintext);
    this.keys.delete(jobId);
    this.finals.push({ jobId, endedMs: this.d.nowMs(), bytes: plaintext });
    if (this.finals.length > RECENT_FINALS) this.finals.shift();
  }

  /** The connection dropped. */
  down(): void {
    this.downSince ??= this.d.nowMs();
  }

  /** The connection is back: republish, once, the finals that may have been missed. */
  up(): void {
    const since = this.downSince;
    this.downSince = null;
    if (since === null) return;
    const due = this.finals.filter((f) => f.endedMs >= since - REPUBLISH_BEFORE_DOWN_MS);
    this.finals.length = 0;
    for (const f of due) {
      this.send(f.jobId, f.bytes);
      this.keys.delete(f.jobId);
    }
    if (due.length > 0) this.d.logger.info({ finals: due.length }, 'republished final frames after the broker came back');
  }

  /** Stop publishing. Idempotent. */
  close(): void {
    this.unsubscribe();
  }
}
