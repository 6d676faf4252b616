/**
 * The agent-side parser of the collector's tar stream (SPEC §12) against hostile archives
 * a compromised container could send: names that climb out or are absolute, entries
 * outside the asked paths, a data block longer than its header, symlinks, hard links,
 * FIFOs, device files, caps, a truncated stream, and a stream past every bound.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import tar from 'tar-stream';
import { MAX_SKIPPED, normaliseName, readArtifacts } from '../../internal/sandbox/artifact-reader.js';
import { pathProblem } from '../../internal/agent/wire/workspace-path.js';

type Entry = { name: string; type?: 'file' | 'symlink' | 'link' | 'fifo' | 'directory' | 'character-device'; data?: string; linkname?: string };

async function archive(entries: readonly Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((res) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => res(Buffer.concat(chunks)));
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file') pack.entry({ name: e.name, type, size: Buffer.byteLength(e.data ?? '') }, e.data ?? '');
    else pack.entry({ name: e.name, type, linkname: e.linkname, size: 0 });
  }
  pack.finalize();
  return done;
}

const limits = { maxFiles: 10, maxBytes: 1000 };
const sha = (s: string): string => crypto.createHash('sha256').update(s).digest('hex');

describe('readArtifacts (hostile tar streams)', () => {
  it('collects regular files under the asked paths with size and SHA-256', async () => {
    const c = await readArtifacts(Readable.from([await archive([{ name: './out/', type: 'directory' }, { name: './out/a.txt', data: 'hello' }])]), limits, ['out']);
    assert.deepEqual(c.files.map((f) => [f.path, f.size, f.sha256]), [['out/a.txt', 5, sha('hello')]]);
    assert.equal(c.truncated, false);
    assert.equal(c.error, null);
  });

  it('never keeps a name that climbs, is absolute, has control characters or lies outside the asked paths', async () => {
    const c = await readArtifacts(
      Readable.from([await archive([
        { name: '../etc/passwd', data: 'x' },
        { name: 'out/../../etc/shadow', data: 'x' },
        { name: '/etc/shadow', data: 'x' },
        { name: 'out/a\nb', data: 'x' },
        { name: 'other/secret', data: 'x' },
        { name: 'out/ok', data: 'y' },
      ])]),
      limits,
      ['out'],
    );
    assert.deepEqual(c.files.map((f) => f.path), ['out/ok']);
    assert.deepEqual(c.skipped.map((s) => s.reason), ['bad-name', 'bad-name', 'bad-name', 'bad-name', 'outside']);
  });

  it('lists symlinks, FIFOs, devices and dangling hard links, and copies a hard link to a collected file', async () => {
    const c = await readArtifacts(
      Readable.from([await archive([
        { name: 'out/real', data: 'r' },
        { name: 'out/shadow', type: 'symlink', linkname: '/etc/shadow' },
        { name: 'out/root', type: 'symlink', linkname: '/proc/1/root' },
        { name: 'out/fifo', type: 'fifo' },
        { name: 'out/tty', type: 'character-device' },
        { name: 'out/copy', type: 'link', linkname: 'out/real' },
        { name: 'out/ghost', type: 'link', linkname: 'etc/passwd' },
      ])]),
      limits,
      ['out'],
    );
    assert.deepEqual(c.files.map((f) => [f.path, f.sha256]), [['out/real', sha('r')], ['out/copy', sha('r')]]);
    assert.deepEqual(c.skipped, [
      { path: 'out/shadow', reason: 'symlink' },
      { path: 'out/root', reason: 'symlink' },
      { path: 'out/fifo', reason: 'fifo' },
      { path: 'out/tty', reason: 'other' },
      { path: 'out/ghost', reason: 'hardlink' },
    ]);
  });

  it('stops at max_artifact_files and max_artifact_bytes, deciding from the header before reading data', async () => {
    const many = await readArtifacts(Readable.from([await archive(Array.from({ length: 15 }, (_, i) => ({ name: `m/f${i}`, data: 'x' })))]), limits, ['m']);
    assert.equal(many.files.length, 10);
    assert.equal(many.truncated, true);
    // A header claiming 10 GiB: nothing after it is read, no error.
    const header = tar.pack();
    const parts: Buffer[] = [];
    header.on('data', (c: unknown) => parts.push(c as Buffer));
    const first = await archive([{ name: 'a.txt', data: 'small' }]);
    const big = Buffer.alloc(512);
    big.write('big.bin', 0);
    big.write('0000644\0', 100);
    big.write('0000000\0', 108);
    big.write('0000000\0', 116);
    big.write('117777777777', 124); // 8^12-ish octal size, far past the cap (one past 10 GiB not needed: any > cap)
    big.write('00000000000\0', 136);
    big.write('0', 156);
    big.write('ustar\0', 257);
    big.write('00', 263);
    let sum = 0;
    big.fill(' ', 148, 156);
    for (const b of big) sum += b;
    big.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    const stream = Readable.from([first.subarray(0, first.length - 1024), big]);
    const c = await readArtifacts(stream, { maxFiles: 10, maxBytes: 1024 * 1024 }, ['a.txt', 'big.bin']);
    assert.deepEqual(c.files.map((f) => f.path), ['a.txt']);
    assert.equal(c.truncated, true);
    assert.equal(c.error, null);
  });

  it('keeps what arrived whole when the stream breaks mid-entry, and says so', async () => {
    const whole = await archive([{ name: 'a', data: 'aaaa' }, { name: 'b', data: 'b'.repeat(600) }]);
    const c = await readArtifacts(Readable.from([whole.subarray(0, 512 + 512 + 512 + 100)]), limits, ['a', 'b']);
    assert.deepEqual(c.files.map((f) => f.path), ['a']);
    assert.match(c.error ?? '', /broken/);
  });

  it('stops reading a raw stream past every bound (garbage or endless padding)', async () => {
    const s = new PassThrough();
    const p = readArtifacts(s, { maxFiles: 1, maxBytes: 1024 }, ['x']);
    let written = 0;
    const zero = Buffer.alloc(64 * 1024);
    while (!s.destroyed && written < 64 * 1024 * 1024) {
      s.write(zero);
      written += zero.length;
      await new Promise((r) => setImmediate(r));
    }
    const c = await p;
    assert.ok(written < 8 * 1024 * 1024, `cut after ${written} bytes`);
    assert.equal(c.truncated, true);
  });

  it('bounds the skipped list', async () => {
    const c = await readArtifacts(Readable.from([await archive(Array.from({ length: MAX_SKIPPED + 5 }, (_, i) => ({ name: `out/l${i}`, type: 'symlink' as const, linkname: '/' })))]), limits, ['out']);
    assert.equal(c.skipped.length, MAX_SKIPPED);
    assert.equal(c.truncated, true);
  });
});

describe('path rules (SPEC §12)', () => {
  it('accepts plain relative paths and refuses every traversal form', () => {
    for (const ok of ['a', 'in/data.csv', 'a/b/c/d/e/f/g/h', '-rf', '.hidden', 'x'.repeat(100)]) assert.equal(pathProblem(ok), null, ok);
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../b', '.', '..', 'a//b', 'a/', 'a\\b', 'a/b/c/d/e/f/g/h/i', 'x'.repeat(101), 'caf\u00e9', 'a b', 'a\u0000b']) {
      assert.notEqual(pathProblem(bad), null, JSON.stringify(bad));
    }
  });

  it('normalises collected names and refuses unsafe ones', () => {
    assert.equal(normaliseName('./out/a.txt'), 'out/a.txt');
    assert.equal(normaliseName('out/dir/'), 'out/dir');
    for (const bad of ['', './', '../x', 'a/../b', 'a//b', 'a\\b', 'a\u0001', 'x/'.repeat(40) + 'y']) assert.equal(normaliseName(bad), null, JSON.stringify(bad));
  });
});
