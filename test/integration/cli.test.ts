/**
 * `quickcmd` as a person runs it: the built binary (`node dist/cmd/quickcmd.js`, from
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
import { status, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { hasCommand, run, type RunResult } from '../helpers/exec.js';

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

/** Poll (bounded) until the job reaches `want`. */
async function waitForStatus(a: TestAgent, jobId: string, want: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await status(target(a), jobId);
    if (s.status === 200 && s.json()['status'] === want) return;
    assert.ok(Date.now() < deadline, `job ${jobId} never became ${want}: ${s.text}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

let a1: TestAgent;
let a2: TestAgent;
let a3: TestAgent;
let controllerYaml: string;

before(async () => {
  assert.ok(fs.existsSync(bin), `${bin} is missing: run npm run build first`);
  await requireDocker();
  // a3 allows at most 30 s per job: `--timeout 60` is refused there (403 LIMIT_EXCEEDED).
  [a1, a2, a3] = await Promise.all([startTestAgent(), startTestAgent(), startTestAgent({ default_timeout_seconds: 30, max_timeout_seconds: 30 })]);
  // Each test agent has its own CA and secret: the controller config names them per agent.
  const entry = (name: string, a: TestAgent, url = a.url): string => `  ${name}: {url: "${url}", ca_file: "${a.pki.caCert}", secret_file: "${a.secretFile}"}\n`;
  controllerYaml = path.join(home, 'controller.yaml');
  fs.writeFileSync(
    controllerYaml,
    `controller_id: controller-1\nagents:\n${entry('web1', a1)}${entry('web2', a2)}${entry('web3', a3)}${entry('down', a1, 'https://127.0.0.1:1')}groups:\n  web: [web1, web2, web3]\n`,
  );
});

after(async () => {
  await Promise.all([a1?.stop(), a2?.stop(), a3?.stop()]);
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
    assert.equal(r.code, 125);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /TLS verification failed.*--ca-file.*\(TLS_VERIFY_FAILED\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    const s = await cli(['job', 'status', ...flags, 'some-job']);
    assert.equal(s.code, 1);
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
    assert.equal(r.code, 125);
    assert.match(r.stderr, /job refused: .*\(INVALID_SIGNATURE\)/);
    const s = await cli(['job', 'status', ...conn(a1), 'no-such-job']);
    assert.equal(s.code, 1);
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
      assert.equal(refused.code, 125);
      assert.match(refused.stderr, /^quickcmd: agent 127\.0\.0\.1:\d+: .*\((TLS_ERROR|UNREACHABLE)\)$/m);
      assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    } finally {
      await m.stop();
    }
  });

  it('403, 409 and 429 each print one line with the code, and run exits 125', async () => {
    const img = await cli(['run', ...conn(a2), '--image', 'not-allowed:latest', '--', 'true']);
    assert.equal(img.code, 125);
    assert.match(img.stderr, /^quickcmd: agent .*: job refused: .*\(IMAGE_NOT_ALLOWED\)\n$/);
    const jobId = `cli-dup-${Date.now()}`;
    assert.equal((await cli(['run', ...conn(a2), '--job-id', jobId, '--', 'true'])).code, 0);
    const dup = await cli(['run', ...conn(a2), '--job-id', jobId, '--', 'true']);
    assert.equal(dup.code, 125);
    assert.match(dup.stderr, /^quickcmd: agent .*: job refused: .*; use a new --job-id \(DUPLICATE_JOB\)\n$/);
    const busy = await startTestAgent({ max_concurrent_jobs: 1, max_queued_jobs: 0 });
    try {
      const first = await cli(['job', 'submit', ...conn(busy), '--', 'sleep 60']);
      assert.equal(first.code, 0, first.stderr);
      await waitForStatus(busy, first.stdout.trim(), 'running');
      const full = await cli(['run', ...conn(busy), '--', 'true']);
      assert.equal(full.code, 125);
      assert.match(full.stderr, /^quickcmd: agent .*: job refused: .*; retry in \d+s \(QUEUE_FULL\)\n$/);
      assert.equal((await cli(['job', 'cancel', ...conn(busy), first.stdout.trim()])).code, 0);
      await waitForEnd(target(busy), first.stdout.trim());
    } finally {
      await busy.stop();
    }
  });

  it('reports an unreachable agent', async () => {
    const r = await cli(['run', '--agent', '127.0.0.1:1', '--controller-id', 'c', '--secret-file', a1.secretFile, '--', 'true']);
    assert.equal(r.code, 125);
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
    assert.equal(late.code, 1);
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

  it('reads the agent from the controller config file and the environment', async () => {
    const r = await cli(['run', '--config', controllerYaml, '--agent', 'web2', '--', 'echo via-config']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'via-config\n');
    const e = await cli(['run', '--', 'echo via-env'], {
      QUICKCMD_AGENT: a3.url,
      QUICKCMD_CONTROLLER_ID: a3.controllerId,
      QUICKCMD_SECRET_FILE: a3.secretFile,
      QUICKCMD_CA_FILE: a3.pki.caCert,
    });
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout, 'via-env\n');
  });
});

describe('fan-out', () => {
  it('runs on a group; one failing host makes the exit code non-zero; lines are prefixed', async () => {
    const r = await cli(['run', '--config', controllerYaml, '--group', 'web', '--timeout', '60', '--max-failures', '0', '--', 'echo hello']);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '').sort();
    assert.deepEqual(lines, ['web1 | hello', 'web2 | hello']);
    assert.match(r.stderr, /^web3 +\| .*\(LIMIT_EXCEEDED\)$/m);
    assert.match(r.stderr, /^AGENT +STATUS +EXIT +DURATION +JOB$/m);
    assert.match(r.stderr, /^web1 +completed +0 /m);
    assert.match(r.stderr, /^web3 +error LIMIT_EXCEEDED +- /m);
    assert.match(r.stderr, /2 of 3 hosts succeeded/);
    assert.doesNotMatch(r.stdout + r.stderr, /\x1b\[/, 'no color when piped');
  });

  it('stops submitting once --max-failures is exceeded; the rest are skipped', async () => {
    const jobId = `cli-fanout-${Date.now()}`;
    const r = await cli(['run', '--config', controllerYaml, '--agents', 'web1,down,web2', '--parallel', '1', '--max-failures', '0', '--job-id', jobId, '--', 'echo hi']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, 'web1 | hi\n');
    assert.match(r.stderr, /^down +\| cannot reach the agent: .*\(UNREACHABLE\)$/m);
    assert.match(r.stderr, /^web2 +skipped /m);
    assert.match(r.stderr, /1 skipped: more than 0 failed/);
    // The skipped host never saw the job.
    assert.equal((await status(target(a2), jobId)).status, 404);
    assert.equal((await status(target(a1), jobId)).status, 200);
  });

  it('--json gives one parseable result per host and exit 0 when all succeed', async () => {
    const r = await cli(['run', '--config', controllerYaml, '--agents', 'web1,web2,web3', '--json', '--', 'echo x']);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout) as { agent: string; status: string; exit_code: number }[];
    assert.deepEqual(results.map((x) => [x.agent, x.status, x.exit_code]), [['web1', 'completed', 0], ['web2', 'completed', 0], ['web3', 'completed', 0]]);
  });
});

describe('usage errors exit 2 with the usage', () => {
  const cases: [string, string[], RegExp][] = [
    ['no command', ['run', '--agent', 'h:1'], /missing the command/],
    ['bad --memory', ['run', '--memory', '12x', '--', 'true'], /--memory/],
    ['unknown option', ['run', '--bogus', '--', 'true'], /unknown option '--bogus'/],
    ['no agent at all', ['job', 'status', 'x'], /no agent: pass --agent/],
    ['--agents outside run', ['job', 'status', '--agents', 'a,b', 'x'], /unknown option '--agents'/],
    ['unknown group', ['run', '--group', 'nope', '--', 'true'], /no such group/],
    ['no secret', ['run', '--agent', 'h:1', '--controller-id', 'c', '--', 'true'], /no secret/],
    ['bad shell', ['completion', 'fish'], /unsupported shell/],
  ];
  for (const [name, args, re] of cases) {
    it(name, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, `${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /Usage: quickcmd/);
    });
  }

  it('a config file with an unknown key names it', async () => {
    const bad = path.join(home, 'bad.yaml');
    fs.writeFileSync(bad, 'controler_id: x\n');
    const r = await cli(['job', 'status', '--config', bad, '--agent', 'h:1', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /controler_id: unknown key/);
  });
});

