/**
 * `--download` on a terminal (issue 16): over 1 MiB in all, a progress line counts files and
 * MiB and is cleared at the end; not on a pipe, and not for small downloads. The artifact
 * source is a narrow in-memory stand-in (the real agent path is tested in cli-files); the
 * files are really written and checked against their SHA-256.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { downloadArtifacts, type ArtifactDownload, type ArtifactInfo } from '../../internal/controller/job-files.js';

function artifact(p: string, size: number): ArtifactDownload {
  const data = crypto.randomBytes(size);
  return { path: p, size, sha256: crypto.createHash('sha256').update(data).digest('hex'), data };
}

function source(items: readonly ArtifactDownload[]): { name: string; artifact(jobId: string, p: string): Promise<ArtifactDownload> } {
  return { name: 'web1', artifact: async (_id, p) => items.find((a) => a.path === p) as ArtifactDownload };
}

async function download(items: readonly ArtifactDownload[], isTTY: boolean): Promise<{ err: string; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-progress-'));
  let err = '';
  const list: ArtifactInfo[] = items.map(({ path: p, size, sha256 }) => ({ path: p, size, sha256 }));
  const n = await downloadArtifacts(source(items), 'job-1', list, dir, { isTTY, write: (s: string) => (err += s) });
  assert.equal(n, items.length);
  for (const a of items) assert.deepEqual(fs.readFileSync(path.join(dir, a.path)), a.data);
  return { err, dir };
}

describe('download progress', () => {
  const big = [artifact('out/a.bin', 700_000), artifact('out/b.bin', 700_000)];

  it('shows files and MiB on a terminal when over 1 MiB, and clears the line at the end', async () => {
    const { err } = await download(big, true);
    assert.match(err, /\r\x1b\[Kweb1: artifacts 1\/2, 0\.7\/1\.3 MiB/);
    assert.match(err, /\r\x1b\[Kweb1: artifacts 2\/2, 1\.3\/1\.3 MiB/);
    assert.ok(err.endsWith('\r\x1b[K'), JSON.stringify(err.slice(-20)));
  });

  it('prints nothing on a pipe, or for 1 MiB or less', async () => {
    assert.equal((await download(big, false)).err, '');
    assert.equal((await download([artifact('small.txt', 1024)], true)).err, '');
  });
});
