/**
 * The warm pool (warm_pool_size > 0) against the real engine: a pooled job runs with the
 * isolation, output and exit code of a cold one; a warm container is used once and
 * destroyed; the pool refills; jobs that do not fit the profile start cold; close removes
 * idle containers; and a job running in a warm container survives an agent SIGKILL (the
 * new agent adopts it by its stored sandbox_id and removes the old idle ones).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Dockerode from 'dockerode';
import { openDatabase } from '../../internal/audit/database.js';
import { DockerSandbox } from '../../internal/sandbox/docker-sandbox.js';
import { LABEL_AGENT, LABEL_JOB } from '../../internal/sandbox/labels.js';
import type { OutputSink, SandboxSpec, StreamName } from '../../internal/sandbox/sandbox.js';
import { WarmPoolSandbox } from '../../internal/sandbox/warm-pool.js';
import { containerOptions } from '../../internal/sandbox/container-options.js';
import { coldReason, encodeCommand, LABEL_POOL, profileKey, WARM_JOB_LABEL, WARM_MAX_COMMAND_BYTES, WARM_PROTOCOL_EXIT, warmContainerOptions } from '../../internal/sandbox/warm-pool-protocol.js';
import { freePort, prepareAgentDir, spawnAgent, type SpawnedAgent } from '../helpers/agent.js';
import { status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { until } from '../helpers/wait.js';
import { removeLabelled, requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { requireRuntime } from '../helpers/runtimes.js';

/** Collects output per stream. */
class Collect implements OutputSink {
  readonly out: Record<StreamName, Buffer[]> = { stdout: [], stderr: [] };
  write(stream: StreamName, data: Buffer): void {
    this.out[stream].push(data);
  }
  text(stream: StreamName): string {
    return Buffer.concat(this.out[stream]).toString('utf8');
  }
}

const PROFILE = { image: TEST_IMAGE, cpuLimit: 0.5, memoryLimit: 64 * 1024 * 1024, pidsLimit: 32, tmpfsSizeBytes: 8 * 1024 * 1024, sandboxUser: '65534:65534' };


describe('warm pool protocol (pure)', () => {
  const base: SandboxSpec = { ...PROFILE, agentId: 'a', jobId: 'j', command: 'true', env: {} };
  it('frames every line with ":" and ends with "."', () => {
    assert.equal(encodeCommand('echo a\n\necho b\n').toString(), ':echo a\n:\n:echo b\n:\n.\n');
    assert.equal(encodeCommand('').toString(), ':\n.\n');
  });
  it('sends to a warm container only jobs of the profile, without env, NUL or huge commands', () => {
    const key = profileKey(PROFILE);
    assert.equal(coldReason(base, key), null);
    assert.match(String(coldReason({ ...base, env: { A: '1' } }, key)), /environment/);
    assert.match(String(coldReason({ ...base, command: 'a\0b' }, key)), /NUL/);
    assert.match(String(coldReason({ ...base, command: 'x'.repeat(WARM_MAX_COMMAND_BYTES + 1) }, key)), /longer/);
    for (const over of [{ image: 'other:1' }, { cpuLimit: 1 }, { memoryLimit: 1 << 30 }, { pidsLimit: 99 }, { tmpfsSizeBytes: 1 << 20 }, { sandboxUser: '1000:1000' }]) {
      assert.match(String(coldReason({ ...base, ...over }, key)), /profile/, JSON.stringify(over));
    }
  });
  it('differs from a cold container only in PID 1, the open stdin and the labels', () => {
    const warm = warmContainerOptions({ ...PROFILE, agentId: 'a' }, { logMaxBytes: 1 << 27 });
    const cold = containerOptions({ ...base, jobId: WARM_JOB_LABEL }, { logMaxBytes: 1 << 27 });
    assert.deepEqual(warm.HostConfig, cold.HostConfig);
    const strip = (o: typeof warm) => ({ ...o, Cmd: undefined, Labels: undefined, AttachStdin: undefined, OpenStdin: undefined, StdinOnce: undefined });
    assert.deepEqual(strip(warm), strip(cold));
    assert.equal(warm.Labels?.[LABEL_POOL], profileKey(PROFILE));
    assert.deepEqual([warm.OpenStdin, warm.StdinOnce, warm.AttachStdin], [true, true, true]);
  });
});

