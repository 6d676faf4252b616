/**
 * `GET /api/v1/jobs/:id/frames?from_seq=N` (SPEC §10): the stored frames after `from_seq`,
 * the follower's gap filler on either transport. One answer holds at most about
 * FRAMES_PAGE_BYTES of encoded frames (at least one), so it fits a broker message after
 * sealing; `final` is true when the job's final frame is the last one in the list.
 */
import type { JobStore } from '../jobs/job-store.js';
import { isTerminal, type JobRecord } from '../jobs/job.js';
import { endTime } from './stream-follower.js';
import type { FrameEncoder } from './stream-frame.js';

/** Encoded bytes of frames per answer (sealed and base64url it stays under 1 MiB). */
export const FRAMES_PAGE_BYTES = 384 * 1024;

/** The answer. */
export interface FramesPage {
  readonly frames: unknown[];
  readonly final: boolean;
}

/** Frames of `rec` after `fromSeq`, bounded by `maxBytes`. */
export function framesPage(store: Pick<JobStore, 'framesAfter' | 'outputTotals'>, encoder: FrameEncoder, rec: JobRecord, fromSeq: number, maxBytes = FRAMES_PAGE_BYTES): FramesPage {
  const frames: unknown[] = [];
  let bytes = 0;
  let cursor = fromSeq;
  for (;;) {
    const page = store.framesAfter(rec.jobId, cursor, 64);
    for (const f of page) {
      const enc = encoder.output(rec.jobId, f);
      if (frames.length > 0 && bytes + enc.length > maxBytes) return { frames, final: false };
      frames.push(JSON.parse(enc.toString('utf8')) as unknown);
      bytes += enc.length;
      cursor = f.seq;
    }
    if (page.length < 64) break;
  }
  if (!isTerminal(rec.status)) return { frames, final: false };
  const seq = store.outputTotals(rec.jobId).lastSeq + 1;
  if (seq <= fromSeq) return { frames, final: true };
  const fin = encoder.final(rec.jobId, { seq, ts: endTime(rec), status: rec.status, exitCode: rec.result?.exit_code ?? null });
  frames.push(JSON.parse(fin.toString('utf8')) as unknown);
  return { frames, final: true };
}
