/**
 * `quickcmd` (one agent) as a person runs it: the built binary (`node dist/cmd/quickcmd.js`, from
 * `npm run build`) in a child process, against real agents on loopback (real HTTPS, real
 * Docker, real SQLite). Exit codes and output are what is asserted; the agent's status
 * API is the witness for what happened on the agent.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, prepareAgentDir, spawnAgent, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makePki } from '../helpers/tls.js';
import { status, waitForEnd, waitForStatus, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { run, type RunResult } from '../helpers/exec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/cmd/quickcmd.js');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-cli-home-'));

/** The environment of a person with no QUICKCMD_* settings and an empty home. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUICKCMD_') && k !== 'NODE_EXTRA_CA_CERTS') env[k] = v;
  return { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NO_COLOR: '1', ...extra };
}

/** A CLI still running, with its output so far. */
function spawnCli(args: readonly string[]): { proc: ChildProcess; exited: Promise<number | null>; stdout(): string; stderr(): string; until(pred: (out: string) => boolean, ms: number): Promise<void> } {
  const proc = spawn(process.execPath, [bin, ...args], { cwd: root, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  proc.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    for (const w of waiters) w();
  });
  proc.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
  return {
    proc,
    exited,
    stdout: () => out,
    stderr: () => err,
    until: (pred, ms) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for output; stdout: ${out} stderr: ${err}`)), ms);
        const check = (): void => {
          if (!pred(out)) return;
          clearTimeout(timer);
          resolve();
        };
        waiters.push(check);
        check();
        void exited.then(() => {
          clearTimeout(timer);
          if (!pred(out)) reject(new Error(`exited before the output came; stdout: ${out} stderr: ${err}`));
        });
      }),
  };
}

function cli(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<RunResult> {
  return run(process.execPath, [bin, ...args], { cwd: root, env: cleanEnv(extraEnv), timeoutMs: 120_000 });
}

/** Connection flags for one test agent. */
function conn(a: TestAgent): string[] {
  return ['--agent', a.url, '--controller-id', a.controllerId, '--secret-file', a.secretFile, '--ca-file', a.pki.caCert];
}

function target(a: TestAgent): ClientTarget {
  return { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
}

let a1: TestAgent;
let a2: TestAgent;

before(async () => {
  assert.ok(fs.existsSync(bin), `${bin} is missing: run npm run build first`);
  await requireDocker();
  [a1, a2] = await Promise.all([startTestAgent(), startTestAgent()]);
});

after(async () => {
  await Promise.all([a1?.stop(), a2?.stop()]);
});

describe('quickcmd run (one agent)', () => {
  it('prints the job output and exits with its exit code', async () => {
    const r = await cli(['run', ...conn(a1), '--', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.match(r.stderr, /^err$/m);
  });

  it('takes several words after -- as an argv, quoted for the shell', async () => {
    const r = await cli(['run', ...conn(a1), '--', 'sh', '-c', 'echo "$0 $1"; exit 7', 'a b', '$HOME']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'a b $HOME\n');
  });

  it('passes --env to the job and exits 0 on success', async () => {
    const r = await cli(['run', ...conn(a1), '--env', 'GREETING=hi there', '--memory', '64m', '--cpus', '0.25', '--', 'echo "$GREETING"']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi there\n');
  });

  it('exits 124 when the job times out', async () => {
    const r = await cli(['run', ...conn(a1), '--timeout', '1', '--', 'sleep 30']);
    assert.equal(r.code, 124, r.stderr);
    assert.match(r.stderr, /timed out/);
  });

  it('streams output live; Ctrl-C cancels the job on the agent and exits 130', async () => {
    const jobId = `cli-ctrlc-${Date.now()}`;
    const child = spawnCli(['run', ...conn(a1), '--job-id', jobId, '--', 'echo started; sleep 60']);
    // The first line arrives while the job still runs: output is followed live.
    await child.until((out) => out.includes('started\n'), 60_000);
    assert.equal((await status(target(a1), jobId)).json()['status'], 'running');
    child.proc.kill('SIGINT');
    assert.equal(await child.exited, 130, child.stderr());
    const end = await waitForEnd(target(a1), jobId);
    assert.equal(end['status'], 'cancelled');
    assert.match(child.stderr(), new RegExp(`cancelling job ${jobId}`));
  });

  it('when its reader goes away (| head -1) it cancels the job and exits 141, without a stack trace', async () => {
    const jobId = `cli-pipe-${Date.now()}`;
    const q = (w: string): string => `'${w.replace(/'/g, `'\\''`)}'`;
    const line = [process.execPath, bin, 'run', ...conn(a1), '--job-id', jobId, '--', 'seq 1 20000; sleep 60'].map(q).join(' ');
    const r = await run('bash', ['-c', `${line} | head -1; echo "exit=\${PIPESTATUS[0]}" >&2`], { env: cleanEnv(), timeoutMs: 120_000 });
    assert.equal(r.stdout, '1\n');
    assert.match(r.stderr, /exit=141$/m);
    assert.match(r.stderr, /output closed: cancelling job/);
    assert.doesNotMatch(r.stderr, /EPIPE|at /);
    assert.equal((await waitForEnd(target(a1), jobId))['status'], 'cancelled');
  });

  it('resumes from the last frame after the agent restarts mid-job: nothing lost, nothing twice', async () => {
    const port = await freePort();
    // spawnAgent waits for the "agent listening" log line (level info).
    const env = prepareAgentDir({ port, log_level: 'info' });
    let agent = await spawnAgent(env, port);
    const flags = ['--agent', agent.url, '--controller-id', env.controllerId, '--secret-file', env.secretFile, '--ca-file', env.pki.caCert];
    try {
      const child = spawnCli(['run', ...flags, '--', 'echo before; sleep 5; echo after; exit 6']);
      await child.until((out) => out.includes('before\n'), 60_000);
      agent.child.kill('SIGKILL');
      await agent.exited;
      agent = await spawnAgent(env, port);
      assert.equal(await child.exited, 6, child.stderr());
      assert.equal(child.stdout(), 'before\nafter\n');
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
      fs.rmSync(env.dir, { recursive: true, force: true });
    }
  });

  it('prints the result as parseable JSON with --json', async () => {
    const r = await cli(['run', ...conn(a1), '--json', '--', 'echo json; exit 4']);
    assert.equal(r.code, 4, r.stderr);
    const o = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(o['status'], 'completed');
    assert.equal(o['exit_code'], 4);
    assert.equal((o['result'] as Record<string, unknown>)['stdout'], 'json\n');
  });
});