// SPEC §14: the pool keeps the runtime of its profile; a job of another runtime never takes one.
describe('WarmPoolSandbox per runtime (runsc profile)', () => {
  let docker: Dockerode;
  const agentId = `warm-runsc-${crypto.randomUUID()}`;
  let pool: WarmPoolSandbox;
  const RUNSC = { ...PROFILE, runtime: 'runsc' as const, pidsLimit: 32 };
  const spec = (command: string, over: Partial<SandboxSpec> = {}): SandboxSpec => ({ ...RUNSC, agentId, jobId: `job-${crypto.randomUUID()}`, command, env: {}, ...over });

  before(async () => {
    docker = await requireDocker();
    await requireRuntime(docker, 'runsc');
    pool = new WarmPoolSandbox({ docker, cold: new DockerSandbox({ docker }), size: 1, template: () => ({ ...RUNSC, agentId }), logMaxBytes: 128 * 1024 * 1024 });
    await pool.ready();
  });

  after(async () => {
    await pool?.close();
    if (docker !== undefined) await removeLabelled(docker, LABEL_AGENT, agentId);
  });

  it('warm containers are runsc; a runsc job takes one, a runc job starts cold under runc', async () => {
    const [idle] = await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agentId}`] } });
    assert.ok(idle !== undefined, 'the pool holds a container');
    assert.equal((await docker.getContainer(idle.Id).inspect()).HostConfig.Runtime, 'runsc');
    const runOne = async (s: SandboxSpec): Promise<{ stdout: string; runtime: string }> => {
      const sink = new Collect();
      const h = await pool.start(s, sink);
      const runtime = String((await docker.getContainer(h.containerId).inspect()).HostConfig.Runtime);
      await h.wait();
      await h.destroy();
      return { stdout: sink.text('stdout'), runtime };
    };
    const before = pool.stats();
    const warm = await runOne(spec('uname -r'));
    assert.equal(pool.stats().taken, before.taken + 1);
    assert.deepEqual(warm, { stdout: '4.4.0\n', runtime: 'runsc' });
    const cold = await runOne(spec('echo cold', { runtime: 'runc', pidsLimit: 32 }));
    assert.equal(pool.stats().taken, before.taken + 1, 'a runc job never takes a runsc container');
    assert.equal(pool.stats().cold, before.cold + 1);
    assert.deepEqual(cold, { stdout: 'cold\n', runtime: 'runc' });
  });
});

describe('WarmPoolSandbox on the real engine', () => {
  let docker: Dockerode;
  const agentId = `warm-test-${crypto.randomUUID()}`;
  let cold: DockerSandbox;
  let pool: WarmPoolSandbox;
  const spec = (command: string, over: Partial<SandboxSpec> = {}): SandboxSpec => ({ ...PROFILE, agentId, jobId: `job-${crypto.randomUUID()}`, command, env: {}, ...over });
  const run = async (sb: DockerSandbox | WarmPoolSandbox, s: SandboxSpec) => {
    const sink = new Collect();
    const h = await sb.start(s, sink);
    const exit = await h.wait();
    const info = await docker.getContainer(h.containerId).inspect();
    await h.destroy();
    return { id: h.containerId, exit, stdout: sink.text('stdout'), stderr: sink.text('stderr'), info };
  };
  const labelled = (): Promise<Dockerode.ContainerInfo[]> => docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agentId}`] } });

  before(async () => {
    docker = await requireDocker();
    cold = new DockerSandbox({ docker });
    pool = new WarmPoolSandbox({ docker, cold, size: 2, template: () => ({ ...PROFILE, agentId }), logMaxBytes: 128 * 1024 * 1024 });
    await pool.ready();
  });

  after(async () => {
    await pool.close();
    await removeLabelled(docker, LABEL_AGENT, agentId);
  });

  it('keeps `size` started containers labelled warm with the profile key, hidden from listManaged', async () => {
    assert.equal(pool.stats().idle, 2);
    const cs = await labelled();
    assert.equal(cs.length, 2);
    for (const c of cs) {
      assert.equal(c.State, 'running');
      assert.equal(c.Labels[LABEL_JOB], WARM_JOB_LABEL);
      assert.match(c.Labels[LABEL_POOL] ?? '', /^[0-9a-f]{16}$/);
    }
    assert.deepEqual(await pool.listManaged(agentId), [], 'the reconciler never sees the live pool');
    assert.equal((await cold.listManaged(agentId)).length, 2);
  });

  it('a pooled job has the isolation, output and exit code of a cold one', async () => {
    const probe = [
      'id -u; id -g; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
      'ls /sys/class/net; touch /rootfs-write 2>/dev/null && echo root-writable || echo root-read-only',
      'pwd; echo "argv0=$0 pid=$$"; ls -l /proc/self/fd/0 | sed "s/.*-> //"; cat; env | grep -v ^HOSTNAME= | sort',
      "printf '%s|\\n' 'two  spaces' 'back\\\\slash' \"\\$HOME\" ''; echo err >&2",
      'exit 7',
    ].join('\n');
    const before = pool.stats();
    const warm = await run(pool, spec(probe));
    assert.equal(pool.stats().taken, before.taken + 1, 'the job took a warm container');
    const ref = await run(cold, spec(probe));
    assert.equal(warm.exit.exitCode, 7);
    assert.deepEqual(warm.exit, ref.exit);
    assert.equal(warm.stdout, ref.stdout);
    assert.equal(warm.stderr, 'err\n');
    assert.match(warm.stdout, /^65534\n65534\nCapEff:\t0{16}\n/);
    assert.match(warm.stdout, /root-read-only/);
    assert.match(warm.stdout, /^lo$/m, 'only loopback: no network');
    assert.match(warm.stdout, /argv0=\/bin\/sh pid=1\n\/dev\/null\n/, 'PID 1 is the job shell, stdin is /dev/null');
    const hc = (i: Dockerode.ContainerInspectInfo) => {
      const h = i.HostConfig as Record<string, unknown>;
      return { user: i.Config.User, readonly: h['ReadonlyRootfs'], caps: h['CapDrop'], net: h['NetworkMode'], sec: h['SecurityOpt'], pids: h['PidsLimit'], mem: h['Memory'], swap: h['MemorySwap'], cpu: h['NanoCpus'], tmpfs: h['Tmpfs'], ipc: h['IpcMode'], priv: h['Privileged'], log: h['LogConfig'] };
    };
    assert.deepEqual(hc(warm.info), hc(ref.info), 'same container settings');
  });

  it('never reuses a container: every job gets a new one, removed after it', async () => {
    const before = pool.stats();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await run(pool, spec(`echo run-${i}`));
      assert.equal(r.stdout, `run-${i}\n`);
      ids.push(r.id);
      await assert.rejects(docker.getContainer(r.id).inspect(), (e: unknown) => (e as { statusCode?: number }).statusCode === 404);
    }
    assert.equal(new Set(ids).size, 4);
    await pool.ready();
    const after = pool.stats();
    assert.equal(after.taken - before.taken + (after.cold - before.cold), 4);
    assert.equal(after.created - before.created, after.taken - before.taken, 'one container created per take: the pool refilled, nothing was reused');
    assert.equal(after.idle, 2);
    assert.equal((await labelled()).length, 2);
  });

  it('jobs outside the profile or with env start cold, labelled with their job', async () => {
    const before = pool.stats();
    const withEnv = spec('echo "$GREETING"', { env: { GREETING: 'hi' } });
    const sink = new Collect();
    const h = await pool.start(withEnv, sink);
    const info = await docker.getContainer(h.containerId).inspect();
    assert.equal(info.Config.Labels[LABEL_JOB], withEnv.jobId);
    await h.wait();
    await h.destroy();
    assert.equal(sink.text('stdout'), 'hi\n');
    const bigger = await run(pool, spec('echo cold', { memoryLimit: 128 * 1024 * 1024 }));
    assert.equal(bigger.stdout, 'cold\n');
    assert.equal(pool.stats().cold, before.cold + 2);
    assert.equal(pool.stats().taken, before.taken);
  });

  it('stop() of a pooled job stops it like a cold one', async () => {
    const sink = new Collect();
    const h = await pool.start(spec('echo started; sleep 30'), sink);
    await until('output', () => (sink.text('stdout') === 'started\n' ? true : undefined));
    await h.stop(1);
    const exit = await h.wait();
    await h.destroy();
    assert.notEqual(exit.exitCode, 0);
  });

  it('a command cut before its end line never runs (the connection dropped mid-send)', async () => {
    const c = await docker.createContainer(warmContainerOptions({ ...PROFILE, agentId }, { logMaxBytes: 1 << 27 }));
    const socket = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream & { end(): void; write(b: Buffer): boolean };
    const out: Buffer[] = [];
    socket.on('data', (b: Buffer) => out.push(b));
    await c.start();
    const whole = encodeCommand('echo ran > /tmp/ran; echo ran');
    socket.write(whole.subarray(0, whole.length - 2)); // everything but the final ".\n"
    socket.end();
    const { StatusCode } = (await c.wait()) as { StatusCode: number };
    await c.remove({ force: true });
    assert.equal(StatusCode, WARM_PROTOCOL_EXIT);
    assert.equal(Buffer.concat(out).length, 0, 'no output: the command did not run');
  });

  it('a changed default profile (reload) replaces the idle containers', async () => {
    const id = `${agentId}-reload`;
    let profile = { ...PROFILE, agentId: id };
    const p3 = new WarmPoolSandbox({ docker, cold: new DockerSandbox({ docker }), size: 1, template: () => profile, logMaxBytes: 128 * 1024 * 1024 });
    try {
      await p3.ready();
      const list = async () => (await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${id}`] } })).filter((c) => c.State === 'running');
      const [old] = await list();
      assert.equal(old?.Labels[LABEL_POOL], profileKey(PROFILE));
      profile = { ...profile, pidsLimit: 48 };
      const r = await run(p3, { ...spec('echo new'), agentId: id, pidsLimit: 48 });
      assert.equal(r.stdout, 'new\n');
      assert.equal(p3.stats().cold, 1, 'no container of the new profile was ready yet');
      await p3.ready();
      // The stale container is removed in the background while the new one is made.
      const now = await until('only the new profile left', async () => {
        const cs = await list();
        return cs.length === 1 && cs[0]?.Labels[LABEL_POOL] === profileKey(profile) ? cs : undefined;
      });
      assert.notEqual(now[0]?.Id, old?.Id);
      await assert.rejects(docker.getContainer(old?.Id ?? '').inspect(), (e: unknown) => (e as { statusCode?: number }).statusCode === 404);
    } finally {
      await p3.close();
    }
  });

  it('close() removes the idle containers', async () => {
    const p2id = `${agentId}-close`;
    const p2 = new WarmPoolSandbox({ docker, cold: new DockerSandbox({ docker }), size: 2, template: () => ({ ...PROFILE, agentId: p2id }), logMaxBytes: 128 * 1024 * 1024 });
    await p2.ready();
    const list = () => docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${p2id}`] } });
    assert.equal((await list()).length, 2);
    await p2.close();
    await p2.close();
    assert.equal((await list()).length, 0);
    assert.equal(p2.stats().discarded, 2);
  });
});

