/**
 * `quickcmd run` across many agents, settings from the controller config file and the
 * environment, usage errors and shell completion — through the built binary
 * (`node dist/cmd/quickcmd.js`, from `npm run build`) against real agents on loopback.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { status, type ClientTarget } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { ensureCommand, run, type RunResult } from '../helpers/exec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/cmd/quickcmd.js');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-cli-fanout-'));

/** The environment of a person with no QUICKCMD_* settings and an empty home. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUICKCMD_') && k !== 'NODE_EXTRA_CA_CERTS') env[k] = v;
  return { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NO_COLOR: '1', ...extra };
}

function cli(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<RunResult> {
  return run(process.execPath, [bin, ...args], { cwd: root, env: cleanEnv(extraEnv), timeoutMs: 120_000 });
}

function target(a: TestAgent): ClientTarget {
  return { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
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

describe('settings from the controller config file and the environment', () => {
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

  it('on a terminal: colored prefixes and a progress line', async () => {
    await ensureCommand('script', 'bsdutils');
    const q = (w: string): string => `'${w.replace(/'/g, `'\\''`)}'`;
    const line = [process.execPath, bin, 'run', '--config', controllerYaml, '--agents', 'web1,web2', '--', 'echo hello'].map(q).join(' ');
    // script(1) runs the CLI on a pseudo-terminal, as a person at a terminal would.
    const r = await run('script', ['-qec', line, '/dev/null'], { cwd: root, env: cleanEnv({ NO_COLOR: '' }), timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /\x1b\[\d+mweb1\x1b\[0m \| hello/);
    assert.match(r.stdout, /\x1b\[\d+mweb2\x1b\[0m \| hello/);
    assert.match(r.stdout, /\[\d\/2 done\] \d running, 0 failed/);
    assert.match(r.stdout, /2 of 2 hosts succeeded/);
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
    assert.equal(r.code, 2, r.stderr);
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
    await ensureCommand('zsh', 'zsh');
    const file = path.join(home, '_quickcmd');
    fs.writeFileSync(file, r.stdout);
    const z = await run('zsh', ['-n', file]);
    assert.equal(z.code, 0, z.stderr);
  });
});
