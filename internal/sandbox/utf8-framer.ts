/**
 * Keeps UTF-8 characters whole across chunk boundaries: each stream's framer holds back an
 * incomplete trailing sequence (at most 3 bytes) until the rest arrives. Invalid bytes are
 * passed through untouched; the framer only never cuts a valid character in two.
 */

/** Length of the UTF-8 sequence a lead byte starts, 0 for a continuation or invalid byte. */
function sequenceLength(byte: number): number {
  if (byte < 0x80) return 1;
  if (byte >= 0xc2 && byte <= 0xdf) return 2;
  if (byte >= 0xe0 && byte <= 0xef) return 3;
  if (byte >= 0xf0 && byte <= 0xf4) return 4;
  return 0;
}

/**
 * Largest cut ≤ `n` that does not split a character whose lead byte lies in `buf`
 * (a character that started in an earlier buffer cannot be seen and is cut as is).
 */
export function utf8Boundary(buf: Buffer, n: number): number {
  if (n >= buf.length) return buf.length;
  if (n <= 0) return 0;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = buf[i] as number;
    if ((b & 0xc0) === 0x80) continue;
    const len = sequenceLength(b);
    return len > 0 && i + len > n ? i : n;
  }
  return n;
}

/** Length of the incomplete character at the end of `buf` (0 when it ends on a boundary). */
export function incompleteTail(buf: Buffer): number {
  for (let i = buf.length - 1; i >= 0 && i >= buf.length - 3; i--) {
    const b = buf[i] as number;
    if ((b & 0xc0) === 0x80) continue;
    const len = sequenceLength(b);
    return len > 0 && i + len > buf.length ? buf.length - i : 0;
  }
  return 0;
}

/** Per-stream carry of an incomplete trailing UTF-8 sequence, so frames never split a character. */
export class Utf8Framer {
  private carry: Buffer = Buffer.alloc(0);

  /** Returns the prefix made of complete characters and keeps the incomplete tail for the next push. */
  push(buf: Buffer): Buffer {
    const data = this.carry.length === 0 ? buf : Buffer.concat([this.carry, buf]);
    const tail = incompleteTail(data);
    this.carry = tail === 0 ? Buffer.alloc(0) : Buffer.from(data.subarray(data.length - tail));
    return tail === 0 ? data : data.subarray(0, data.length - tail);
  }

  /** Hands out whatever is still held (an incomplete character at end of stream) and resets. */
  flush(): Buffer {
    const out = this.carry;
    this.carry = Buffer.alloc(0);
    return out;
  }

  /** Bytes currently held back. */
  get pending(): number {
    return this.carry.length;
  }
}
