/**
 * Parses the collector's tar stream into artifacts, enforcing every bound on the agent's
 * side whatever the container sends (it is never trusted): regular files only, names
 * normalised and kept under an asked-for path, at most `maxFiles` files and `maxBytes`
 * bytes (the check uses the header's size before any data is read, so a 10 GiB sparse file
 * costs nothing), a bounded skipped list, a bounded raw stream. A hard link to a file
 * already collected is collected as a copy; anything else that is not a regular file is
 * listed in `skipped`, never followed.
 */
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { sha256Hex } from './input-archive.js';
import type { ArtifactCollection, ArtifactLimits, CollectedArtifact, SkippedArtifact } from './sandbox.js';

/** Most skipped entries reported; past it the collection counts as truncated. */
export const MAX_SKIPPED = 256;
/** Longest collected name in bytes, and deepest path. */
const MAX_NAME_BYTES = 1024;
const MAX_DEPTH = 32;
/** Raw bytes allowed for headers on top of the data: every entry may carry a long-name header. */
const HEADER_ALLOWANCE_PER_ENTRY = 4096;

/** Thrown inside the parser to stop at a cap (not a failure). */
class CapReached extends Error {}

/** A collected name relative to /workspace, or null when it cannot be stored safely. */
export function normaliseName(raw: string): string | null {
  let name = raw;
  while (name.startsWith('./')) name = name.slice(2);
  while (name.endsWith('/')) name = name.slice(0, -1);
  if (name === '' || name === '.' || Buffer.byteLength(name) > MAX_NAME_BYTES) return null;
  // Control characters (NUL, newline…) and backslashes never name a stored artifact.
  if (/[\u0000-\u001f\u007f\\]/.test(name) || name.includes('\ufffd')) return null;
  const parts = name.split('/');
  if (parts.length > MAX_DEPTH || parts.some((p) => p === '' || p === '.' || p === '..')) return null;
  return name;
}

/** True when `name` is `base` or lies under it. */
function within(name: string, base: string): boolean {
  return name === base || name.startsWith(`${base}/`);
}

/** The running state of one parse. */
class Collector {
  readonly files: CollectedArtifact[] = [];
  readonly skipped: SkippedArtifact[] = [];
  readonly byName = new Map<string, CollectedArtifact>();
  bytes = 0;
  truncated = false;

  constructor(
    private readonly limits: ArtifactLimits,
    private readonly asked: readonly string[],
  ) {}

  skip(path: string, reason: string): void {
    if (this.skipped.length >= MAX_SKIPPED) {
      this.truncated = true;
      throw new CapReached();
    }
    this.skipped.push({ path, reason });
  }

  /** Room for one more file of `size` bytes, else stop (truncated). */
  admit(size: number): void {
    if (this.files.length + 1 > this.limits.maxFiles || this.bytes + size > this.limits.maxBytes) {
      this.truncated = true;
      throw new CapReached();
    }
  }

  add(path: string, data: Buffer): void {
    const a = { path, size: data.length, sha256: sha256Hex(data), data };
    this.files.push(a);
    this.byName.set(path, a);
    this.bytes += data.length;
  }

  isAsked(name: string): boolean {
    return this.asked.some((a) => within(name, a));
  }
}

/**
 * Reads `stream` to its end or to a cap. Never rejects: a broken stream gives what was read
 * whole before it broke, with `error` set. `asked` are the requested paths (already validated).
 */
export async function readArtifacts(stream: Readable, limits: ArtifactLimits, asked: readonly string[]): Promise<ArtifactCollection> {
  const c = new Collector(limits, asked);
  const rawLimit = limits.maxBytes + (limits.maxFiles + MAX_SKIPPED + 16) * HEADER_ALLOWANCE_PER_ENTRY;
  const extract = tar.extract();
  let raw = 0;
  let error: string | null = null;
  const onData = (chunk: Buffer): void => {
    raw += chunk.length;
    if (raw > rawLimit) {
      c.truncated = true;
      stream.destroy();
      extract.destroy(new CapReached());
    }
  };
  stream.on('data', onData);
  stream.on('error', (e: Error) => extract.destroy(e));
  stream.pipe(extract);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = normaliseName(h.name);
      const shown = name ?? JSON.stringify(h.name).slice(1, -1).slice(0, 256);
      if (name === null || !c.isAsked(name)) {
        c.skip(shown, name === null ? 'bad-name' : 'outside');
        entry.resume();
        continue;
      }
      if (c.byName.has(name)) {
        entry.resume();
        continue;
      }
      switch (h.type) {
        case 'file':
        case 'contiguous-file': {
          const size = h.size ?? 0;
          c.admit(size);
          const parts: Buffer[] = [];
          let got = 0;
          for await (const piece of entry as AsyncIterable<Buffer>) {
            got += piece.length;
            if (got > size) throw new Error(`entry ${name} is longer than its header says`);
            parts.push(piece);
          }
          c.add(name, Buffer.concat(parts));
          break;
        }
        case 'link': {
          const target = normaliseName(h.linkname ?? '');
          const original = target === null ? undefined : c.byName.get(target);
          entry.resume();
          if (original === undefined) {
            c.skip(name, 'hardlink');
            break;
          }
          c.admit(original.size);
          c.add(name, original.data);
          break;
        }
        case 'directory':
          entry.resume();
          break;
        case 'symlink':
          entry.resume();
          c.skip(name, 'symlink');
          break;
        case 'fifo':
          entry.resume();
          c.skip(name, 'fifo');
          break;
        default:
          entry.resume();
          c.skip(name, 'other');
      }
    }
  } catch (e) {
    if (!(e instanceof CapReached)) error = `artifact stream is broken: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    stream.off('data', onData);
    stream.unpipe(extract);
    if (c.truncated && !stream.destroyed) stream.destroy();
  }
  return { files: c.files, skipped: c.skipped, truncated: c.truncated, error };
}
