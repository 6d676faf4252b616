/**
 * Issue 16 through the built CLI (`npm run build` first): `quickcmd run --file LOCAL[:REMOTE]
 * --artifact PATH --download DIR -- CMD` against a real agent on the real engine; fan-out
 * writes DIR/<agent>/...; a planted symlink in DIR is replaced, never followed; a remote
 * path that breaks the rules is a usage error before anything is sent.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { run, type RunResult } from '../helpers/exec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/cmd/quickcmd.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-cli-files-'));

function cli(args: readonly string[]): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUICKCMD_')) env[k] = v;
  return run(process.execPath, [bin, ...args], { cwd: work, env: { ...env, HOME: work, NO_COLOR: '1' }, timeoutMs: 120_000 });
}

function conn(a: TestAgent, url = a.url): string[] {
  return ['--controller-id', a.controllerId, '--secret-file', a.secretFile, '--ca-file', a.pki.caCert, '--agent', url];
}

const sha = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');

describe('quickcmd run --file/--artifact/--download (built CLI, real engine)', { timeout: 300_000 }, () => {
  let a: TestAgent;
  before(async () => {
    assert.ok(fs.existsSync(bin), 'npm run build first');
    await requireDocker();
    a = await startTestAgent();
    fs.writeFileSync(path.join(work, 'data.csv'), 'n\n1\n2\n3\n');
    fs.writeFileSync(path.join(work, 'count.sh'), '#!/bin/sh\nwc -l < "$1"\n', { mode: 0o755 });
  });
  after(async () => {
    await a?.stop();
  });

  it('sends the files, runs, downloads the artifacts checked against their SHA-256, and exits with the job code', async () => {
    const dir = path.join(work, 'out1');
    const r = await cli(['run', ...conn(a), '--file', 'data.csv:in/data.csv', '--file', 'count.sh', '--artifact', 'out', '--download', dir, '--', 'mkdir -p out/sub && stat -c "%a %n" count.sh in/data.csv && sh count.sh in/data.csv > out/lines.txt && cp in/data.csv out/sub/copy.csv; exit 4']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stdout, /755 count\.sh\n644 in\/data\.csv/);
    assert.equal(fs.readFileSync(path.join(dir, 'out/lines.txt'), 'utf8').trim(), '4');
    assert.equal(sha(fs.readFileSync(path.join(dir, 'out/sub/copy.csv'))), sha('n\n1\n2\n3\n'));
  });

  it('replaces a symlink planted in DIR instead of writing through it, and refuses a bad remote path before sending', async () => {
    const dir = path.join(work, 'out2');
    const victim = path.join(work, 'victim.txt');
    fs.writeFileSync(victim, 'untouched');
    fs.mkdirSync(dir);
    fs.symlinkSync(victim, path.join(dir, 'r.txt'));
    fs.symlinkSync('/etc', path.join(dir, 'sub'));
    const r = await cli(['run', ...conn(a), '--artifact', 'r.txt', '--artifact', 'sub', '--download', dir, '--', 'echo new > r.txt; mkdir sub; echo x > sub/passwd']);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched', 'the symlink target was not written');
    assert.equal(fs.lstatSync(path.join(dir, 'r.txt')).isSymbolicLink(), false);
    assert.equal(fs.readFileSync(path.join(dir, 'r.txt'), 'utf8'), 'new\n');
    assert.equal(r.code, 1, 'a refused write fails the run');
    assert.match(r.stderr, /sub exists and is not a directory \(a symlink is never followed\)/);

    const bad = await cli(['run', ...conn(a), '--file', 'data.csv:../escape.csv', '--', 'true']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /remote path "\.\.\/escape\.csv" has a "\.\." component/);
  });

  it('fan-out writes DIR/<agent>/...', async () => {
    const dir = path.join(work, 'out3');
    const url2 = a.url.replace('127.0.0.1', 'localhost');
    const r = await cli(['run', '--controller-id', a.controllerId, '--secret-file', a.secretFile, '--ca-file', a.pki.caCert, '--agents', `${a.url},${url2}`, '--artifact', 'who.txt', '--download', dir, '--', 'hostname > who.txt']);
    assert.equal(r.code, 0, r.stderr);
    const agents = fs.readdirSync(dir).sort();
    assert.equal(agents.length, 2, agents.join(','));
    for (const d of agents) assert.ok(fs.statSync(path.join(dir, d, 'who.txt')).size > 0, d);
  });
});
