/**
 * Named commands through the built CLI (`node dist/cmd/quickcmd.js`, from `npm run
 * build`) against real agents on loopback running the commands of
 * examples/agent-config.yaml on the sandbox image: `quickcmd commands [--json]`,
 * `quickcmd run --command NAME --param K=V` on one agent and fanned out, a wrong
 * `--param` failing before anything is sent (the agents' audit logs are the witness), and
 * `shell: deny` refusing a shell command.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { run, type RunResult } from '../helpers/exec.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = path.join(root, 'dist/cmd/quickcmd.js');
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-cli-commands-'));
const example = parseYaml(fs.readFileSync(path.join(root, 'examples/agent-config.yaml'), 'utf8')) as { commands: Array<Record<string, unknown>> };

function cli(args: readonly string[]): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('QUICKCMD_')) env[k] = v;
  return run(process.execPath, [bin, ...args], { cwd: root, env: { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NO_COLOR: '1' }, timeoutMs: 120_000 });
}

function conn(a: TestAgent): string[] {
  return ['--agent', a.url, '--controller-id', a.controllerId, '--secret-file', a.secretFile, '--ca-file', a.pki.caCert];
}

/** Audit events about jobs so far (accepted or rejected): what reached the agent. */
function jobEvents(a: TestAgent): number {
  a.agent.audit.flush();
  return (a.agent.db.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE type IN ('job.accepted', 'job.rejected')").get() as { n: number }).n;
}

let web1: TestAgent;
let web2: TestAgent;
let controllerYaml: string;

before(async () => {
  assert.ok(fs.existsSync(bin), `${bin} is missing: run npm run build first`);
  await requireDocker();
  // web2 offers kernel-status with fewer values: typing is per agent.
  const narrower = example.commands.map((c) => (c['name'] === 'kernel-status' ? { ...c, params: { what: { type: 'enum', values: ['uptime'] } } } : c));
  [web1, web2] = await Promise.all([startTestAgent({ shell: 'deny', commands: example.commands }), startTestAgent({ shell: 'deny', commands: narrower })]);
  const entry = (name: string, a: TestAgent): string => `  ${name}: {url: "${a.url}", ca_file: "${a.pki.caCert}", secret_file: "${a.secretFile}"}\n`;
  controllerYaml = path.join(home, 'controller.yaml');
  fs.writeFileSync(controllerYaml, `controller_id: controller-1\nagents:\n${entry('web1', web1)}${entry('web2', web2)}groups:\n  web: [web1, web2]\n`);
});

after(async () => {
  await Promise.all([web1?.stop(), web2?.stop()]);
  fs.rmSync(home, { recursive: true, force: true });
});

describe('quickcmd commands', () => {
  it('prints NAME, PARAMS with types and DESCRIPTION, and whether the shell is allowed', async () => {
    const r = await cli(['commands', ...conn(web1)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'NAME           PARAMS                                                                        DESCRIPTION',
        'disk-usage     path:string(/[A-Za-z0-9/._-]*)=/etc                                           Disk usage of one directory',
        "tail-file      lines:integer[1..1000]=10 file:enum(passwd|group|hosts|hostname|resolv.conf)  Last lines of one of the image's system files",
        'kernel-status  what:enum(uptime|loadavg|meminfo|version)                                     One kernel status file (uptime, load, memory, version)',
        'shell commands: not allowed',
        '',
      ].join('\n'),
    );
  });

  it('--json prints the list with the full definitions', async () => {
    const r = await cli(['commands', '--json', ...conn(web1)]);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { shell: boolean; commands: Array<{ name: string; params: Record<string, unknown>; sha256: string }> };
    assert.equal(list.shell, false);
    assert.deepEqual(list.commands.map((c) => c.name), ['disk-usage', 'tail-file', 'kernel-status']);
    assert.deepEqual(list.commands[1]?.params['lines'], { type: 'integer', min: 1, max: 1000, default: 10, rule: 'an integer >= 1 and <= 1000' });
    assert.match(list.commands[0]?.sha256 ?? '', /^[0-9a-f]{64}$/);
  });
});

describe('quickcmd run --command', () => {
  it('runs each example command on the sandbox image, parameters typed by the definition', async () => {
    const du = await cli(['run', ...conn(web1), '--command', 'disk-usage', '--param', 'path=/etc']);
    assert.equal(du.code, 0, du.stderr);
    assert.match(du.stdout, /^\d+(\.\d+)?[KMG]?\s+\/etc\n$/);
    const tail = await cli(['run', ...conn(web1), '--command', 'tail-file', '--param', 'file=passwd', '-p', 'lines=1']);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /^nobody:x:65534:65534:/);
    const up = await cli(['run', ...conn(web1), '--command', 'kernel-status', '--param', 'what=uptime']);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /^\d+\.\d+ \d+\.\d+\n$/);
    const submitted = await cli(['job', 'submit', '--json', ...conn(web1), '--command', 'kernel-status', '--param', 'what=loadavg']);
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.equal(JSON.parse(submitted.stdout).status, 'pending');
  });

  it('a wrong --param fails before anything is sent (exit 2), naming it and its rule', async () => {
    const before = jobEvents(web1);
    const cases: Array<[string[], RegExp]> = [
      [['--param', 'lines=ten', '--param', 'file=passwd'], /--param lines: .*an integer >= 1 and <= 1000/],
      [['--param', 'lines=1001', '--param', 'file=passwd'], /--param lines: 1001 is above the maximum/],
      [['--param', 'file=shadow'], /--param file: .*one of passwd, group/],
      [['--param', 'lines=5'], /--param file: is required/],
      [['--param', 'file=passwd', '--param', 'colour=red'], /agent \S+: command tail-file: --param colour: no such parameter \(it takes lines, file\) \(INVALID_PARAMETER\)/],
      [['--param', 'file=passwd', '--param', 'file=group'], /--param file is given twice/],
      [['--param', 'file'], /expected NAME=VALUE/],
    ];
    for (const [params, why] of cases) {
      const r = await cli(['run', ...conn(web1), '--command', 'tail-file', ...params]);
      assert.equal(r.code, 2, `${params.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
    const mixed = await cli(['run', ...conn(web1), '--command', 'tail-file', '--', 'id']);
    assert.equal(mixed.code, 2, mixed.stderr);
    assert.match(mixed.stderr, /either --command NAME or a command after --/);
    assert.equal(jobEvents(web1), before, 'nothing reached the agent');
  });

  it('fans out with --group and --agents; a value one agent refuses fails before anything is sent anywhere', async () => {
    const ok = await cli(['run', '--config', controllerYaml, '--group', 'web', '--command', 'kernel-status', '--param', 'what=uptime']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^web1 \| \d+\.\d+ \d+\.\d+$/m);
    assert.match(ok.stdout, /^web2 \| \d+\.\d+ \d+\.\d+$/m);
    assert.match(ok.stderr, /2 of 2 hosts succeeded/);
    const before = [jobEvents(web1), jobEvents(web2)];
    const bad = await cli(['run', '--config', controllerYaml, '--agents', 'web1,web2', '--command', 'kernel-status', '--param', 'what=loadavg']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /agent web2: command kernel-status: --param what: got "loadavg"; must be one of uptime \(INVALID_PARAMETER\)/);
    assert.deepEqual([jobEvents(web1), jobEvents(web2)], before, 'nothing reached either agent');
  });

  it('shell: deny refuses a shell command (exit 125, COMMAND_NOT_ALLOWED); an unknown command is the agent\'s refusal', async () => {
    const r = await cli(['run', ...conn(web1), '--', 'echo hi']);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, /COMMAND_NOT_ALLOWED/);
    const unknown = await cli(['run', ...conn(web1), '--command', 'reboot']);
    assert.equal(unknown.code, 125, unknown.stderr);
    assert.match(unknown.stderr, /command "reboot" is not offered by this agent \(COMMAND_NOT_ALLOWED\)/);
  });
});
