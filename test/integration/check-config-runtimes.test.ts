/**
 * `quickcmd agent check-config` checks exactly what a start checks, the engine included
 * (SPEC §14, issue 12): every `allowed_runtimes` entry must be listed by the engine's
 * `docker info`, else exit 2 naming the key and the runtime; through the built CLI against
 * the real engines: the shared one (runc and runsc) and a private dockerd without runsc
 * (test/helpers/engine.ts). An engine that does not answer is a warning, as at a start.
 * Run `npm run build` first.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { startPrivateEngine, type PrivateEngine } from '../helpers/engine.js';
import { run, type RunResult } from '../helpers/exec.js';
import { requireRuntime } from '../helpers/runtimes.js';

const CLI = path.resolve('dist/cmd/quickcmd.js');

describe('check-config asks the engine for its runtimes', { timeout: 180_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-check-runtimes-'));
  let bare: PrivateEngine | undefined;

  /** A valid config file allowing `runtimes`. */
  function config(name: string, runtimes: readonly string[]): string {
    const f = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(f, stringify({ insecure_http: true, hmac_secret: 'k'.repeat(32), allowed_runtimes: runtimes, default_runtime: 'runc' }), { mode: 0o600 });
    return f;
  }

  /** The built CLI with a clean environment (no QUICKCMD_*) and DOCKER_HOST when given. */
  function checkConfig(file: string, dockerHost?: string): Promise<RunResult> {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUICKCMD_') && k !== 'DOCKER_HOST'));
    return run(process.execPath, [CLI, 'agent', 'check-config', '--config', file], { env: { ...env, ...(dockerHost === undefined ? {} : { DOCKER_HOST: dockerHost }) }, timeoutMs: 60_000 });
  }

  before(async () => {
    assert.ok(fs.existsSync(CLI), `${CLI} is missing: run npm run build`);
    await requireRuntime(await requireDocker(), 'runsc');
    bare = await startPrivateEngine({ images: [TEST_IMAGE], daemonConfig: {} });
    const listed = Object.keys(((await bare.docker.info()) as { Runtimes?: object }).Runtimes ?? {});
    assert.ok(!listed.includes('runsc'), `the private engine must not have runsc (it lists ${listed.join(', ')})`);
  });

  after(async () => {
    await bare?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runc and runsc on the shared engine (both listed): exit 0, and it says they are listed', async () => {
    const r = await checkConfig(config('both', ['runc', 'runsc']));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: .* is valid \(.*; runtimes runc, runsc listed by the Docker engine\)\n$/);
    assert.equal(r.stderr, '');
  });

  it('runsc allowed on an engine that does not list it: exit 2 naming allowed_runtimes and runsc', async () => {
    const r = await checkConfig(config('both-bare', ['runc', 'runsc']), `unix://${bare?.socketPath}`);
    assert.equal(r.code, 2, `exit 2, got ${r.code}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^config: allowed_runtimes: runtime runsc is not registered with the Docker engine \(it lists [^)]*runc[^)]*\)/);
    assert.equal(r.stdout, '', 'no "ok" line');
  });

  it('only runc allowed on the engine without runsc: exit 0', async () => {
    const r = await checkConfig(config('runc-bare', ['runc']), `unix://${bare?.socketPath}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /runtimes runc listed by the Docker engine\)\n$/);
  });

  it('an engine that does not answer: exit 0 with a warning (a start starts too, and checks each container)', async () => {
    const r = await checkConfig(config('down', ['runc', 'runsc']), `unix://${path.join(dir, 'no-engine.sock')}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /runtimes not checked: the Docker engine did not answer\)\n$/);
    assert.match(r.stderr, /^warning: cannot ask the Docker engine for its runtimes \(docker engine unavailable .*\); a start checks again\n$/);
  });
});
