/**
 * SPEC §14 policy end to end on the real engine: 403 RUNTIME_NOT_ALLOWED (audited) for a
 * runtime that is not allowed, unknown, or below the image's minimum; a job that asks for
 * nothing is raised to its image's minimum; a container the engine created under another
 * runtime is removed unstarted and the job fails; and the built daemon refuses to start
 * (exit 2) or to reload (old config kept) when the engine lacks an allowed runtime, against
 * a private dockerd that has no runsc; `quickcmd run --runtime`. Run `npm run build` first.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Dockerode from 'dockerode';
import { stringify } from 'yaml';
import { LABEL_AGENT } from '../../internal/sandbox/labels.js';
import { freePort, prepareAgentDir, spawnAgent, startTestAgent, type SpawnedAgent, type TestAgent } from '../helpers/agent.js';
import { submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { until } from '../helpers/wait.js';
import { removeLabelled, requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { startPrivateEngine, type PrivateEngine } from '../helpers/engine.js';
import { requireRuntime } from '../helpers/runtimes.js';
import { run } from '../helpers/exec.js';

const DAEMON = path.resolve('dist/cmd/quickcmd-agent.js');
const CLI = path.resolve('dist/cmd/quickcmd.js');

/** The built CLI against one test agent (no controller config from the environment). */
function cli(a: TestAgent, args: readonly string[], words = 1): ReturnType<typeof run> {
  const conn = ['--agent', a.url, '--controller-id', a.controllerId, '--secret-file', a.secretFile, '--ca-file', a.pki.caCert];
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: a.dir };
  return run(process.execPath, [CLI, ...args.slice(0, words), ...conn, ...args.slice(words)], { env, timeoutMs: 120_000 });
}

interface Result {
  status: string;
  exit_code: number | null;
  stdout: string;
  error: string | null;
  runtime: string;
}

