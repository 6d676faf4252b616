/**
 * The built launchers (scripts/bundle.mjs, internal/shared/cached-script.ts): the daemon's
 * and the CLI's bundles compile from the V8 code cache the build made, with Node's default
 * flags and with the systemd unit's NODE_OPTIONS, so nothing set before or during the run
 * (the daemon's heap tuning changes a V8 flag) makes V8 reject it; and a bundle whose
 * cache does not fit still runs. (Run `npm run build` first.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const DIST = path.resolve('dist/cmd');
const unit = fs.readFileSync(path.resolve('deployments/systemd/quickcmd-agent.service'), 'utf8');
const UNIT_OPTIONS = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit)?.[1]?.trim() ?? '';

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUICKCMD_') && k !== 'NODE_OPTIONS'));
  return { ...base, ...extra };
}

function cacheUse(launcher: string, nodeOptions: string): string {
  return execFileSync(process.execPath, [launcher], { env: env({ QUICKCMD_CODE_CACHE_CHECK: '1', NODE_OPTIONS: nodeOptions }), encoding: 'utf8' }).trim();
}

test('the daemon and the CLI compile from the code cache the build made (default flags and the unit\'s NODE_OPTIONS)', () => {
  assert.ok(fs.existsSync(path.join(DIST, 'quickcmd-agent.cjs')), 'run `npm run build` before this test');
  assert.notEqual(UNIT_OPTIONS, '', 'the unit sets NODE_OPTIONS');
  assert.equal(cacheUse(path.join(DIST, 'quickcmd-agent.js'), ''), 'used');
  assert.equal(cacheUse(path.join(DIST, 'quickcmd-agent.js'), UNIT_OPTIONS), 'used');
  assert.equal(cacheUse(path.join(DIST, 'quickcmd.js'), ''), 'used');
});

test('a copy of the built tree whose bundle changed runs without its cache (stale), and one without caches runs too', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-code-cache-'));
  try {
    // The launchers import tsc's output of the cache module: copy both trees.
    fs.cpSync(path.resolve('dist'), path.join(tmp, 'dist'), { recursive: true });
    fs.symlinkSync(path.resolve('node_modules'), path.join(tmp, 'node_modules'));
    fs.copyFileSync(path.resolve('package.json'), path.join(tmp, 'package.json'));
    const cli = path.join(tmp, 'dist/cmd/quickcmd.js');
    const bundle = path.join(tmp, 'dist/cmd/quickcmd.cjs');
    assert.equal(cacheUse(cli, ''), 'used');
    // Same length, other bytes: V8's own check would let this through.
    const src = fs.readFileSync(bundle, 'utf8');
    fs.writeFileSync(bundle, src.replace('QuickCMD: run commands on your hosts', 'QuickCMD: run commands on your HOSTS'));
    assert.equal(fs.statSync(bundle).size, Buffer.byteLength(src));
    assert.equal(cacheUse(cli, ''), 'stale');
    const help = execFileSync(process.execPath, [cli, '--help'], { env: env({}), encoding: 'utf8' });
    assert.match(help, /run commands on your HOSTS/);
    for (const f of fs.readdirSync(path.join(tmp, 'dist/cmd'))) if (f.endsWith('.v8cache')) fs.rmSync(path.join(tmp, 'dist/cmd', f));
    assert.equal(cacheUse(cli, ''), 'none');
    assert.equal(execFileSync(process.execPath, [path.join(tmp, 'dist/cmd/quickcmd-agent.js'), '--version'], { env: env({}), encoding: 'utf8' }).trim(), execFileSync(process.execPath, [cli, '--version'], { env: env({}), encoding: 'utf8' }).trim());
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
