/**
 * Moves one multiplexed Docker byte stream (attach socket or logs response) through the
 * demuxer into an OutputSink, counting bytes per stream. `done` settles once the stream
 * has ended, failed or been destroyed, and never rejects: a wait must never hang on it.
 */
import type { Readable } from 'node:stream';
import { Demuxer } from './demux.js';
import type { OutputSink, ReplayOffsets, StreamName } from './sandbox.js';

/** A sink that drops the first `skip` bytes of each stream (already held by the caller). */
export class SkipSink implements OutputSink {
  private readonly seen: Record<StreamName, number> = { stdout: 0, stderr: 0 };

  constructor(
    private readonly inner: OutputSink,
    private readonly skip: ReplayOffsets,
  ) {}

  /** Forwards the part of `data` past the skip offset of its stream. */
  write(stream: StreamName, data: Buffer): void {
    const before = this.seen[stream];
    this.seen[stream] = before + data.length;
    const from = Math.max(0, this.skip[stream] - before);
    if (from < data.length) this.inner.write(stream, from === 0 ? data : data.subarray(from));
  }

  /** Bytes of each stream seen so far, skipped ones included. */
  get position(): ReplayOffsets {
    return { ...this.seen };
  }
}

/** Pumps a multiplexed stream into a sink; see the file comment. */
export class OutputPump {
  /** Settles when the stream is over (ended, errored or destroyed). */
  readonly done: Promise<void>;
  private failure: Error | null = null;
  private finished = false;

  constructor(
    private readonly stream: Readable,
    sink: OutputSink,
  ) {
    const demux = new Demuxer();
    this.done = new Promise<void>((resolve) => {
      const finish = (err: Error | null): void => {
        if (this.finished) return;
        this.finished = true;
        if (err === null) {
          try {
            demux.end();
          } catch (e) {
            err = e instanceof Error ? e : new Error(String(e));
          }
        }
        this.failure = err;
        stream.off('data', onData);
        // A hijacked socket is half-open after the daemon's end; close our side too.
        if (!stream.destroyed) stream.destroy();
        resolve();
      };
      const onData = (chunk: Buffer): void => {
        try {
          for (const piece of demux.push(chunk)) sink.write(piece.stream, piece.data);
        } catch (e) {
          finish(e instanceof Error ? e : new Error(String(e)));
        }
      };
      stream.on('data', onData);
      stream.once('end', () => finish(null));
      stream.once('error', (e: Error) => finish(e));
      stream.once('close', () => finish(this.finished ? null : new Error('output stream closed before its end')));
    });
  }

  /** Why the stream ended abnormally, or null. Meaningful once `done` settled. */
  get error(): Error | null {
    return this.failure;
  }

  /** Stops reading and releases the socket; `done` settles. Idempotent. */
  destroy(): void {
    if (!this.stream.destroyed) this.stream.destroy();
  }
}
