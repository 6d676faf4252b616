import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { LABEL_AGENT, LABEL_JOB } from '../../internal/sandbox/container-options.js';
import { DockerSandbox, SandboxError } from '../../internal/sandbox/docker-sandbox.js';
import type { ExitResult, OutputSink, SandboxHandle, SandboxSpec, StreamName } from '../../internal/sandbox/sandbox.js';
import { removeLabelled, requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { hostLimits, requireRuntime, RUNTIMES_UNDER_TEST } from '../helpers/runtimes.js';
import os from 'node:os';

const MiB = 1024 * 1024;
const agentId = `test-sandbox-${randomUUID()}`;

/** Sink that records output and lets a test wait for a condition on it. */
class Collect implements OutputSink {
  readonly chunks: Array<{ stream: StreamName; data: Buffer; at: number }> = [];
  private waiters: Array<() => void> = [];
  write(stream: StreamName, data: Buffer): void {
    this.chunks.push({ stream, data: Buffer.from(data), at: Date.now() });
    for (const w of this.waiters) w();
  }
  text(stream: StreamName): string {
    return Buffer.concat(this.chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString();
  }
  until(pred: (c: Collect) => boolean): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!pred(this)) return;
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }
}

function spec(command: string, over: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    jobId: randomUUID(),
    agentId,
    image: TEST_IMAGE,
    command,
    env: {},
    cpuLimit: 1,
    memoryLimit: 64 * MiB,
    pidsLimit: 64,
    tmpfsSizeBytes: 16 * MiB,
    sandboxUser: '65534:65534',
    ...over,
  };
}

