/**
 * Restart recovery (SPEC §5): the built daemon is SIGKILLed mid-job and started again on
 * the same config and database; the job is re-adopted and its output is complete with
 * nothing duplicated. The reconciler removes this agent's stray containers at start,
 * never touches another agent's, and fails a running job whose container vanished while
 * the agent was down. Real Docker, real SQLite, real HTTPS. Run `npm run build` first.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Dockerode from 'dockerode';
import { openDatabase } from '../../internal/audit/database.js';
import { LABEL_AGENT, LABEL_JOB } from '../../internal/sandbox/labels.js';
import { freePort, prepareAgentDir, spawnAgent, startTestAgent, type SpawnedAgent, type TestAgent } from '../helpers/agent.js';
import { status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { until } from '../helpers/wait.js';
import { removeLabelled, requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { requireRuntime, RUNTIMES_UNDER_TEST } from '../helpers/runtimes.js';

const DAEMON = path.resolve('dist/cmd/quickcmd-agent.js');

interface Result {
  status: string;
  exit_code: number | null;
  stdout: string;
  stderr: string;
  error: string | null;
  sandbox_id: string | null;
  start_time: string | null;
}

function targetOf(x: { url: string; pki: { caCert: string }; secret: string; controllerId: string }): ClientTarget {
  return { url: x.url, caFile: x.pki.caCert, secret: x.secret, controllerId: x.controllerId };
}


/** Read from the agent's database without writing (WAL allows a reader next to the daemon). */
function readDb<T>(dbPath: string, fn: (db: ReturnType<typeof openDatabase>) => T): T {
  const db = openDatabase(dbPath, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function storedStdout(dbPath: string, jobId: string): string {
  return readDb(dbPath, (db) => {
    const rows = db.prepare("SELECT data FROM job_output WHERE job_id = ? AND stream = 'stdout' ORDER BY seq").all(jobId) as { data: Buffer }[];
    return Buffer.concat(rows.map((r) => r.data)).toString('utf8');
  });
}

function agentIdOf(dbPath: string): string {
  return readDb(dbPath, (db) => (db.prepare("SELECT value FROM agent_meta WHERE key = 'agent_id'").get() as { value: string }).value);
}

function labelled(docker: Dockerode, agentId: string, all = true): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all, filters: { label: [`${LABEL_AGENT}=${agentId}`] } });
}

async function noContainersLeft(docker: Dockerode, agentId: string): Promise<void> {
  await until(`no container labelled ${agentId}`, async () => ((await labelled(docker, agentId)).length === 0 ? true : undefined), 15_000, 50);
}

/** Stop a spawned daemon for good (SIGKILL); resolves once it is gone. */
async function kill(a: SpawnedAgent | undefined): Promise<void> {
  if (a === undefined || a.child.exitCode !== null || a.child.signalCode !== null) return;
  a.child.kill('SIGKILL');
  await a.exited;
}

