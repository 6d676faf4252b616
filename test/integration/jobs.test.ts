/**
 * Issue 3 through the real agent API: jobs are submitted signed over HTTPS to an
 * in-process agent (real SQLite file, real Docker engine) and their results are read
 * back with GET /api/v1/jobs/:id. Covers exit codes, stream separation, the sandbox's
 * confinement, timeouts, OOM, fork bombs, the output cap, cancellation, the queue, the
 * concurrency limit with FIFO order, image errors, results after a restart, and that no
 * container outlives its job.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type Dockerode from 'dockerode';
import { LABEL_AGENT } from '../../internal/sandbox/labels.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { cancel, request, status, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { until } from '../helpers/wait.js';
import { removeLabelled, requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { requireRuntime, RUNTIMES_UNDER_TEST } from '../helpers/runtimes.js';

const MiB = 1024 * 1024;
const MISSING_IMAGE = 'quickcmd-missing:latest';

/** The wire result (SPEC §4) as the tests read it. */
interface Result {
  job_id: string;
  status: string;
  sandbox_id: string | null;
  exit_code: number | null;
  stdout: string;
  stderr: string;
  start_time: string | null;
  end_time: string;
  duration_ms: number;
  error: string | null;
  output_truncated: boolean;
  timed_out: boolean;
  oom_killed: boolean;
  runtime: string;
}

interface SandboxRequest {
  runtime?: string;
  timeout_seconds?: number;
  memory_limit?: number;
  cpu_limit?: number;
  image?: string;
  env?: Record<string, string>;
}

function target(a: TestAgent): ClientTarget {
  return { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
}

/** Submit and expect 202; returns the job id. */
async function start(a: TestAgent, command: string, sandbox?: SandboxRequest): Promise<string> {
  const { reply, payload } = await submit(target(a), { command, candidateMetadata: sandbox === undefined ? null : { sandbox } });
  assert.equal(reply.status, 202, reply.text);
  assert.deepEqual(reply.json(), { job_id: payload.jobId, status: 'pending' });
  return payload.jobId;
}

/** Poll the job until its whole body is terminal; returns the result. */
async function finished(a: TestAgent, jobId: string, timeoutMs = 60_000): Promise<Result> {
  const body = await waitForEnd(target(a), jobId, timeoutMs);
  assert.equal(body['job_id'], jobId);
  const result = body['result'] as Result;
  assert.equal(body['status'], result.status, 'status and result.status agree');
  assert.equal(result.job_id, jobId);
  return result;
}

async function run(a: TestAgent, command: string, sandbox?: SandboxRequest): Promise<Result> {
  return finished(a, await start(a, command, sandbox));
}

/** Poll the job's status until `pred` holds (bounded). */
async function statusUntil(a: TestAgent, jobId: string, pred: (s: string) => boolean, timeoutMs = 30_000): Promise<string> {
  return until(`job ${jobId} to change state`, async () => {
    const r = await status(target(a), jobId);
    assert.equal(r.status, 200, r.text);
    const s = String(r.json()['status']);
    return pred(s) ? s : undefined;
  }, timeoutMs);
}

/** Containers (any state) labelled with the agent's id. */
async function labelled(docker: Dockerode, agentId: string, all = true): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all, filters: { label: [`${LABEL_AGENT}=${agentId}`] } });
}

