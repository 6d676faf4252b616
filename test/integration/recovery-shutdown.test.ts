/**
 * Graceful shutdown of the built daemon (SIGTERM): running jobs get shutdown_grace_seconds
 * to finish, then are stopped and recorded failed ("agent shutdown"); pending jobs stay
 * pending and run after the next start; the daemon exits 0. Results are read back over
 * the API from the next start on the same config and database. Run `npm run build` first.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Dockerode from 'dockerode';
import { openDatabase } from '../../internal/audit/database.js';
import { LABEL_AGENT } from '../../internal/sandbox/labels.js';
import { freePort, prepareAgentDir, spawnAgent, type SpawnedAgent } from '../helpers/agent.js';
import { status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { until } from '../helpers/wait.js';
import { removeLabelled, requireDocker } from '../helpers/docker.js';

const DAEMON = path.resolve('dist/cmd/quickcmd-agent.js');

interface Result {
  status: string;
  exit_code: number | null;
  stdout: string;
  error: string | null;
  start_time: string | null;
}

function targetOf(x: SpawnedAgent): ClientTarget {
  return { url: x.url, caFile: x.pki.caCert, secret: x.secret, controllerId: x.controllerId };
}


function readDb<T>(dbPath: string, fn: (db: ReturnType<typeof openDatabase>) => T): T {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function storedStatus(dbPath: string, jobId: string): string {
  return readDb(dbPath, (db) => (db.prepare('SELECT status FROM jobs WHERE job_id = ?').get(jobId) as { status: string }).status);
}

function agentIdOf(dbPath: string): string {
  return readDb(dbPath, (db) => (db.prepare("SELECT value FROM agent_meta WHERE key = 'agent_id'").get() as { value: string }).value);
}

async function running(t: ClientTarget, jobId: string): Promise<void> {
  await until(`${jobId} running`, async () => ((await status(t, jobId)).json()['status'] === 'running' ? true : undefined));
}

async function startJob(t: ClientTarget, command: string): Promise<string> {
  const { reply, payload } = await submit(t, { command });
  assert.equal(reply.status, 202, reply.text);
  return payload.jobId;
}

/** Resolves with the exit code, or rejects if the daemon is still up after `ms`. */
async function exitWithin(a: SpawnedAgent, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`daemon still running after ${ms} ms:\n${a.output()}`)), ms);
  });
  try {
    return await Promise.race([a.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('graceful shutdown (SIGTERM)', () => {
  let docker: Dockerode;
  const daemons: SpawnedAgent[] = [];
  const dirs: string[] = [];
  const agentIds: string[] = [];

  before(async () => {
    docker = await requireDocker();
    assert.ok(fs.existsSync(DAEMON), `${DAEMON} is missing: run npm run build`);
  });

  after(async () => {
    for (const d of daemons) {
      if (d.child.exitCode === null && d.child.signalCode === null) {
        d.child.kill('SIGKILL');
        await d.exited;
      }
    }
    for (const id of agentIds) await removeLabelled(docker, LABEL_AGENT, id);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  async function boot(overrides: Record<string, unknown>, reuse?: { dir: string; pki: SpawnedAgent['pki']; secret: string }): Promise<SpawnedAgent> {
    const port = await freePort();
    const env = prepareAgentDir({ port, log_level: 'info', ...overrides }, reuse);
    if (reuse === undefined) dirs.push(env.dir);
    const a = await spawnAgent(env, port);
    daemons.push(a);
    if (!agentIds.includes(agentIdOf(env.dbPath))) agentIds.push(agentIdOf(env.dbPath));
    return a;
  }

  it('lets a running job finish within the grace period, refuses new jobs meanwhile, exits 0', async () => {
    const a = await boot({ shutdown_grace_seconds: 10 });
    const t = targetOf(a);
    const jobId = await startJob(t, 'sleep 2; echo done');
    await running(t, jobId);
    a.child.kill('SIGTERM');
    // While draining, the door is closed but the server still answers.
    const late = await until('SHUTTING_DOWN', async () => {
      const { reply } = await submit(t, { command: 'true' });
      return reply.status === 503 ? reply : undefined;
    }, 5_000);
    assert.equal(late.json()['code'], 'SHUTTING_DOWN');
    assert.equal(await exitWithin(a, 20_000), 0);
    assert.equal(storedStatus(a.dbPath, jobId), 'completed');
    assert.match(a.output(), /agent.stopped|stopping/);

    const b = await boot({ shutdown_grace_seconds: 10 }, { dir: a.dir, pki: a.pki, secret: a.secret });
    const r = (await waitForEnd(targetOf(b), jobId, 5_000))['result'] as Result;
    assert.equal(r.status, 'completed');
    assert.equal(r.exit_code, 0);
    assert.equal(r.stdout, 'done\n');
    b.child.kill('SIGTERM');
    assert.equal(await exitWithin(b, 20_000), 0);
  });

  it('stops a job that outlives the grace period (failed, agent shutdown) and keeps a pending one for the next start', async () => {
    const a = await boot({ shutdown_grace_seconds: 1, max_concurrent_jobs: 1 });
    const t = targetOf(a);
    const long = await startJob(t, 'echo long; sleep 60');
    await running(t, long);
    const waiting = await startJob(t, 'echo pending-ran');
    assert.equal((await status(t, waiting)).json()['status'], 'pending');
    const t0 = Date.now();
    a.child.kill('SIGTERM');
    assert.equal(await exitWithin(a, 20_000), 0);
    const stopMs = Date.now() - t0;
    // 1 s grace + 2 s SIGTERM→SIGKILL of the container + overhead; nowhere near the 60 s sleep.
    assert.ok(stopMs < 15_000, `shutdown took ${stopMs} ms`);
    assert.equal(storedStatus(a.dbPath, long), 'failed');
    assert.equal(storedStatus(a.dbPath, waiting), 'pending', 'the pending job was neither started nor dropped');
    const agentId = agentIdOf(a.dbPath);
    await until('container removed', async () => ((await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agentId}`] } })).length === 0 ? true : undefined), 10_000);

    const b = await boot({ shutdown_grace_seconds: 1, max_concurrent_jobs: 1 }, { dir: a.dir, pki: a.pki, secret: a.secret });
    const rLong = (await waitForEnd(targetOf(b), long, 5_000))['result'] as Result;
    assert.equal(rLong.status, 'failed');
    assert.match(rLong.error ?? '', /agent shutdown/);
    assert.equal(rLong.stdout, 'long\n');
    const rWaiting = (await waitForEnd(targetOf(b), waiting, 30_000))['result'] as Result;
    assert.equal(rWaiting.status, 'completed');
    assert.equal(rWaiting.stdout, 'pending-ran\n');
    assert.ok(rWaiting.start_time !== null);
    b.child.kill('SIGTERM');
    assert.equal(await exitWithin(b, 20_000), 0);
  });
});