// Once per runtime (SPEC §14): a gVisor sandbox outlives the agent and is re-adopted the same way.
for (const runtime of RUNTIMES_UNDER_TEST) {
describe(runtime === 'runc' ? 'recovery after SIGKILL of the daemon' : `recovery after SIGKILL of the daemon under ${runtime}`, () => {
  let docker: Dockerode;
  let first: SpawnedAgent | undefined;
  let second: SpawnedAgent | undefined;
  let dir: string | undefined;
  let agentId: string | undefined;

  before(async () => {
    docker = await requireDocker();
    await requireRuntime(docker, runtime);
    assert.ok(fs.existsSync(DAEMON), `${DAEMON} is missing: run npm run build`);
  });

  after(async () => {
    await kill(first);
    await kill(second);
    if (agentId !== undefined) await removeLabelled(docker, LABEL_AGENT, agentId);
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('re-adopts a running job: stdout is exactly before\\nafter\\n and no container is left', async () => {
    const port = await freePort();
    const env = prepareAgentDir({ port, shutdown_grace_seconds: 5, log_level: 'info', ...(runtime === 'runc' ? {} : { allowed_runtimes: ['runc', runtime], default_runtime: runtime }) });
    dir = env.dir;
    first = await spawnAgent(env, port);
    const t = targetOf(first);
    agentId = agentIdOf(env.dbPath);

    const { reply, payload } = await submit(t, { command: 'echo before; sleep 20; echo after' });
    assert.equal(reply.status, 202, reply.text);
    const jobId = payload.jobId;
    await until('job running', async () => ((await status(t, jobId)).json()['status'] === 'running' ? true : undefined));
    await until('"before" stored', () => (storedStdout(env.dbPath, jobId) === 'before\n' ? true : undefined));

    first.child.kill('SIGKILL');
    await first.exited;
    const [container] = await labelled(docker, agentId, false);
    if (container === undefined) {
      const all = await labelled(docker, agentId, true);
      const states = await Promise.all(all.map(async (c) => ({ id: c.Id.slice(0, 12), job: c.Labels[LABEL_JOB], status: c.Status, state: (await docker.getContainer(c.Id).inspect()).State })));
      assert.fail(`the container outlives the killed agent; containers of ${agentId}: ${JSON.stringify(states)}; stored stdout ${JSON.stringify(storedStdout(env.dbPath, jobId))}; agent log: ${first.output().slice(-4000)}`);
    }
    assert.equal(container.Labels[LABEL_JOB], jobId);
    assert.equal((await docker.getContainer(container.Id).inspect()).HostConfig.Runtime, runtime);
    assert.equal(readDb(env.dbPath, (db) => (db.prepare('SELECT status FROM jobs WHERE job_id = ?').get(jobId) as { status: string }).status), 'running');

    second = await spawnAgent(env, port);
    const stillRunning = (await docker.getContainer(container.Id).inspect()).State.Running;
    const body = await waitForEnd(targetOf(second), jobId, 60_000);
    const r = body['result'] as Result;
    assert.equal(r.status, 'completed', JSON.stringify(r));
    assert.equal(r.exit_code, 0);
    assert.equal(r.stdout, 'before\nafter\n', 'nothing lost, nothing duplicated');
    assert.equal(r.stderr, '');
    assert.equal(r.sandbox_id, container.Id, 'the same container was followed');
    assert.equal(agentIdOf(env.dbPath), agentId);
    await noContainersLeft(docker, agentId);
    console.log(`# re-adopted container was ${stillRunning ? 'still running' : 'already exited'} when the new agent started`);
  });
});
}

describe('reconciliation at start', () => {
  let docker: Dockerode;
  let a: TestAgent | undefined;
  let b: TestAgent | undefined;
  const foreign: string[] = [];
  let agentId: string | undefined;

  before(async () => {
    docker = await requireDocker();
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    for (const id of foreign) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
    if (agentId !== undefined) await removeLabelled(docker, LABEL_AGENT, agentId);
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
  });

  async function make(labels: Record<string, string>, startIt: boolean): Promise<string> {
    const c = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '300'],
      Labels: labels,
      HostConfig: { NetworkMode: 'none', AutoRemove: false },
    });
    if (startIt) await c.start();
    return c.id;
  }

  async function exists(id: string): Promise<boolean> {
    try {
      await docker.getContainer(id).inspect();
      return true;
    } catch {
      return false;
    }
  }

  it("removes this agent's containers whose job is not running, leaves another agent's alone", async () => {
    a = await startTestAgent();
    agentId = a.agent.agentId;
    const done = await submit(targetOf(a), { command: 'echo finished' });
    assert.equal(done.reply.status, 202);
    const doneResult = (await waitForEnd(targetOf(a), done.payload.jobId))['result'] as Result;
    assert.equal(doneResult.status, 'completed');
    await a.stop();

    const otherMade = make({ [LABEL_AGENT]: 'other-agent', [LABEL_JOB]: done.payload.jobId }, true).then((id) => {
      foreign.push(id);
      return id;
    });
    const strays = await Promise.all([
      make({ [LABEL_AGENT]: agentId, [LABEL_JOB]: done.payload.jobId }, true), // job finished
      make({ [LABEL_AGENT]: agentId, [LABEL_JOB]: 'job-never-accepted' }, true), // unknown job
      make({ [LABEL_AGENT]: agentId, [LABEL_JOB]: 'job-created-only' }, false), // never started
      make({ [LABEL_AGENT]: agentId }, true), // no job label
    ]);
    const other = await otherMade;
    assert.equal((await labelled(docker, agentId)).length, strays.length);

    b = await startTestAgent({}, {}, { dir: a.dir, pki: a.pki, secret: a.secret });
    assert.equal(b.agent.agentId, agentId);
    // start() reconciles before it returns.
    for (const id of strays) assert.equal(await exists(id), false, `stray ${id.slice(0, 12)} was removed`);
    assert.equal((await labelled(docker, agentId)).length, 0);
    const o = await docker.getContainer(other).inspect();
    assert.equal(o.State.Running, true, "another agent's container keeps running");
    // The finished job is untouched by the stray container of the same id.
    const again = (await waitForEnd(targetOf(b), done.payload.jobId, 5_000))['result'] as Result;
    assert.deepEqual(again, doneResult);
  });
});

describe('a running job whose container vanished while the agent was down', () => {
  let docker: Dockerode;
  let a: TestAgent | undefined;
  let b: TestAgent | undefined;
  let agentId: string | undefined;

  before(async () => {
    docker = await requireDocker();
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    if (agentId !== undefined) await removeLabelled(docker, LABEL_AGENT, agentId);
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
  });

  it('ends failed with an error saying the container vanished', async () => {
    a = await startTestAgent();
    agentId = a.agent.agentId;
    const { reply, payload } = await submit(targetOf(a), { command: 'echo partial; sleep 60' });
    assert.equal(reply.status, 202);
    const id = agentId;
    const container = await until('container running', async () => (await labelled(docker, id, false))[0]);
    await until('"partial" stored', () => (storedStdout(a?.dbPath as string, payload.jobId) === 'partial\n' ? true : undefined));
    await a.stop(); // fast close: the job stays running for the next start
    await docker.getContainer(container.Id).remove({ force: true });

    b = await startTestAgent({}, {}, { dir: a.dir, pki: a.pki, secret: a.secret });
    const body = await waitForEnd(targetOf(b), payload.jobId, 10_000);
    const r = body['result'] as Result;
    assert.equal(r.status, 'failed');
    assert.match(r.error ?? '', /container vanished/);
    assert.equal(r.exit_code, null);
    assert.equal(r.stdout, 'partial\n', 'output stored before the loss is kept');
    assert.equal(b.agent.manager.running, 0);
  });
});