/** Wait until no container carries the agent's label (removal follows the stored result). */
async function noContainersLeft(docker: Dockerode, agentId: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await labelled(docker, agentId);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`containers left for ${agentId}: ${left.map((c) => `${c.Id.slice(0, 12)} ${c.State}`).join(', ')}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const baseConfig = {
  default_memory_limit: 64 * MiB,
  max_memory_limit: 256 * MiB,
  default_cpu_limit: 1,
  max_cpu_limit: 2,
};

/** Under runsc a fork bomb ends the whole sandbox: exit 2 (Sentry out of host threads) or an OOM kill; never a timeout, no output. */
function assertBombEndedSandbox(r: Result): void {
  const pidsBound = r.status === 'completed' && r.exit_code === 2;
  const memoryBound = r.status === 'failed' && r.oom_killed && r.exit_code === 137;
  assert.ok(pidsBound || memoryBound, JSON.stringify(r));
  assert.equal(r.timed_out, false);
  assert.equal(r.stdout, '');
}

/** Config that makes `runtime` the one every job of the suite runs under (SPEC §14). */
function runtimeConfig(runtime: string): Record<string, unknown> {
  return runtime === 'runc' ? {} : { allowed_runtimes: ['runc', runtime], default_runtime: runtime };
}

// The API conformance suite runs once per runtime; gVisor's differences are stated where they are.
for (const runtime of RUNTIMES_UNDER_TEST) {
const gvisor = runtime === 'runsc';
describe(gvisor ? 'jobs through the agent API under runsc (gVisor)' : 'jobs through the agent API', () => {
  let docker: Dockerode;
  let a: TestAgent;
  const dirs: string[] = [];

  before(async () => {
    docker = await requireDocker();
    await requireRuntime(docker, runtime);
    await assert.rejects(docker.getImage(MISSING_IMAGE).inspect(), `${MISSING_IMAGE} must not exist on this host`);
    a = await startTestAgent({ ...baseConfig, ...runtimeConfig(runtime), max_concurrent_jobs: 4, allowed_images: [TEST_IMAGE, MISSING_IMAGE] });
    dirs.push(a.dir);
  });

  after(async () => {
    await a?.stop();
    if (a !== undefined) await removeLabelled(docker, LABEL_AGENT, a.agent.agentId);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('propagates the exit code (exit 7 is completed, not failed)', async () => {
    const r = await run(a, 'echo out; exit 7');
    assert.equal(r.status, 'completed');
    assert.equal(r.exit_code, 7);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.error, null);
    assert.equal(r.timed_out, false);
    assert.equal(r.oom_killed, false);
    assert.match(r.sandbox_id ?? '', /^[0-9a-f]{64}$/);
    assert.ok(r.start_time !== null && Date.parse(r.start_time) <= Date.parse(r.end_time));
    assert.match(r.end_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it(`runs under ${runtime}: the result, job.started and the metrics say so`, async () => {
    const r = await run(a, 'uname -r');
    assert.equal(r.status, 'completed', r.stderr);
    assert.equal(r.runtime, runtime);
    if (gvisor) assert.equal(r.stdout, '4.4.0\n', "gVisor's own kernel version");
    const started = a.agent.db.prepare("SELECT details FROM audit_events WHERE type = 'job.started' AND job_id = ?").get(r.job_id) as { details: string };
    assert.equal(JSON.parse(started.details).runtime, runtime);
    const text = await a.agent.metrics.registry.metrics();
    assert.match(text, new RegExp(`quickcmd_agent_sandbox_start_seconds_count\\{runtime="${runtime}"\\} [1-9]`));
    assert.match(text, new RegExp(`quickcmd_agent_job_duration_seconds_count\\{runtime="${runtime}"\\} [1-9]`));
  });

  it('keeps stdout and stderr apart', async () => {
    const r = await run(a, 'echo to-out; echo to-err >&2; printf more-out; printf more-err >&2');
    assert.equal(r.status, 'completed');
    assert.equal(r.exit_code, 0);
    assert.equal(r.stdout, 'to-out\nmore-out');
    assert.equal(r.stderr, 'to-err\nmore-err');
  });

  it('runs as uid 65534 with no effective capabilities', async () => {
    const r = await run(a, 'id -u; id -g; grep CapEff /proc/self/status');
    assert.equal(r.status, 'completed', r.stderr);
    const [uid, gid, cap] = r.stdout.trim().split('\n');
    assert.equal(uid, '65534');
    assert.equal(gid, '65534');
    assert.match(cap ?? '', /^CapEff:\s+0{16}$/);
  });

  it('has no network: only the loopback interface exists', async () => {
    const r = await run(a, 'cat /proc/net/dev');
    assert.equal(r.status, 'completed', r.stderr);
    const ifaces = r.stdout
      .split('\n')
      .slice(2)
      .filter((l) => l.includes(':'))
      .map((l) => l.split(':')[0]?.trim());
    assert.deepEqual(ifaces, ['lo']);
  });

  it('has a read-only root filesystem', async () => {
    const r = await run(a, 'touch /x; echo "touch=$?"; touch /etc/x 2>/dev/null; echo "etc=$?"');
    assert.equal(r.status, 'completed');
    assert.equal(r.stdout, 'touch=1\netc=1\n');
    if (gvisor) {
      // gVisor refuses the non-root sandbox user before it looks at the read-only flag; the
      // mount itself is read-only (checked as uid 0 in sandbox.test.ts).
      assert.match(r.stderr, /permission denied/i);
      const m = await run(a, 'grep " / " /proc/mounts');
      assert.match(m.stdout, /^\S+ \/ \S+ ro[, ]/);
    } else assert.match(r.stderr, /read-only file system/i);
  });

  it('has writable /tmp and /workspace (the working directory)', async () => {
    const r = await run(a, 'pwd; echo t > /tmp/f && cat /tmp/f; echo w > /workspace/g && cat /workspace/g; echo h > here && cat here');
    assert.equal(r.status, 'completed', r.stderr);
    assert.equal(r.exit_code, 0, r.stderr);
    assert.equal(r.stdout, '/workspace\nt\nw\nh\n');
  });

  it('passes the signed env to the command', async () => {
    const r = await run(a, 'echo "$GREETING"', { env: { GREETING: 'hello from env' } });
    assert.equal(r.stdout, 'hello from env\n');
  });

  it('times out: failed, exit code 124, timed_out', async () => {
    const t0 = Date.now();
    const r = await run(a, 'echo started; sleep 30', { timeout_seconds: 1 });
    const ms = Date.now() - t0;
    assert.equal(r.status, 'failed');
    assert.equal(r.exit_code, 124);
    assert.equal(r.timed_out, true);
    assert.equal(r.oom_killed, false);
    assert.match(r.error ?? '', /timed out after 1s/);
    assert.equal(r.stdout, 'started\n', 'output printed before the timeout is kept');
    // 1 s timeout + 2 s SIGTERM grace + container overhead; far below the 30 s sleep.
    assert.ok(ms < 15_000, `took ${ms} ms`);
  });

  it('reports an OOM kill: failed, oom_killed', async () => {
    if (gvisor) {
      // The limit covers the Sentry under runsc: 8 MiB cannot start it (a failed job with a
      // sandbox error, not an OOM), so the allocation is made past 64 MiB instead.
      const small = await run(a, 'true', { memory_limit: 8 * MiB });
      assert.equal(small.status, 'failed', JSON.stringify(small));
      assert.equal(small.oom_killed, false);
      const r = await run(a, 'head -c 300m /dev/zero | tail', { memory_limit: 64 * MiB });
      assert.equal(r.status, 'failed', JSON.stringify(r));
      assert.equal(r.oom_killed, true);
      assert.equal(r.timed_out, false);
      assert.match(r.error ?? '', /out of memory/);
      return;
    }
    const r = await run(a, 'head -c 64m /dev/zero | tail', { memory_limit: 8 * MiB });
    assert.equal(r.status, 'failed', JSON.stringify(r));
    assert.equal(r.oom_killed, true);
    assert.equal(r.timed_out, false);
    assert.match(r.error ?? '', /out of memory/);
  });

  it('contains a fork bomb (pids limit): the job ends and the agent stays healthy', async () => {
    // The bomb runs under `timeout 5`; the outer shell only needs builtins afterwards.
    const r = await run(a, `timeout 5 sh -c 'f(){ f|f& }; f; sleep 10' 2>/dev/null; echo contained`, { timeout_seconds: 30 });
    if (gvisor) {
      // runsc: every sandboxed process costs host threads and Sentry memory, so the bomb
      // ends the whole sandbox at whichever bound it reaches first, and `contained` is never
      // printed: the host pids bound (the Sentry cannot make a thread and exits with code 2,
      // gVisor issue 2490), or the memory limit (the host OOM-kills the sandbox).
      assertBombEndedSandbox(r);
    } else {
      assert.equal(r.status, 'completed', JSON.stringify(r));
      assert.equal(r.stdout, 'contained\n');
    }
    const health = await request(target(a), 'GET', '/health');
    assert.equal(health.status, 200, health.text);
    const next = await run(a, 'echo alive');
    assert.equal(next.status, 'completed');
    assert.equal(next.stdout, 'alive\n');
  });

  it('fork bomb without timeout wrapper is ended by the job timeout', async () => {
    // The shell then spins on builtins only: with every pid taken it could not fork `sleep`.
    const r = await run(a, `f(){ f|f& }; f 2>/dev/null; while :; do :; done`, { timeout_seconds: gvisor ? 20 : 3 });
    if (gvisor) {
      // runsc: the bomb ends the sandbox (pids or memory bound, as above) before any timeout.
      assertBombEndedSandbox(r);
      assert.equal((await request(target(a), 'GET', '/health')).status, 200);
      return;
    }
    assert.equal(r.status, 'failed');
    assert.equal(r.timed_out, true);
    assert.equal(r.exit_code, 124);
    const health = await request(target(a), 'GET', '/health');
    assert.equal(health.status, 200, health.text);
  });

  it('a command that dies of a signal by itself is completed with 128+n', async () => {
    const r = await run(a, "sh -c 'kill -9 $$'; exit $?");
    assert.equal(r.status, 'completed', JSON.stringify(r));
    assert.equal(r.exit_code, 137);
    assert.equal(r.error, null);
  });

  it('a container killed from outside the agent (docker kill) ends failed, not completed', async () => {
    const id = await start(a, 'echo up; sleep 30');
    const agentId = a.agent.agentId;
    const deadline = Date.now() + 30_000;
    let container: Dockerode.ContainerInfo | undefined;
    while (container === undefined) {
      assert.ok(Date.now() < deadline, 'container did not appear');
      container = (await labelled(docker, agentId, false)).find((c) => c.Labels['io.quickcmd.job'] === id);
      if (container === undefined) await new Promise((res) => setTimeout(res, 25));
    }
    await statusUntil(a, id, (s) => s === 'running');
    await docker.getContainer(container.Id).kill();
    const r = await finished(a, id);
    assert.equal(r.status, 'failed', JSON.stringify(r));
    assert.match(r.error ?? '', /killed by the Docker engine \(signal 9\) without the agent asking/);
    assert.equal(r.exit_code, 137);
  });

  it('cancels a running job', async () => {
    const id = await start(a, 'echo begun; sleep 30');
    await statusUntil(a, id, (s) => s === 'running');
    const t0 = Date.now();
    const c = await cancel(target(a), id);
    assert.equal(c.status, 202, c.text);
    assert.equal(c.json()['cancel_requested'], true);
    const r = await finished(a, id);
    assert.equal(r.status, 'cancelled');
    assert.match(r.error ?? '', /cancel/);
    assert.ok(Date.now() - t0 < 15_000, 'cancel stops the container within the grace period');
    // A finished job cannot be cancelled again.
    const again = await cancel(target(a), id);
    assert.notEqual(again.status, 202);
  });

  // Independent of the runtime: run once.
  if (!gvisor) it('refuses an image that is not allowed with 403 IMAGE_NOT_ALLOWED', async () => {
    const { reply } = await submit(target(a), { command: 'true', candidateMetadata: { sandbox: { image: 'alpine:latest' } } });
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.json()['code'], 'IMAGE_NOT_ALLOWED');
  });

  // Independent of the runtime: run once.
  if (!gvisor) it('ends a job whose allowed image is absent as rejected, quickly, naming the image', async () => {
    const t0 = Date.now();
    const r = await run(a, 'echo never', { image: MISSING_IMAGE });
    const ms = Date.now() - t0;
    assert.equal(r.status, 'rejected');
    assert.ok((r.error ?? '').includes(MISSING_IMAGE), r.error ?? '');
    assert.equal(r.stdout, '');
    assert.equal(r.exit_code, null);
    assert.ok(ms < 10_000, `took ${ms} ms`);
    // The agent still runs jobs afterwards.
    assert.equal((await run(a, 'echo ok')).stdout, 'ok\n');
  });

  it('leaves no container behind once jobs have finished', async () => {
    await run(a, 'echo last');
    await noContainersLeft(docker, a.agent.agentId);
    assert.equal(a.agent.manager.running, 0);
    assert.equal(a.agent.manager.queued, 0);
  });
});
}

for (const runtime of RUNTIMES_UNDER_TEST) {
describe(runtime === 'runc' ? 'output cap' : `output cap under ${runtime}`, () => {
  let docker: Dockerode;
  let a: TestAgent;

  before(async () => {
    docker = await requireDocker();
    await requireRuntime(docker, runtime);
    a = await startTestAgent({ ...baseConfig, ...runtimeConfig(runtime), max_output_bytes: 1000 });
  });

  after(async () => {
    await a?.stop();
    if (a !== undefined) {
      await removeLabelled(docker, LABEL_AGENT, a.agent.agentId);
      fs.rmSync(a.dir, { recursive: true, force: true });
    }
  });

  it('keeps at most max_output_bytes and says output_truncated', async () => {
    const r = await run(a, "head -c 5000 /dev/zero | tr '\\0' x; echo done >&2");
    assert.equal(r.status, 'completed');
    assert.equal(r.exit_code, 0);
    assert.equal(r.output_truncated, true);
    assert.ok(Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr) <= 1000, `kept ${r.stdout.length}+${r.stderr.length}`);
    assert.ok(r.stdout.length > 0 && /^x+$/.test(r.stdout), 'the kept part is the start of the output');
  });

  it('does not flag output under the cap', async () => {
    const r = await run(a, "head -c 900 /dev/zero | tr '\\0' y");
    assert.equal(r.output_truncated, false);
    assert.equal(r.stdout, 'y'.repeat(900));
  });
});
}

describe('queue: pending cancel and QUEUE_FULL', () => {
  let docker: Dockerode;
  let a: TestAgent;

  before(async () => {
    docker = await requireDocker();
    a = await startTestAgent({ ...baseConfig, max_concurrent_jobs: 1, max_queued_jobs: 2 });
  });

  after(async () => {
    await a?.stop();
    if (a !== undefined) {
      await removeLabelled(docker, LABEL_AGENT, a.agent.agentId);
      fs.rmSync(a.dir, { recursive: true, force: true });
    }
  });

  it('cancels a pending job without ever starting it, and answers 429 QUEUE_FULL with Retry-After', async () => {
    const blocker = await start(a, 'sleep 30');
    await statusUntil(a, blocker, (s) => s === 'running');
    const pending1 = await start(a, 'echo should-not-run');
    const pending2 = await start(a, 'echo runs-later');
    assert.equal((await status(target(a), pending1)).json()['status'], 'pending');

    const { reply } = await submit(target(a), { command: 'true' });
    assert.equal(reply.status, 429, reply.text);
    assert.equal(reply.json()['code'], 'QUEUE_FULL');
    const retry = Number(reply.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After: ${String(reply.headers['retry-after'])}`);

    const c = await cancel(target(a), pending1);
    assert.equal(c.status, 202, c.text);
    assert.equal(c.json()['status'], 'cancelled');
    const r = await finished(a, pending1);
    assert.equal(r.status, 'cancelled');
    assert.equal(r.start_time, null, 'never started');
    assert.equal(r.sandbox_id, null, 'no container was made');
    assert.equal(r.exit_code, null);
    assert.equal(r.stdout, '');

    // The freed queue place takes a new job again.
    const extra = await start(a, 'echo extra');
    assert.equal((await cancel(target(a), blocker)).status, 202);
    assert.equal((await finished(a, blocker)).status, 'cancelled');
    const r2 = await finished(a, pending2);
    assert.equal(r2.status, 'completed');
    assert.equal(r2.stdout, 'runs-later\n');
    assert.equal((await finished(a, extra)).stdout, 'extra\n');
    // The cancelled pending job stays cancelled after the queue drained.
    assert.equal((await finished(a, pending1)).status, 'cancelled');
  });
});