describe('completion', () => {
  it('bash: a valid script that knows the subcommands, flags and configured agents', async () => {
    const r = await cli(['completion', 'bash']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /complete -F _quickcmd quickcmd/);
    assert.match(r.stdout, /--max-failures/);
    const script = path.join(home, 'completion.bash');
    fs.writeFileSync(script, r.stdout);
    // Source it and ask for completions the way bash would, with a `quickcmd` on PATH.
    const binDir = path.join(home, 'bin');
    fs.mkdirSync(binDir, { recursive: true });
    fs.writeFileSync(path.join(binDir, 'quickcmd'), `#!/bin/sh\nexec "${process.execPath}" "${bin}" "$@"\n`, { mode: 0o755 });
    const probe = (line: string): Promise<RunResult> =>
      run('bash', ['-c', `source "${script}"; COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _quickcmd; printf '%s\\n' "\${COMPREPLY[@]}"`], {
        env: cleanEnv({ PATH: `${binDir}:${process.env['PATH'] ?? ''}`, QUICKCMD_CONTROLLER_CONFIG: controllerYaml }),
      });
    assert.deepEqual((await probe('quickcmd jo')).stdout.split('\n').filter(Boolean), ['job']);
    assert.deepEqual((await probe('quickcmd job s')).stdout.split('\n').filter(Boolean).sort(), ['status', 'submit']);
    assert.ok((await probe('quickcmd run --max')).stdout.includes('--max-failures'));
    assert.deepEqual((await probe('quickcmd run --agent we')).stdout.split('\n').filter(Boolean).sort(), ['web1', 'web2', 'web3']);
    assert.deepEqual((await probe('quickcmd run --group w')).stdout.split('\n').filter(Boolean), ['web']);
  });

  it('zsh: a script zsh accepts', async () => {
    const r = await cli(['completion', 'zsh']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^#compdef quickcmd/);
    if (await hasCommand('zsh')) {
      const file = path.join(home, '_quickcmd');
      fs.writeFileSync(file, r.stdout);
      const z = await run('zsh', ['-n', file]);
      assert.equal(z.code, 0, z.stderr);
    }
  });
});
