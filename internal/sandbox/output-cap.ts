/**
 * One byte budget shared by stdout and stderr (SPEC §5 `max_output_bytes`). Once a byte
 * has been dropped the cap is closed for good, so the kept output is always a prefix of
 * each stream and `truncated` means exactly "something was lost".
 */
import type { StreamName } from './sandbox.js';
import { utf8Boundary } from './utf8-framer.js';

/** Bytes per stream. */
export type StreamBytes = Readonly<Record<StreamName, number>>;

/** Shared output cap: `take` returns the part of a chunk that still fits. */
export class OutputCap {
  private readonly kept: Record<StreamName, number>;
  private readonly dropped: Record<StreamName, boolean> = { stdout: false, stderr: false };
  private closed = false;

  /** `already` counts bytes kept before a restart, so the budget is not granted twice. */
  constructor(
    private readonly maxBytes: number,
    already: StreamBytes = { stdout: 0, stderr: 0 },
  ) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new TypeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
    this.kept = { stdout: already.stdout, stderr: already.stderr };
  }

  /** The prefix of `buf` that fits; cut before a character the budget cannot hold whole. */
  take(stream: StreamName, buf: Buffer): Buffer {
    if (buf.length === 0) return buf;
    if (this.closed) {
      this.dropped[stream] = true;
      return buf.subarray(0, 0);
    }
    const room = Math.max(0, this.maxBytes - this.kept.stdout - this.kept.stderr);
    if (buf.length <= room) {
      this.kept[stream] += buf.length;
      return buf;
    }
    const n = utf8Boundary(buf, room);
    this.kept[stream] += n;
    this.dropped[stream] = true;
    this.closed = true;
    return buf.subarray(0, n);
  }

  /** True once any byte of either stream was dropped. */
  get truncated(): boolean {
    return this.dropped.stdout || this.dropped.stderr;
  }

  /** Per stream: whether a byte of it was dropped. */
  get truncatedStreams(): Readonly<Record<StreamName, boolean>> {
    return { ...this.dropped };
  }

  /** Bytes kept per stream (including the `already` counts). */
  get bytes(): StreamBytes {
    return { ...this.kept };
  }

  /** Bytes kept over both streams. */
  get total(): number {
    return this.kept.stdout + this.kept.stderr;
  }
}