describe('concurrency limit and FIFO order', () => {
  let docker: Dockerode;
  let a: TestAgent;

  before(async () => {
    docker = await requireDocker();
    a = await startTestAgent({ ...baseConfig, max_concurrent_jobs: 2, max_queued_jobs: 20 });
  });

  after(async () => {
    await a?.stop();
    if (a !== undefined) {
      await removeLabelled(docker, LABEL_AGENT, a.agent.agentId);
      fs.rmSync(a.dir, { recursive: true, force: true });
    }
  });

  it('never runs more than max_concurrent_jobs (2) of 12 queued jobs, and starts them in FIFO order', async () => {
    const N = 12;
    // Sampled from three independent sources: the engine, the gauge and the manager.
    let maxDocker = 0;
    let maxGauge = 0;
    let maxManager = 0;
    let sampling = true;
    const gaugeValue = async (): Promise<number> => (await a.agent.metrics.jobsRunning.get()).values[0]?.value ?? 0;
    const fast = setInterval(() => {
      maxManager = Math.max(maxManager, a.agent.manager.running);
      void gaugeValue().then((v) => (maxGauge = Math.max(maxGauge, v)));
    }, 2);
    const dockerSampler = (async () => {
      while (sampling) {
        maxDocker = Math.max(maxDocker, (await labelled(docker, a.agent.agentId, false)).length);
      }
    })();

    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push(await start(a, `echo job-${i}; sleep 1`));

    // FIFO: poll statuses newest-first. A job leaves `pending` only after every older one
    // has, so within one round a later job seen started implies all older ones are too,
    // and the round in which each job is first seen started never decreases with age.
    const firstSeen = new Array<number>(N).fill(-1);
    let round = 0;
    const deadline = Date.now() + 120_000;
    while (firstSeen.some((r) => r < 0)) {
      assert.ok(Date.now() < deadline, 'jobs did not all start');
      for (let i = N - 1; i >= 0; i--) {
        if (firstSeen[i] !== -1) continue;
        const s = String((await status(target(a), ids[i] as string)).json()['status']);
        if (s !== 'pending') firstSeen[i] = round;
      }
      round++;
    }
    const results: Result[] = [];
    for (const id of ids) results.push(await finished(a, id));
    sampling = false;
    clearInterval(fast);
    await dockerSampler;

    for (let i = 1; i < N; i++) assert.ok((firstSeen[i] as number) >= (firstSeen[i - 1] as number), `job ${i} started before job ${i - 1}: rounds ${firstSeen.join(',')}`);
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 'completed');
      assert.equal(r.stdout, `job-${i}\n`);
    }
    // start_time is when the container started: two jobs launched together may swap
    // within their pair, but a job never starts before one two places ahead of it.
    const starts = results.map((r) => Date.parse(r.start_time as string));
    const ends = results.map((r) => Date.parse(r.end_time));
    for (let i = 0; i + 2 < N; i++) {
      assert.ok((starts[i] as number) <= (starts[i + 2] as number), `job ${i + 2} started before job ${i}`);
      // At most two hold a slot: job i+2 starts only after job i or i+1 ended.
      assert.ok(Math.min(ends[i] as number, ends[i + 1] as number) <= (starts[i + 2] as number), `job ${i + 2} started while ${i} and ${i + 1} both ran`);
    }
    // Intervals [start, end]: never three overlapping at once.
    for (let i = 0; i < N; i++) {
      const t = starts[i] as number;
      const overlapping = results.filter((_, j) => (starts[j] as number) <= t && t < (ends[j] as number)).length;
      assert.ok(overlapping <= 2, `${overlapping} jobs ran at ${new Date(t).toISOString()}`);
    }
    assert.ok(maxDocker <= 2, `docker saw ${maxDocker} running containers`);
    assert.ok(maxGauge <= 2, `gauge reached ${maxGauge}`);
    assert.ok(maxManager <= 2, `manager ran ${maxManager}`);
    assert.equal(maxManager, 2, 'the limit was actually reached');
    assert.ok(maxDocker >= 1, 'the docker sampler saw the jobs');
    await noContainersLeft(docker, a.agent.agentId);
  });
});