// The conformance suite runs once per runtime (SPEC §14). Where gVisor behaves differently
// the test says so and checks what it does; the runc assertions are the original ones.
for (const runtime of RUNTIMES_UNDER_TEST) {
const gvisor = runtime === 'runsc';
const rspec = (command: string, over: Partial<SandboxSpec> = {}): SandboxSpec => spec(command, { runtime, ...over });
describe(gvisor ? 'DockerSandbox against the real engine under runsc (gVisor)' : 'DockerSandbox against the real engine', () => {
  let docker: Dockerode;
  let sandbox: DockerSandbox;

  before(async () => {
    docker = await requireDocker();
    await requireRuntime(docker, runtime);
    sandbox = new DockerSandbox({ docker });
  });

  after(async () => {
    await sandbox?.close();
    if (docker !== undefined) await removeLabelled(docker, LABEL_AGENT, agentId);
  });

  async function run(command: string, over: Partial<SandboxSpec> = {}): Promise<{ result: ExitResult; out: Collect; ms: number }> {
    const out = new Collect();
    const t0 = Date.now();
    const h = await sandbox.start(rspec(command, over), out);
    const result = await h.wait();
    const ms = Date.now() - t0;
    await h.destroy();
    return { result, out, ms };
  }

  it('propagates the exit code', async () => {
    const { result } = await run('exit 3');
    assert.deepEqual(result, { exitCode: 3, signal: null, oomKilled: false, error: null });
  });

  it('keeps stdout and stderr apart, and passes env', async () => {
    const { result, out } = await run('echo "out $A"; echo err >&2; echo out2', { env: { A: 'x y' } });
    assert.equal(result.exitCode, 0);
    assert.equal(out.text('stdout'), 'out x y\nout2\n');
    assert.equal(out.text('stderr'), 'err\n');
  });

  it('runs as uid 65534 in /workspace with no capabilities', async () => {
    const { out } = await run('id -u; id -g; pwd; grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status');
    const lines = out.text('stdout').trim().split('\n');
    assert.equal(lines[0], '65534');
    assert.equal(lines[1], '65534');
    assert.equal(lines[2], '/workspace');
    assert.match(lines[3] ?? '', /^CapEff:\s+0{16}$/);
    if (!gvisor) {
      assert.match(lines[4] ?? '', /^NoNewPrivs:\s+1$/);
      return;
    }
    // gVisor's /proc/<pid>/status has no NoNewPrivs line; runsc sets no_new_privs on the
    // Sentry itself on the host, which is checked there instead.
    assert.equal(lines[4], undefined);
    const h = await sandbox.start(rspec('sleep 30'), new Collect());
    try {
      const pid = (await docker.getContainer(h.containerId).inspect()).State.Pid;
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, /^NoNewPrivs:\s+1$/m, 'the Sentry runs with no_new_privs');
      assert.match(status, /^Seccomp:\s+2$/m, 'the Sentry runs under its own seccomp filter');
    } finally {
      await h.destroy();
    }
  });

  it(`runs under ${runtime}: the engine recorded it, and the kernel the job sees says so`, async () => {
    const out = new Collect();
    const h = await sandbox.start(rspec('uname -r'), out);
    assert.equal((await docker.getContainer(h.containerId).inspect()).HostConfig.Runtime, runtime);
    assert.equal((await h.wait()).exitCode, 0);
    await h.destroy();
    // gVisor reports its own kernel version (4.4.0), whatever the host runs.
    assert.equal(out.text('stdout').trim(), gvisor ? '4.4.0' : os.release());
  });

  it('applies the cpu, memory and pids limits in the host cgroup, and throttles a busy loop', async () => {
    const h = await sandbox.start(rspec('echo go; timeout 10 sh -c "while :; do :; done"', { cpuLimit: 0.5, memoryLimit: 64 * MiB, pidsLimit: 32 }), new Collect());
    try {
      const first = hostLimits(h.containerId);
      assert.equal(first.cpus, 0.5);
      assert.equal(first.memoryBytes, 64 * MiB);
      // Under runsc the host cgroup also holds the Sentry's threads: the bound is scaled (runtimes.ts).
      assert.equal(first.pidsMax, gvisor ? 128 + 8 * 32 : 32);
      // Throttled as soon as it uses its quota in one period. On a host too busy to give it
      // even half a core it may never be; then it must at least not have used more than that.
      const t0 = performance.now();
      const deadline = Date.now() + 6000;
      let now = first;
      while (now.throttled === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        now = hostLimits(h.containerId);
      }
      const cpus = (now.usageNs - first.usageNs) / 1e6 / (performance.now() - t0);
      assert.ok(now.throttled > 0 || cpus <= 0.55, `a busy loop at cpu_limit 0.5 is throttled by the host (throttled ${now.throttled}, used ${cpus.toFixed(2)} CPUs)`);
    } finally {
      await h.destroy();
    }
  });

  it('loses no byte of a short-lived container (attach is made before start)', async () => {
    for (let i = 0; i < 5; i++) {
      const { out } = await run(`echo hi${i}; echo e${i} >&2`);
      assert.equal(out.text('stdout'), `hi${i}\n`);
      assert.equal(out.text('stderr'), `e${i}\n`);
    }
  });

  it('delivers large interleaved output byte for byte', async () => {
    const { result, out } = await run("head -c 1000000 /dev/zero | tr '\\0' o; head -c 300000 /dev/zero | tr '\\0' e >&2; echo end");
    assert.equal(result.exitCode, 0, out.text('stderr').slice(0, 200));
    const stdout = out.text('stdout');
    assert.equal(stdout.length, 1_000_004);
    assert.match(stdout, /^o+end\n$/);
    assert.match(out.text('stderr'), /^e{300000}$/);
  });

  it('has no network interface but lo', async () => {
    const { out } = await run('cat /proc/net/dev');
    const ifaces = out.text('stdout').split('\n').slice(2).filter((l) => l.includes(':')).map((l) => l.split(':')[0]?.trim());
    assert.deepEqual(ifaces, ['lo']);
  });

  it('has a read-only root; /tmp and /workspace are writable', async () => {
    const ro = await run('touch /x');
    assert.notEqual(ro.result.exitCode, 0);
    if (gvisor) {
      // gVisor checks the permission before the read-only flag: the sandbox user is refused
      // first; uid 0 (no capabilities) meets the read-only mount itself.
      assert.match(ro.out.text('stderr'), /Permission denied/);
      const asRoot = await run('touch /x; grep " / " /proc/mounts', { sandboxUser: '0:0' });
      assert.match(asRoot.out.text('stderr'), /Read-only file system/);
      assert.match(asRoot.out.text('stdout'), /^\S+ \/ \S+ ro[, ]/);
    } else assert.match(ro.out.text('stderr'), /Read-only file system/);
    const rw = await run('echo a > /tmp/a && echo b > /workspace/b && cat /tmp/a /workspace/b');
    assert.equal(rw.result.exitCode, 0, rw.out.text('stderr'));
    assert.equal(rw.out.text('stdout'), 'a\nb\n');
  });

  it('/tmp is noexec', async () => {
    const { result, out } = await run("printf '#!/bin/sh\\necho ran\\n' > /tmp/s; chmod +x /tmp/s; /tmp/s; cp /bin/busybox /tmp/bb; /tmp/bb true");
    assert.equal(out.text('stdout'), '');
    assert.match(out.text('stderr'), /Permission denied/);
    assert.equal(result.exitCode, 126);
  });

  it('an allocation past the memory limit is OOM-killed', async () => {
    if (gvisor) {
      // Under runsc the limit covers the Sentry (~15 MB) too: 8 MiB cannot even boot it, which
      // is a start failure, never a hang. At 64 MiB the host OOM-kills the whole sandbox.
      await assert.rejects(sandbox.start(rspec('true', { memoryLimit: 8 * MiB }), new Collect()), (e: unknown) => e instanceof SandboxError && e.code === 'SANDBOX_ERROR');
      const { result } = await run('head -c 300m /dev/zero | tail', { memoryLimit: 64 * MiB });
      assert.equal(result.oomKilled, true);
      assert.equal(result.exitCode, 137);
      assert.equal(result.signal, 9);
      return;
    }
    const { result } = await run('head -c 100m /dev/zero | tail', { memoryLimit: 8 * MiB });
    assert.equal(result.oomKilled, true);
    assert.equal(result.exitCode, 137);
    assert.equal(result.signal, 9);
  });

  it('a fork bomb is contained by the pids limit and the container ends', async () => {
    if (gvisor) {
      // runsc 20221219 (gVisor issue 2490): when the host pids bound is reached the Sentry
      // cannot make a thread and exits with code 2, ending the whole sandbox at once; with
      // less memory than the bomb needs, the host OOM-kills the sandbox first. Either way the
      // bomb is contained (the host keeps forking) and the job's later output is lost.
      const { result, out, ms } = await run('timeout 5 sh -c "f(){ f|f& }; f; sleep 10"; echo "rc=$?"', { pidsLimit: 16 });
      assert.equal(result.error, null);
      assert.ok(result.exitCode === 2 || (result.oomKilled && result.exitCode === 137), JSON.stringify({ result, stdout: out.text('stdout') }));
      assert.equal(out.text('stdout'), '', 'nothing after the Sentry died');
      assert.ok(ms < 20_000, `took ${ms} ms`);
      const { stdout } = await promisify(execFile)('/bin/sh', ['-c', 'echo alive']);
      assert.equal(stdout, 'alive\n');
      return;
    }
    const { result, out, ms } = await run('timeout 5 sh -c "f(){ f|f& }; f; wait"; echo "rc=$?"', { pidsLimit: 16 });
    assert.equal(result.error, null);
    assert.match(out.text('stderr'), /can't fork/);
    assert.ok(ms < 20_000, `took ${ms} ms`);
    // The host still forks.
    const { stdout } = await promisify(execFile)('/bin/sh', ['-c', 'echo alive']);
    assert.equal(stdout, 'alive\n');
  });

  it('delivers output live, before the exit', async () => {
    const out = new Collect();
    const h = await sandbox.start(rspec('echo a; sleep 2; echo b'), out);
    let exited = false;
    const waiting = h.wait().then((r) => {
      exited = true;
      return r;
    });
    await out.until((c) => c.text('stdout') === 'a\n');
    assert.equal(exited, false, 'first chunk must arrive before the exit');
    const firstAt = out.chunks[0]?.at ?? 0;
    const result = await waiting;
    assert.equal(result.exitCode, 0);
    assert.equal(out.text('stdout'), 'a\nb\n');
    assert.ok((out.chunks.at(-1)?.at ?? 0) - firstAt >= 1500, 'second chunk about 2 s later');
    await h.destroy();
  });

  it('stop() ends a sleeping container within the grace, and is idempotent', async () => {
    const h = await sandbox.start(rspec('sleep 100'), new Collect());
    const t0 = Date.now();
    await Promise.all([h.stop(1), h.stop(1)]);
    const result = await h.wait();
    const ms = Date.now() - t0;
    assert.ok(ms < 3500, `took ${ms} ms`);
    assert.ok(result.signal === 15 || result.signal === 9, `signal ${result.signal}`);
    await h.stop(1); // already stopped: 304 is success
    await h.destroy();
    await h.destroy();
    await h.stop(1); // gone: 404 is success
    await sandbox.remove(h.containerId);
  });

  // Independent of the runtime: run once.
  if (!gvisor) it('a missing image fails fast with IMAGE_MISSING', async () => {
    const t0 = Date.now();
    await assert.rejects(sandbox.start(rspec('true', { image: 'quickcmd-no-such-image:never' }), new Collect()), (e: unknown) => {
      assert.ok(e instanceof SandboxError);
      assert.equal(e.code, 'IMAGE_MISSING');
      assert.match(e.message, /image quickcmd-no-such-image:never is not present on this host \(pull_images is false\)/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(await sandbox.hasImage('quickcmd-no-such-image:never'), false);
    assert.equal(await sandbox.hasImage(TEST_IMAGE), true);
  });

  // Independent of the runtime: run once.
  if (!gvisor) it('an unreachable engine is DOCKER_UNAVAILABLE', async () => {
    const dead = new DockerSandbox({ docker: new Dockerode({ socketPath: '/nonexistent/docker.sock' }) });
    assert.equal(await dead.ping(), false);
    await assert.rejects(dead.start(rspec('true'), new Collect()), (e: unknown) => e instanceof SandboxError && e.code === 'DOCKER_UNAVAILABLE');
    await assert.rejects(dead.listManaged(agentId), (e: unknown) => e instanceof SandboxError && e.code === 'DOCKER_UNAVAILABLE');
    await dead.close();
    await dead.close();
  });

  it('reattach to a running container replays earlier output and follows it to the end', async () => {
    const first = new DockerSandbox({ docker });
    const before = new Collect();
    const h = await first.start(rspec('echo one; echo e1 >&2; sleep 1; echo two; sleep 1; printf tail'), before);
    await before.until((c) => c.text('stdout') === 'one\n' && c.text('stderr') === 'e1\n');
    await first.close(); // the agent "dies"; the container keeps running
    assert.equal((await h.wait()).error, 'sandbox closed before the container exited');

    const second = new DockerSandbox({ docker });
    const all = new Collect();
    const skipped = new Collect();
    const [h1, h2] = await Promise.all([
      second.reattach(h.containerId, all, { stdout: 0, stderr: 0 }),
      second.reattach(h.containerId, skipped, { stdout: 4, stderr: 1 }),
    ]);
    const [r1, r2] = await Promise.all([h1.wait(), h2.wait()]);
    assert.deepEqual(r1, { exitCode: 0, signal: null, oomKilled: false, error: null });
    assert.deepEqual(r2, r1);
    assert.equal(all.text('stdout'), 'one\ntwo\ntail');
    assert.equal(all.text('stderr'), 'e1\n');
    assert.equal(skipped.text('stdout'), 'two\ntail');
    assert.equal(skipped.text('stderr'), '1\n');
    await h1.destroy();
    await second.close();
  });

  it('reattach to an exited container returns its output and exit code', async () => {
    const h = await sandbox.start(rspec('echo out; echo err >&2; printf "\\377\\n"; exit 7'), new Collect());
    assert.equal((await h.wait()).exitCode, 7);
    const out = new Collect();
    const again = await sandbox.reattach(h.containerId, out, { stdout: 0, stderr: 0 });
    assert.deepEqual(await again.wait(), { exitCode: 7, signal: null, oomKilled: false, error: null });
    assert.equal(out.text('stderr'), 'err\n');
    // Byte-exact: an invalid UTF-8 byte comes back as is.
    assert.deepEqual([...Buffer.concat(out.chunks.filter((c) => c.stream === 'stdout').map((c) => c.data))], [...Buffer.from('out\n'), 0xff, 0x0a]);
    const skipped = new Collect();
    await (await sandbox.reattach(h.containerId, skipped, { stdout: 2, stderr: 4 })).wait();
    assert.equal(skipped.text('stderr'), '');
    assert.equal(Buffer.concat(skipped.chunks.map((c) => c.data)).toString('latin1'), 't\n\xff\n');
    await again.destroy();
    await assert.rejects(sandbox.reattach(h.containerId, out, { stdout: 0, stderr: 0 }), (e: unknown) => {
      return e instanceof SandboxError && e.code === 'SANDBOX_ERROR' && /is gone/.test(e.message);
    });
  });

  // Independent of the runtime: run once.
  if (!gvisor) it('listManaged sees only this agent\'s containers', async () => {
    const otherAgent = `test-other-${randomUUID()}`;
    const other = await docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], Labels: { [LABEL_AGENT]: otherAgent, [LABEL_JOB]: 'x' } });
    try {
      const mine = await sandbox.start(rspec('sleep 30', { jobId: 'job-listed' }), new Collect());
      const listed = await sandbox.listManaged(agentId);
      assert.ok(listed.some((c) => c.containerId === mine.containerId && c.jobId === 'job-listed' && c.running));
      assert.ok(!listed.some((c) => c.containerId === other.id));
      for (const c of listed) await sandbox.remove(c.containerId);
      assert.deepEqual(await sandbox.listManaged(agentId), []);
      // Removed under it: the wait still settles, with the exit (137) or an error, never a rejection.
      const ended = await mine.wait();
      assert.ok(ended.error !== null || ended.exitCode === 137, JSON.stringify(ended));
      const still = await docker.getContainer(other.id).inspect();
      assert.equal(still.Id, other.id, 'the other agent\'s container is untouched');
    } finally {
      await other.remove({ force: true });
    }
  });
});
}