describe('connection errors are one clear line', () => {
  it('refuses an agent certificate it cannot verify (no --ca-file)', async () => {
    const flags = ['--agent', a1.url, '--controller-id', a1.controllerId, '--secret-file', a1.secretFile];
    const r = await cli(['run', ...flags, '--', 'echo never']);
    assert.equal(r.code, 125, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /TLS verification failed.*--ca-file.*\(TLS_VERIFY_FAILED\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    const s = await cli(['job', 'status', ...flags, 'some-job']);
    assert.equal(s.code, 1, s.stderr);
    assert.match(s.stderr, /\(TLS_VERIFY_FAILED\)/);
  });

  it('--insecure skips verification only when spelled out, with a warning', async () => {
    const r = await cli(['run', '--agent', a1.url, '--controller-id', a1.controllerId, '--secret-file', a1.secretFile, '--insecure', '--', 'echo ok']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ok\n');
    assert.match(r.stderr, /warning: --insecure: the TLS certificate of .* is NOT verified/);
  });

  it("names the agent's code for a bad signature (401) and an unknown job (404)", async () => {
    const wrong = path.join(home, 'wrong-secret');
    fs.writeFileSync(wrong, 'x'.repeat(64), { mode: 0o600 });
    const r = await cli(['run', '--agent', a1.url, '--controller-id', a1.controllerId, '--secret-file', wrong, '--ca-file', a1.pki.caCert, '--', 'true']);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /job refused: .*\(INVALID_SIGNATURE\)/);
    const s = await cli(['job', 'status', ...conn(a1), 'no-such-job']);
    assert.equal(s.code, 1, s.stderr);
    assert.match(s.stderr, /\(JOB_NOT_FOUND\)/);
  });

  it('mTLS: --cert and --key present a client certificate; without them the agent is refused', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-cli-mtls-'));
    const pki = makePki(path.join(dir, 'pki'));
    const m = await startTestAgent({ tls_client_ca_file: pki.caCert }, {}, { dir, pki, secret: a1.secret });
    try {
      const client = pki.client(m.controllerId);
      const ok = await cli(['run', ...conn(m), '--cert', client.cert, '--key', client.key, '--', 'echo mtls']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'mtls\n');
      const refused = await cli(['run', ...conn(m), '--', 'echo never']);
      assert.equal(refused.code, 125, refused.stderr);
      assert.match(refused.stderr, /^quickcmd: agent 127\.0\.0\.1:\d+: .*\((TLS_ERROR|UNREACHABLE)\)$/m);
      assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    } finally {
      await m.stop();
    }
  });

  it('403, 409 and 429 each print one line with the code, and run exits 125', async () => {
    const img = await cli(['run', ...conn(a2), '--image', 'not-allowed:latest', '--', 'true']);
    assert.equal(img.code, 125, img.stderr);
    assert.match(img.stderr, /^quickcmd: agent .*: job refused: .*\(IMAGE_NOT_ALLOWED\)\n$/);
    const jobId = `cli-dup-${Date.now()}`;
    const once = await cli(['run', ...conn(a2), '--job-id', jobId, '--', 'true']);
    assert.equal(once.code, 0, once.stderr);
    const dup = await cli(['run', ...conn(a2), '--job-id', jobId, '--', 'true']);
    assert.equal(dup.code, 125, dup.stderr);
    assert.match(dup.stderr, /^quickcmd: agent .*: job refused: .*; use a new --job-id \(DUPLICATE_JOB\)\n$/);
    const busy = await startTestAgent({ max_concurrent_jobs: 1, max_queued_jobs: 0 });
    try {
      const first = await cli(['job', 'submit', ...conn(busy), '--', 'sleep 60']);
      assert.equal(first.code, 0, first.stderr);
      await waitForStatus(target(busy), first.stdout.trim(), 'running', 60_000);
      const full = await cli(['run', ...conn(busy), '--', 'true']);
      assert.equal(full.code, 125, full.stderr);
      assert.match(full.stderr, /^quickcmd: agent .*: job refused: .*; retry in \d+s \(QUEUE_FULL\)\n$/);
      const cancel = await cli(['job', 'cancel', ...conn(busy), first.stdout.trim()]);
      assert.equal(cancel.code, 0, cancel.stderr);
      await waitForEnd(target(busy), first.stdout.trim());
    } finally {
      await busy.stop();
    }
  });

  it('reports an unreachable agent', async () => {
    const r = await cli(['run', '--agent', '127.0.0.1:1', '--controller-id', 'c', '--secret-file', a1.secretFile, '--', 'true']);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /agent 127\.0\.0\.1:1: cannot reach the agent: .*ECONNREFUSED.*\(UNREACHABLE\)/);
  });
});