describe('warm pool through the daemon: restart adoption', () => {
  let docker: Dockerode;
  let first: SpawnedAgent | undefined;
  let second: SpawnedAgent | undefined;
  let dir: string | undefined;
  let agentId: string | undefined;
  const kill = async (a: SpawnedAgent | undefined): Promise<void> => {
    if (a === undefined || a.child.exitCode !== null || a.child.signalCode !== null) return;
    a.child.kill('SIGKILL');
    await a.exited;
  };

  before(async () => {
    docker = await requireDocker();
    assert.ok(fs.existsSync(path.resolve('dist/cmd/quickcmd-agent.js')), 'run npm run build first');
  });

  after(async () => {
    await kill(first);
    await kill(second);
    if (agentId !== undefined) await removeLabelled(docker, LABEL_AGENT, agentId);
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a job in a warm container is adopted after SIGKILL; the old idle ones are removed', async () => {
    const port = await freePort();
    const env = prepareAgentDir({ port, warm_pool_size: 2, log_level: 'info' });
    dir = env.dir;
    first = await spawnAgent(env, port);
    const t: ClientTarget = { url: first.url, caFile: env.pki.caCert, secret: env.secret, controllerId: env.controllerId };
    const db = openDatabase(env.dbPath, { readonly: true });
    agentId = (db.prepare("SELECT value FROM agent_meta WHERE key = 'agent_id'").get() as { value: string }).value;
    const warmOf = async (): Promise<Dockerode.ContainerInfo[]> => (await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agentId}`, `${LABEL_JOB}=${WARM_JOB_LABEL}`] } }));
    await until('a full pool', async () => ((await warmOf()).filter((c) => c.State === 'running').length === 2 ? true : undefined));
    const pooled = new Set((await warmOf()).map((c) => c.Id));

    const { reply, payload } = await submit(t, { command: 'echo before; sleep 3; echo after' });
    assert.equal(reply.status, 202, reply.text);
    const jobId = payload.jobId;
    const sandboxId = await until('sandbox_id stored', () => {
      const row = db.prepare('SELECT status, sandbox_id FROM jobs WHERE job_id = ?').get(jobId) as { status: string; sandbox_id: string | null } | undefined;
      return row?.status === 'running' && row.sandbox_id !== null ? row.sandbox_id : undefined;
    });
    db.close();
    assert.ok(pooled.has(sandboxId), 'the job ran in one of the warm containers');
    assert.equal((await status(t, jobId)).json()['status'], 'running');

    first.child.kill('SIGKILL');
    await first.exited;
    const leftIdle = (await warmOf()).map((c) => c.Id).filter((id) => id !== sandboxId);
    assert.ok(leftIdle.length >= 1, 'the killed agent left idle warm containers behind');

    second = await spawnAgent(env, port);
    const body = await waitForEnd({ ...t, url: second.url }, jobId, 30_000);
    const r = body['result'] as { status: string; exit_code: number; stdout: string; sandbox_id: string };
    assert.equal(r.status, 'completed', JSON.stringify(r));
    assert.equal(r.exit_code, 0);
    assert.equal(r.stdout, 'before\nafter\n', 'nothing lost, nothing duplicated');
    assert.equal(r.sandbox_id, sandboxId);
    for (const id of leftIdle) await assert.rejects(docker.getContainer(id).inspect(), (e: unknown) => (e as { statusCode?: number }).statusCode === 404, `idle warm container ${id.slice(0, 12)} of the old process was removed`);
    // The new process builds its own pool.
    await until('the new pool', async () => {
      const ids = (await warmOf()).filter((c) => c.State === 'running').map((c) => c.Id);
      return ids.length === 2 && ids.every((id) => !pooled.has(id)) ? true : undefined;
    });
  });
});
