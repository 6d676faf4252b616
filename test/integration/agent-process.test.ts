/**
 * The built daemon as a process (SPEC §2 environment and SIGHUP): Go-style `-config`,
 * QUICKCMD_CONFIG and QUICKCMD_HMAC_SECRET; a valid new config on SIGHUP replaces
 * controllers, secrets and limits without a restart or dropping a running job; an invalid
 * one is logged naming the key and the old one stays; SIGTERM/SIGINT exit 0 after a
 * graceful stop. (Run `npm run build` first.)
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { freePort, prepareAgentDir, type ConfigOverrides } from '../helpers/agent.js';
import { request, status, submit, waitForEnd, waitForStatus, type ClientTarget } from '../helpers/client.js';

const AGENT = path.resolve('dist/cmd/quickcmd-agent.js');

interface Daemon {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the output matches `re` (checked on every chunk); rejects if the process exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

function startDaemon(args: string[], env: Record<string, string>): Daemon {
  assert.ok(fs.existsSync(AGENT), 'run `npm run build` before this test');
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUICKCMD_')));
  const child = spawn(process.execPath, [AGENT, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (c: Buffer): void => {
    out += c.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const waitFor = (re: RegExp, timeoutMs = 60_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!re.test(out)) return false;
        cleanup();
        resolve();
        return true;
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`daemon exited (${code}) before ${re}: ${out}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${re}: ${out}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        child.stderr?.off('data', check);
        child.off('exit', onExit);
      };
      if (check()) return;
      child.stdout?.on('data', check);
      child.stderr?.on('data', check);
      child.once('exit', onExit);
    });
  return { child, output: () => out, waitFor, exited };
}

test('Go-style -config; SIGHUP applies a valid config and keeps the old one on an invalid one; SIGTERM exits 0', async () => {
  const port = await freePort();
  const common: ConfigOverrides = { port, log_level: 'info' };
  const env = prepareAgentDir(common);
  const reuse = { dir: env.dir, pki: env.pki, secret: env.secret };
  const daemon = startDaemon(['-config', env.configPath], {});
  try {
    await daemon.waitFor(/agent listening/);
    const url = `https://127.0.0.1:${port}`;
    const c1: ClientTarget = { url, caFile: env.pki.caCert, secret: env.secret, controllerId: env.controllerId };
    const ci2: ClientTarget = { ...c1, controllerId: 'ci2', secret: crypto.randomBytes(32).toString('hex') };

    const before = await submit(c1, { command: 'true' });
    assert.equal(before.reply.status, 202, before.reply.text);
    const unknown = await submit(ci2);
    assert.equal(unknown.reply.status, 401);
    assert.equal(unknown.reply.json()['code'], 'INVALID_SIGNATURE');
    // A body of 5000 bytes is fine under the default max_request_bytes.
    const padded = '{"pad":"' + 'x'.repeat(5000) + '"}';
    assert.equal((await request(c1, 'POST', '/api/v1/jobs', padded, { 'content-type': 'application/json' })).json()['code'], 'INVALID_PAYLOAD');

    // A job running across the reload is not dropped.
    const longRun = await submit(c1, { command: 'sleep 2; echo survived' });
    assert.equal(longRun.reply.status, 202, longRun.reply.text);
    await waitForStatus(c1, longRun.payload.jobId, 'running');

    prepareAgentDir({ ...common, controllers: [{ id: 'ci2', secrets: [ci2.secret], scopes: ['deploy'] }], max_request_bytes: 4096 }, reuse);
    daemon.child.kill('SIGHUP');
    await daemon.waitFor(/configuration reloaded/);

    const added = await submit(ci2, { command: 'true', requiredScopes: ['deploy'] });
    assert.equal(added.reply.status, 202, `the new controller is accepted after HUP: ${added.reply.text}`);
    const tooBig = await request(c1, 'POST', '/api/v1/jobs', padded, { 'content-type': 'application/json' });
    assert.equal(tooBig.status, 413, 'the new max_request_bytes is in force');
    assert.equal(tooBig.json()['code'], 'REQUEST_TOO_LARGE');
    const ended = await waitForEnd(c1, longRun.payload.jobId);
    assert.equal(ended['status'], 'completed');
    assert.equal((ended['result'] as Record<string, unknown>)['stdout'], 'survived\n');

    fs.writeFileSync(env.configPath, `${fs.readFileSync(env.configPath, 'utf8')}\nmax_concurent_jobs: 2\n`);
    daemon.child.kill('SIGHUP');
    await daemon.waitFor(/config reload refused/);
    const line = daemon.output().split('\n').find((l) => l.includes('config reload refused')) ?? '';
    assert.match(line, /config: max_concurent_jobs: unknown key/, 'the log names the bad key');

    const still = await submit(ci2, { command: 'true' });
    assert.equal(still.reply.status, 202, `the old (valid) config stays: ${still.reply.text}`);
    const stillC1 = await submit(c1, { command: 'true' });
    assert.equal(stillC1.reply.status, 202, stillC1.reply.text);
    assert.equal((await request(c1, 'POST', '/api/v1/jobs', padded, { 'content-type': 'application/json' })).status, 413);

    for (const [t, id] of [
      [c1, before.payload.jobId],
      [ci2, added.payload.jobId],
      [ci2, still.payload.jobId],
      [c1, stillC1.payload.jobId],
    ] as const) {
      assert.equal((await waitForEnd(t, id))['status'], 'completed');
    }

    daemon.child.kill('SIGTERM');
    assert.equal(await daemon.exited, 0, daemon.output());
    const db = new Database(env.dbPath, { readonly: true });
    const types = (db.prepare('SELECT type FROM audit_events ORDER BY seq').all() as { type: string }[]).map((r) => r.type);
    db.close();
    assert.equal(types.filter((t) => t === 'config.reloaded').length, 1, 'only the valid reload was applied');
    assert.equal(types.at(-1), 'agent.stopped');
  } finally {
    if (daemon.child.exitCode === null) {
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
  }
});

test('QUICKCMD_CONFIG and QUICKCMD_HMAC_SECRET configure the daemon without flags; SIGINT exits 0', async () => {
  const port = await freePort();
  const env = prepareAgentDir({ port, log_level: 'info' });
  const envSecret = crypto.randomBytes(32).toString('hex');
  const daemon = startDaemon([], { QUICKCMD_CONFIG: env.configPath, QUICKCMD_HMAC_SECRET: envSecret });
  try {
    await daemon.waitFor(/agent listening/);
    const url = `https://127.0.0.1:${port}`;
    const byEnv: ClientTarget = { url, caFile: env.pki.caCert, secret: envSecret, controllerId: env.controllerId };
    const byFile: ClientTarget = { ...byEnv, secret: env.secret };
    const ok = await submit(byEnv, { command: 'true' });
    assert.equal(ok.reply.status, 202, ok.reply.text);
    const refused = await submit(byFile);
    assert.equal(refused.reply.status, 401, 'the file secret is overridden');
    assert.equal(refused.reply.json()['code'], 'INVALID_SIGNATURE');
    assert.equal((await waitForEnd(byEnv, ok.payload.jobId))['status'], 'completed');
    daemon.child.kill('SIGINT');
    assert.equal(await daemon.exited, 0, daemon.output());
  } finally {
    if (daemon.child.exitCode === null) {
      daemon.child.kill('SIGKILL');
      await daemon.exited;
    }
  }
});
