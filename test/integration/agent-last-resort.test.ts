/**
 * Issue 12: the daemon's last-resort handlers. A rejection nobody handles and an exception
 * nobody catches (planted by a preload, test/helpers/plant-fault.ts, into the real daemon
 * entry point) are logged as one fatal JSON line and the process exits 1, so the service
 * manager restarts it; nothing dies silently or lingers half-broken.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { prepareAgentDir } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';

describe('daemon last-resort handlers', { timeout: 90_000 }, () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  for (const kind of ['rejection', 'exception'] as const) {
    it(`an unhandled ${kind} is logged as one fatal JSON line and the daemon exits 1`, async () => {
      await requireDocker();
      const env = prepareAgentDir({ log_level: 'info' });
      dirs.push(env.dir);
      const child = spawn(process.execPath, ['--import', 'tsx', '--import', path.resolve('test/helpers/plant-fault.ts'), path.resolve('cmd/quickcmd-agent.ts'), '--config', env.configPath], {
        env: { ...process.env, QUICKCMD_TEST_PLANT: kind },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
      assert.equal(code, 1, `${out}\n${err}`);
      assert.match(out, /agent listening/, 'the fault came after the start');
      const fatal = out.split('\n').filter((l) => l.includes('"level":"fatal"')).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(fatal.length, 1, out);
      assert.equal(fatal[0]?.['kind'], kind === 'rejection' ? 'unhandled rejection' : 'uncaught exception');
      assert.equal((fatal[0]?.['err'] as Record<string, unknown>)['message'], `planted ${kind}`);
    });
  }
});