describe('quickcmd job', () => {
  it('submit, status, logs, logs --follow and cancel, human and --json', async () => {
    const sub = await cli(['job', 'submit', ...conn(a2), '--json', '--', 'echo one; echo two >&2']);
    assert.equal(sub.code, 0, sub.stderr);
    const { job_id: jobId } = JSON.parse(sub.stdout) as { job_id: string };
    const follow = await cli(['job', 'logs', ...conn(a2), '--follow', jobId]);
    assert.equal(follow.code, 0, follow.stderr);
    assert.equal(follow.stdout, 'one\n');
    assert.equal(follow.stderr, 'two\n');
    const logs = await cli(['job', 'logs', ...conn(a2), '--json', jobId]);
    assert.deepEqual(JSON.parse(logs.stdout), { job_id: jobId, status: 'completed', stdout: 'one\n', stderr: 'two\n' });
    const human = await cli(['job', 'status', ...conn(a2), jobId]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^STATUS +completed$/m);
    assert.match(human.stdout, /^EXIT CODE +0$/m);
    const js = await cli(['job', 'status', ...conn(a2), '--json', jobId]);
    const body = JSON.parse(js.stdout) as { status: string; result: { exit_code: number } };
    assert.equal(body.status, 'completed');
    assert.equal(body.result.exit_code, 0);
    const late = await cli(['job', 'cancel', ...conn(a2), jobId]);
    assert.equal(late.code, 1, late.stderr);
    assert.match(late.stderr, /\(JOB_FINISHED\)/);
  });

  it('job cancel stops a running job', async () => {
    const sub = await cli(['job', 'submit', ...conn(a2), '--', 'sleep 60']);
    assert.equal(sub.code, 0, sub.stderr);
    const jobId = sub.stdout.trim();
    const c = await cli(['job', 'cancel', ...conn(a2), '--json', jobId]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((JSON.parse(c.stdout) as { cancel_requested: boolean }).cancel_requested, true);
    assert.equal((await waitForEnd(target(a2), jobId))['status'], 'cancelled');
  });

});