function target(a: { url: string; pki: { caCert: string }; secret: string; controllerId: string }): ClientTarget {
  return { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
}

async function runJob(t: ClientTarget, command: string, sandbox?: Record<string, unknown>): Promise<Result> {
  const { reply, payload } = await submit(t, { command, candidateMetadata: sandbox === undefined ? null : { sandbox } });
  assert.equal(reply.status, 202, reply.text);
  return (await waitForEnd(t, payload.jobId, 60_000))['result'] as Result;
}

async function refused(a: TestAgent, sandbox: Record<string, unknown>, reason: RegExp): Promise<void> {
  const { reply, payload } = await submit(target(a), { command: 'true', candidateMetadata: { sandbox } });
  assert.equal(reply.status, 403, reply.text);
  assert.equal(reply.json()['code'], 'RUNTIME_NOT_ALLOWED');
  assert.doesNotMatch(String(reply.json()['error']), /allowed_runtimes|image_runtimes/, 'the config detail goes to the audit log only');
  const row = a.agent.db.prepare("SELECT details FROM audit_events WHERE type = 'job.rejected' AND job_id = ?").get(payload.jobId) as { details: string } | undefined;
  assert.ok(row !== undefined, 'the refusal is audited');
  const details = JSON.parse(row.details) as { code: string; reason: string };
  assert.equal(details.code, 'RUNTIME_NOT_ALLOWED');
  assert.match(details.reason, reason);
}

describe('runtime policy through the agent API', () => {
  let docker: Dockerode;
  const agents: TestAgent[] = [];

  before(async () => {
    docker = await requireDocker();
    await requireRuntime(docker, 'runsc');
  });

  after(async () => {
    for (const a of agents) {
      await a.stop();
      await removeLabelled(docker, LABEL_AGENT, a.agent.agentId);
      fs.rmSync(a.dir, { recursive: true, force: true });
    }
  });

  it('runc only (the default): asking for runsc, or an unknown runtime, is 403 RUNTIME_NOT_ALLOWED and audited', async () => {
    const a = await startTestAgent();
    agents.push(a);
    await refused(a, { runtime: 'runsc' }, /runtime runsc is not in allowed_runtimes \(runc\)/);
    await refused(a, { runtime: 'kata' }, /"kata" is not a runtime this agent knows/);
    const r = await runJob(target(a), 'echo ok', { runtime: 'runc' });
    assert.equal(r.status, 'completed');
    assert.equal(r.runtime, 'runc');
    const c = await cli(a, ['run', '--runtime', 'runsc', '--', 'true']);
    assert.equal(c.code, 125, c.stderr);
    assert.match(c.stderr, /^quickcmd: agent .*: job refused: .*\(RUNTIME_NOT_ALLOWED\)\n$/);
  });

  it('quickcmd run --runtime runsc runs the job under gVisor where it is allowed', async () => {
    const a = await startTestAgent({ allowed_runtimes: ['runc', 'runsc'] });
    agents.push(a);
    const jobId = `cli-runsc-${Date.now()}`;
    const c = await cli(a, ['run', '--runtime', 'runsc', '--job-id', jobId, '--', 'uname -r']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, '4.4.0\n');
    const st = await cli(a, ['job', 'status', jobId], 2);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^RUNTIME +runsc$/m);
    const plain = await cli(a, ['run', '--', 'uname -r']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.notEqual(plain.stdout, '4.4.0\n', 'the default stays runc');
  });

  it('an image minimum raises a job that asks for nothing, and refuses one that asks for less', async () => {
    const a = await startTestAgent({ allowed_runtimes: ['runc', 'runsc'], image_runtimes: { [TEST_IMAGE]: 'runsc' } });
    agents.push(a);
    const r = await runJob(target(a), 'uname -r');
    assert.equal(r.status, 'completed', JSON.stringify(r));
    assert.equal(r.runtime, 'runsc');
    assert.equal(r.stdout, '4.4.0\n', 'it really ran under gVisor');
    await refused(a, { runtime: 'runc' }, /runtime runc is below the minimum runsc that image_runtimes sets for/);
    const accepted = a.agent.db.prepare("SELECT details FROM audit_events WHERE type = 'job.accepted' ORDER BY seq LIMIT 1").get() as { details: string };
    assert.equal(JSON.parse(accepted.details).runtime, 'runsc');
  });

  it('a container the engine created under another runtime is removed unstarted and the job fails', async () => {
    // Narrow fake of the one path the real engine will not produce: a proxy in front of it
    // that drops HostConfig.Runtime, so the engine uses its default (runc) for a runsc job.
    const tampering = Object.create(docker) as Dockerode;
    tampering.createContainer = (o: Dockerode.ContainerCreateOptions) => docker.createContainer({ ...o, HostConfig: { ...o.HostConfig, Runtime: undefined } });
    const a = await startTestAgent({ allowed_runtimes: ['runc', 'runsc'], default_runtime: 'runsc' }, { docker: tampering });
    agents.push(a);
    const r = await runJob(target(a), 'echo must-not-run');
    assert.equal(r.status, 'failed', JSON.stringify(r));
    assert.match(r.error ?? '', /created with runtime "runc", not runsc; it was removed unstarted/);
    assert.equal(r.stdout, '');
    assert.equal(r.runtime, 'runsc');
    assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${a.agent.agentId}`] } }), []);
  });
});

describe('the daemon against an engine without runsc (private dockerd)', () => {
  let engine: PrivateEngine | undefined;
  let agent: SpawnedAgent | undefined;
  const dirs: string[] = [];

  before(async () => {
    await requireDocker();
    assert.ok(fs.existsSync(DAEMON), `${DAEMON} is missing: run npm run build`);
    engine = await startPrivateEngine({ images: [TEST_IMAGE], daemonConfig: {} });
    const listed = Object.keys(((await engine.docker.info()) as { Runtimes?: object }).Runtimes ?? {});
    assert.ok(!listed.includes('runsc'), `the private engine must not have runsc (it lists ${listed.join(', ')})`);
  });

  after(async () => {
    if (agent !== undefined && agent.child.exitCode === null) {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
    await engine?.destroy();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('refuses to start (exit 2) naming the runtime the engine lacks', async () => {
    const env = prepareAgentDir({ allowed_runtimes: ['runc', 'runsc'] });
    dirs.push(env.dir);
    const child = spawn(process.execPath, [DAEMON, '--config', env.configPath], { env: { ...process.env, DOCKER_HOST: `unix://${engine?.socketPath}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    assert.equal(code, 2, out);
    assert.match(out, /config: allowed_runtimes: runtime runsc is not registered with the Docker engine \(it lists [^)]*runc[^)]*\)/);
    assert.doesNotMatch(out, /agent listening/);
  });

  it('refuses a reload that allows a runtime the engine lacks, keeping the old config', async () => {
    const port = await freePort();
    const env = prepareAgentDir({ port, log_level: 'info' });
    dirs.push(env.dir);
    agent = await spawnAgent(env, port, { DOCKER_HOST: `unix://${engine?.socketPath}` });
    const t = target(agent);
    const text = fs.readFileSync(env.configPath, 'utf8');
    fs.writeFileSync(env.configPath, `${text}${stringify({ allowed_runtimes: ['runc', 'runsc'] })}`);
    agent.child.kill('SIGHUP');
    const a = agent;
    await until('the reload refusal', () => (/config reload refused/.test(a.output()) ? true : undefined), 20_000, 50);
    assert.match(a.output(), /runtime runsc is not registered with the Docker engine/);
    const { reply } = await submit(t, { command: 'true', candidateMetadata: { sandbox: { runtime: 'runsc' } } });
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.json()['code'], 'RUNTIME_NOT_ALLOWED');
    const r = await runJob(t, 'echo still-runs');
    assert.equal(r.status, 'completed', JSON.stringify(r));
    assert.equal(r.stdout, 'still-runs\n');
  });
});
