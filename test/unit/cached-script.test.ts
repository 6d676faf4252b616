/**
 * The daemon's launcher (internal/shared/cached-script.ts): a CommonJS bundle runs the same
 * with or without V8's code cache; a cache is written only when asked, used when it matches
 * the source and the flags, and never used for another source, even one of the same length
 * (V8's own check looks at the length only), nor when V8 rejects it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { cacheFileOf, compileCached, nodeFlags } from '../../internal/shared/cached-script.js';

/** A bundle that exports what a CommonJS module sees, and a value of its own. */
function bundleSource(value: string): string {
  return [
    '#!/usr/bin/env node',
    "const path = require('node:path');",
    `const value = ${JSON.stringify(value)};`,
    'function work(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return s; }',
    'module.exports = { value, work: work(10), file: path.basename(__filename), dir: __dirname, same: module.exports === exports, resolve: typeof require.resolve };',
    "if (process.env.QC_PRINT === '1') process.stdout.write(JSON.stringify(module.exports));",
  ].join('\n');
}

function tmpBundle(value: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-cached-script-'));
  const file = path.join(dir, 'bundle.cjs');
  fs.writeFileSync(file, bundleSource(value));
  return file;
}

const cachesIn = (file: string): string[] => fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith('.v8cache'));

/**
 * Run `file` in a child process that writes its cache at exit (as the build step does), and
 * return what it printed. In a child, because this process's own compilation cache would
 * answer a second compile of a source it has already seen without looking at the file.
 */
function runWritingCache(file: string): unknown {
  const lib = pathToFileURL(path.resolve('internal/shared/cached-script.ts')).href;
  const script = `import { compileCached } from ${JSON.stringify(lib)}; compileCached(${JSON.stringify(file)}, { writeCache: true }).run();`;
  const printed = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, NODE_OPTIONS: process.env['NODE_OPTIONS'] ?? '', QC_PRINT: '1' }, encoding: 'utf8' });
  return JSON.parse(printed) as unknown;
}

test('a bundle runs as a CommonJS module (hashbang, require, __filename, __dirname, exports) without a cache, and nothing is written unless asked', () => {
  const file = tmpBundle('one');
  const c = compileCached(file);
  assert.equal(c.use, 'none');
  assert.deepEqual(c.run(), { value: 'one', work: 45, file: 'bundle.cjs', dir: path.dirname(file), same: true, resolve: 'function' });
  assert.deepEqual(cachesIn(file), []);
});

test('a cache written at exit is used by the next compile, which runs the same; saveCache writes one too', () => {
  const file = tmpBundle('two');
  const out = runWritingCache(file);
  assert.deepEqual(cachesIn(file), [path.basename(cacheFileOf(file))]);
  assert.ok(fs.statSync(cacheFileOf(file)).size > 32);
  const again = compileCached(file);
  assert.equal(again.use, 'used');
  assert.deepEqual(again.run(), out);
  fs.rmSync(cacheFileOf(file));
  again.saveCache();
  assert.equal(compileCached(file).use, 'used');
});

test('a cache of another source of the same length is never used (stale), and the new source runs', () => {
  const file = tmpBundle('aaa');
  compileCached(file).saveCache();
  fs.writeFileSync(file, bundleSource('bbb'));
  const c = compileCached(file);
  assert.equal(c.use, 'stale');
  assert.equal((c.run() as { value: string }).value, 'bbb');
});

test('a cache V8 rejects (wrong bytes behind the right hash) costs only the compile', () => {
  const file = tmpBundle('three');
  runWritingCache(file);
  const cache = cacheFileOf(file);
  const raw = fs.readFileSync(cache);
  fs.writeFileSync(cache, Buffer.concat([raw.subarray(0, 32), Buffer.alloc(raw.length - 32, 7)]));
  const c = compileCached(file);
  assert.equal(c.use, 'rejected');
  assert.equal((c.run() as { value: string }).value, 'three');
});

test('heap flags get a cache file of their own; profiler flags and preloads do not', () => {
  assert.deepEqual(nodeFlags(['--cpu-prof', '--cpu-prof-dir=/x', '--import', 'tsx', '--input-type=module', '--max_old_space_size=300'], ' --max-semi-space-size=1 '), ['--max-old-space-size=300', '--max-semi-space-size=1']);
  assert.notEqual(cacheFileOf('/a/b.cjs', []), cacheFileOf('/a/b.cjs', ['--max-semi-space-size=1']));
  assert.equal(cacheFileOf('/a/b.cjs', ['--x']), cacheFileOf('/a/b.cjs', ['--x']));
});
