/**
 * The README's quick-start command, run as a newcomer would: `npm run demo -- --exit` on a
 * copy of this checkout (its own build output and .dev folder, the same node_modules), on
 * a free loopback port. It must prepare Docker, build, write the dev config, start the
 * agent and stream the demo job through the CLI.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/agent.js';

test('README names the two commands', () => {
  const readme = fs.readFileSync('README.md', 'utf8');
  assert.match(readme, /^npm run demo\b/m);
  assert.match(readme, /^npm test\b/m);
  assert.match(fs.readFileSync('.ci/run', 'utf8'), /^npm test$/m, '.ci/run runs the README test command');
});

test('npm run demo -- --exit streams the demo job and exits 0', async (t) => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-readme-'));
  t.after(() => fs.rmSync(copy, { recursive: true, force: true }));
  const tar = spawnSync('bash', ['-c', `tar -C "$1" --exclude=./node_modules --exclude=./dist --exclude=./.dev --exclude=./.git -cf - . | tar -C "$2" -xf -`, '_', process.cwd(), copy]);
  assert.equal(tar.status, 0, String(tar.stderr));
  fs.symlinkSync(path.resolve('node_modules'), path.join(copy, 'node_modules'));
  const port = await freePort();
  const child = spawn('npm', ['run', 'demo', '--', '--exit'], { cwd: copy, env: { ...process.env, QUICKCMD_DEMO_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 0, `demo failed:\n${out}\n${err}`);
  assert.match(out, /tick 1\ntick 2\ntick 3\n/);
  assert.match(out, /uid=65534\(nobody\)/);
  assert.match(err, /the job exited with 0/);
  assert.ok(fs.existsSync(path.join(copy, '.dev', 'agent-config.yaml')), 'the dev config is written into .dev');
  assert.equal(fs.statSync(path.join(copy, '.dev', 'hmac-secret')).mode & 0o777, 0o600);
});