describe('results survive an agent restart', () => {
  let docker: Dockerode;
  let first: TestAgent | undefined;
  let second: TestAgent | undefined;

  before(async () => {
    docker = await requireDocker();
  });

  after(async () => {
    await first?.stop();
    await second?.stop();
    for (const x of [first, second]) if (x !== undefined) await removeLabelled(docker, LABEL_AGENT, x.agent.agentId);
    if (first !== undefined) fs.rmSync(first.dir, { recursive: true, force: true });
  });

  it('serves a finished job from the database after a restart on the same dir', async () => {
    first = await startTestAgent(baseConfig);
    const r1 = await run(first, 'echo persisted; echo err-persisted >&2; exit 3');
    assert.equal(r1.status, 'completed');
    const agentId = first.agent.agentId;
    await noContainersLeft(docker, agentId);
    await first.stop();

    second = await startTestAgent(baseConfig, {}, { dir: first.dir, pki: first.pki, secret: first.secret });
    assert.equal(second.agent.agentId, agentId, 'the agent id is kept in the database');
    const r2 = await finished(second, r1.job_id, 5_000);
    assert.deepEqual(r2, r1);
    // Replay protection survives too.
    const { reply } = await submit(target(second), { jobId: r1.job_id, command: 'true' });
    assert.equal(reply.status, 409, reply.text);
    assert.equal(reply.json()['code'], 'DUPLICATE_JOB');
  });
});
