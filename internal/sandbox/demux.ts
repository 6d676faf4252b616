/**
 * Streaming demultiplexer for Docker's non-TTY attach/logs format: frames of an 8-byte
 * header (stream type, 3 zero bytes, big-endian uint32 length) then the payload. Written
 * here rather than using `modem.demuxStream` so a header split across chunks is handled
 * explicitly and payload is delivered as soon as it arrives, even mid-frame.
 */
import type { StreamName } from './sandbox.js';

/** A piece of one stream's payload, in arrival order. */
export interface DemuxChunk {
  readonly stream: StreamName;
  readonly data: Buffer;
}

/** The byte stream does not follow the multiplexed format (or carries a daemon error frame). */
export class DemuxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemuxError';
  }
}

const HEADER = 8;

function streamOf(type: number): StreamName {
  switch (type) {
    case 0: // stdin echoed on a non-TTY attach; Docker's own stdcopy writes it to stdout
    case 1:
      return 'stdout';
    case 2:
      return 'stderr';
    default:
      throw new DemuxError(`unknown stream type ${type} in multiplexed output`);
  }
}

/** Pure incremental demultiplexer: feed raw chunks, get stream chunks back. */
export class Demuxer {
  private header = Buffer.alloc(HEADER);
  private headerFill = 0;
  private remaining = 0;
  private current: StreamName = 'stdout';
  private systemError: Buffer[] | null = null;

  /** Consumes one raw chunk; returns the payload pieces it completes (possibly partial frames). */
  push(chunk: Buffer): DemuxChunk[] {
    const out: DemuxChunk[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.remaining === 0) {
        const n = Math.min(HEADER - this.headerFill, chunk.length - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        if (this.headerFill < HEADER) break;
        this.headerFill = 0;
        this.startFrame();
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - pos);
      const data = chunk.subarray(pos, pos + n);
      pos += n;
      this.remaining -= n;
      if (this.systemError !== null) {
        this.systemError.push(Buffer.from(data));
        if (this.remaining === 0) throw new DemuxError(`daemon error: ${Buffer.concat(this.systemError).toString('utf8')}`);
      } else {
        out.push({ stream: this.current, data });
      }
    }
    return out;
  }

  /** Throws if the stream ended inside a frame (output was cut by the daemon or the connection). */
  end(): void {
    if (this.headerFill !== 0 || this.remaining !== 0) {
      throw new DemuxError(`multiplexed output ended mid-frame (${this.headerFill} header bytes, ${this.remaining} payload bytes missing)`);
    }
  }

  private startFrame(): void {
    const type = this.header[0] as number;
    const size = this.header.readUInt32BE(4);
    // Type 3 is the daemon's "systemerr" frame (API ≥ 1.42): its payload is an error text.
    if (type === 3) {
      this.systemError = [];
      if (size === 0) throw new DemuxError('daemon error frame');
    } else {
      this.current = streamOf(type);
    }
    this.remaining = size;
  }
}
