/**
 * The wire form of live-log frames (SPEC §6): one JSON text message per frame. Encoded
 * once into bytes and shared: every follower of a job receives the same frame object from
 * the hub, so a cache keyed by that object makes fan-out cost one encoding, not one per
 * follower, and ws sends the shared bytes without copying them.
 */
import { rfc3339 } from '../clock.js';
import type { OutputFrame } from '../jobs/job-store.js';
import type { JobStatus } from '../wire/job-states.js';
import { jsonWithStringField } from './json-bytes.js';

/** An output frame on the wire. */
export interface WireOutputFrame {
  readonly job_id: string;
  readonly seq: number;
  readonly timestamp: string;
  readonly stream: 'stdout' | 'stderr';
  readonly data: string;
  readonly final: false;
}

/** The last frame of a job on the wire. */
export interface WireFinalFrame {
  readonly job_id: string;
  readonly seq: number;
  readonly timestamp: string;
  readonly stream: '';
  readonly data: '';
  readonly final: true;
  readonly status: JobStatus;
  readonly exit_code: number | null;
}

/** How a job ended, as the final frame tells it. */
export interface FinalFrameInfo {
  /** Seq of the final frame (last output seq + 1). */
  readonly seq: number;
  /** Epoch milliseconds of the end. */
  readonly ts: number;
  readonly status: JobStatus;
  readonly exitCode: number | null;
}

/** Encodes frames to UTF-8 JSON bytes, once per frame object. */
export class FrameEncoder {
  private readonly cache = new WeakMap<OutputFrame, Buffer>();

  /** The message of an output frame (the frame's bytes are valid UTF-8 up to a truncated tail). */
  output(jobId: string, f: OutputFrame): Buffer {
    const hit = this.cache.get(f);
    if (hit !== undefined) return hit;
    // Same bytes as JSON.stringify of a WireOutputFrame (field order included), built from the frame's bytes.
    const head = `{"job_id":${JSON.stringify(jobId)},"seq":${f.seq},"timestamp":${JSON.stringify(rfc3339(f.ts))},"stream":${JSON.stringify(f.stream)},"data":`;
    const buf = jsonWithStringField(head, f.data, ',"final":false}');
    this.cache.set(f, buf);
    return buf;
  }

  /** The message of the final frame. */
  final(jobId: string, f: FinalFrameInfo): Buffer {
    const wire: WireFinalFrame = { job_id: jobId, seq: f.seq, timestamp: rfc3339(f.ts), stream: '', data: '', final: true, status: f.status, exit_code: f.exitCode };
    return Buffer.from(JSON.stringify(wire), 'utf8');
  }
}
