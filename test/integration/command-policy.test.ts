/**
 * Command policies (SPEC §11) against the real agent and engine: `shell: deny` refuses a
 * shell job and runs a named one; `scoped` lets only a controller holding `shell`; the
 * refusals in their order (COMMAND_NOT_ALLOWED, INSUFFICIENT_SCOPES, INVALID_PARAMETER);
 * each type at its bounds; an injection corpus that either reaches the program as literal
 * arguments (printf prints exactly what the container received) or is refused; the
 * container's Cmd is the argv, no shell; GET /api/v1/commands; and a queued job running the
 * definition it was accepted with after a reload changed it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type Dockerode from 'dockerode';
import { stringify } from 'yaml';
import { loadConfig } from '../../internal/agent/config/config.js';
import { LABEL_AGENT, LABEL_JOB } from '../../internal/sandbox/labels.js';
import { LABEL_POOL } from '../../internal/sandbox/warm-pool-protocol.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { cancel, request, signedHeaders, submit, waitForEnd, type ClientTarget, type Reply } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';

const OPS = { id: 'ops', secret: 'o'.repeat(40), scopes: ['ops:read'] };
const ADMIN = { id: 'admin', secret: 'd'.repeat(40), scopes: ['ops:read', 'ops:admin', 'shell'] };

/** printf prints each argument it received in brackets: the container's argv, byte for byte. */
const ECHO = { name: 'echo-args', description: 'Print the arguments received', argv: ['printf', '[%s]\\n', '{a}', '--b={b}', 'literal {{a}} stays'], params: { a: { type: 'string', max_length: 4096 }, b: { type: 'string', max_length: 4096, default: 'B' } } };
const COMMANDS = [
  ECHO,
  { name: 'disk-usage', argv: ['du', '-s', '{path}'], params: { path: { type: 'string', pattern: '/[a-z0-9/._-]*', max_length: 64, default: '/etc' } }, scopes: ['ops:read'] },
  { name: 'typed', argv: ['printf', '%s|%s|%s\\n', '{n}', '{flag}', '{mode}'], params: { n: { type: 'integer', min: -3, max: 10 }, flag: { type: 'boolean', default: false }, mode: { type: 'enum', values: ['fast', 'slow'] } } },
  { name: 'whoami', argv: ['id', '-u'], scopes: ['ops:admin'], timeout_seconds: 20 },
  { name: 'nap', argv: ['sleep', '{s}'], params: { s: { type: 'integer', min: 1, max: 60 } } },
];

function config(shell: string, commands: unknown[] = COMMANDS): Record<string, unknown> {
  return {
    shell,
    commands,
    controllers: [OPS, ADMIN].map((c) => ({ id: c.id, secrets: [c.secret], scopes: c.scopes })),
    max_concurrent_jobs: 4,
  };
}

function as(a: TestAgent, who?: { id: string; secret: string }): ClientTarget {
  return { url: a.url, caFile: a.pki.caCert, secret: who?.secret ?? a.secret, controllerId: who?.id ?? a.controllerId };
}

async function named(t: ClientTarget, name: string, params: Record<string, unknown> = {}): Promise<{ reply: Reply; jobId: string }> {
  const { reply, payload } = await submit(t, { command: '', candidateMetadata: { named_command: { name, params } } });
  return { reply, jobId: payload.jobId };
}

async function runNamed(t: ClientTarget, name: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const { reply, jobId } = await named(t, name, params);
  assert.equal(reply.status, 202, reply.text);
  const body = await waitForEnd(t, jobId);
  return body['result'] as Record<string, unknown>;
}

function refused(reply: Reply, status: number, code: string, includes?: RegExp): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.json()['code'], code, reply.text);
  if (includes) assert.match(String(reply.json()['error']), includes);
}

function expectedEcho(a: string, b = 'B'): string {
  return `[${a}]\n[--b=${b}]\n[literal {a} stays]\n`;
}

function auditOf(a: TestAgent, type: string, jobId: string): Record<string, unknown> | null {
  a.agent.audit.flush();
  const row = a.agent.db.prepare('SELECT details FROM audit_events WHERE type = ? AND job_id = ? ORDER BY seq DESC LIMIT 1').get(type, jobId) as { details: string } | undefined;
  return row === undefined ? null : (JSON.parse(row.details) as Record<string, unknown>);
}

describe('shell: deny', () => {
  let docker: Dockerode;
  let a: TestAgent;

  before(async () => {
    docker = await requireDocker();
    a = await startTestAgent(config('deny'));
  });
  after(async () => {
    await a?.stop();
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
  });

  it('refuses a shell job with 403 COMMAND_NOT_ALLOWED (audited) and runs a named one', async () => {
    const { reply, payload } = await submit(as(a, ADMIN), { command: 'echo hi' });
    refused(reply, 403, 'COMMAND_NOT_ALLOWED');
    assert.equal(auditOf(a, 'job.rejected', payload.jobId)?.['code'], 'COMMAND_NOT_ALLOWED');
    const { reply: ok, jobId } = await named(as(a), 'echo-args', { a: 'hello world' });
    assert.equal(ok.status, 202, ok.text);
    const result = (await waitForEnd(as(a), jobId))['result'] as Record<string, unknown>;
    assert.equal(result['status'], 'completed');
    assert.equal(result['stdout'], expectedEcho('hello world'));
    const accepted = auditOf(a, 'job.accepted', jobId);
    const sha = a.config.commands.find((c) => c.definition.name === 'echo-args')?.sha256;
    assert.deepEqual(accepted?.['named_command'], { name: 'echo-args', params: { a: 'hello world', b: 'B' }, sha256: sha });
    assert.deepEqual(accepted?.['argv'], ['printf', '[%s]\\n', 'hello world', '--b=B', 'literal {a} stays']);
  });

  it('refuses in the order of §11, after the checks of §3', async () => {
    // Both a command and a named command; a malformed call; an empty command without one.
    refused((await submit(as(a), { command: 'id', candidateMetadata: { named_command: { name: 'echo-args', params: { a: 'x' } } } })).reply, 400, 'INVALID_PAYLOAD', /command/);
    refused((await submit(as(a), { command: '', candidateMetadata: { named_command: { name: 'echo-args', params: [] } } })).reply, 400, 'INVALID_PAYLOAD', /named_command\.params/);
    refused((await submit(as(a), { command: '', candidateMetadata: { named_command: { name: 'echo-args', argv: ['sh'] } } })).reply, 400, 'INVALID_PAYLOAD');
    refused((await submit(as(a), { command: '' })).reply, 400, 'INVALID_PAYLOAD', /command/);
    // A bad signature beats everything of §11.
    refused((await submit(as(a), { command: '', candidateMetadata: { named_command: { name: 'nope' } } }, 'x'.repeat(40))).reply, 401, 'INVALID_SIGNATURE');
    // Unknown command (with bad params too) → COMMAND_NOT_ALLOWED.
    refused((await named(as(a, ADMIN), 'rm-everything', { a: 5 })).reply, 403, 'COMMAND_NOT_ALLOWED');
    // Known, but the controller lacks its scope (even with bad params) → INSUFFICIENT_SCOPES.
    refused((await named(as(a, OPS), 'whoami', { bogus: 1 })).reply, 403, 'INSUFFICIENT_SCOPES', /ops:admin/);
    refused((await named(as(a), 'disk-usage')).reply, 403, 'INSUFFICIENT_SCOPES');
    // Then the parameters, naming the parameter and the rule.
    refused((await named(as(a, OPS), 'disk-usage', { path: 'etc' })).reply, 400, 'INVALID_PARAMETER', /parameter path: .*matching/);
    refused((await named(as(a), 'typed', { mode: 'fast' })).reply, 400, 'INVALID_PARAMETER', /parameter n: is required/);
    refused((await named(as(a), 'typed', { n: 1, mode: 'fast', extra: 'x' })).reply, 400, 'INVALID_PARAMETER', /extra/);
    // Required scopes of §3 still come first.
    refused((await submit(as(a, OPS), { command: '', requiredScopes: ['ops:admin'], candidateMetadata: { named_command: { name: 'nope' } } })).reply, 403, 'INSUFFICIENT_SCOPES');
    // A named command's image is fixed to its own (here the default) and it takes no env.
    refused((await submit(as(a), { command: '', candidateMetadata: { named_command: { name: 'echo-args', params: { a: 'x' } }, sandbox: { env: { PATH: '/workspace' } } } })).reply, 400, 'INVALID_PAYLOAD', /env/);
  });

  it('each type accepts and refuses at its bounds on the wire', async () => {
    const t = as(a);
    assert.equal((await runNamed(t, 'typed', { n: -3, mode: 'fast' }))['stdout'], '-3|false|fast\n');
    assert.equal((await runNamed(t, 'typed', { n: 10, flag: true, mode: 'slow' }))['stdout'], '10|true|slow\n');
    refused((await named(t, 'typed', { n: -4, mode: 'fast' })).reply, 400, 'INVALID_PARAMETER', /parameter n: -4 is below the minimum/);
    refused((await named(t, 'typed', { n: 11, mode: 'fast' })).reply, 400, 'INVALID_PARAMETER', /parameter n: 11 is above/);
    refused((await named(t, 'typed', { n: 1.5, mode: 'fast' })).reply, 400, 'INVALID_PARAMETER', /parameter n/);
    refused((await named(t, 'typed', { n: '1', mode: 'fast' })).reply, 400, 'INVALID_PARAMETER', /parameter n/);
    refused((await named(t, 'typed', { n: 1, flag: 'true', mode: 'fast' })).reply, 400, 'INVALID_PARAMETER', /parameter flag/);
    refused((await named(t, 'typed', { n: 1, mode: 'Fast' })).reply, 400, 'INVALID_PARAMETER', /parameter mode: .*one of fast, slow/);
    const du = await runNamed(as(a, OPS), 'disk-usage', { path: '/etc' });
    assert.equal(du['exit_code'], 0, String(du['stderr']));
    assert.match(String(du['stdout']), /^\d+\s+\/etc\n$/);
    refused((await named(as(a, OPS), 'disk-usage', { path: `/${'a'.repeat(64)}` })).reply, 400, 'INVALID_PARAMETER', /at most 64 characters/);
    assert.equal((await runNamed(t, 'echo-args', { a: 'x'.repeat(4096) }))['stdout'], expectedEcho('x'.repeat(4096)));
    refused((await named(t, 'echo-args', { a: 'x'.repeat(4097) })).reply, 400, 'INVALID_PARAMETER', /parameter a: is 4097 characters long/);
  });

  it('an injection corpus reaches the program as literal arguments, or is refused', async () => {
    const corpus: Array<[string, string]> = [
      ['semicolon', '; rm -rf / ; echo pwned'],
      ['command substitution', '$(id)'],
      ['backticks', '`id`'],
      ['variable', '${PATH} $HOME'],
      ['placeholder of another parameter', '{b}'],
      ['own placeholder', '{a}{a}'],
      ['flag as a value', '--flag'],
      ['format directive', '%s%s%n'],
      ['quotes', `'"' "'" \\'`],
      ['pipes and redirection', '| cat /etc/passwd > /tmp/x && true'],
      ['newlines', 'line1\nline2\r\n--b=evil'],
      ['glob', '/*'],
      ['unicode', 'héllo 😀 \u202e\u2028 \u0085'],
      ['empty', ''],
      ['spaces only', '   '],
      ['tab and escapes', '\t\\n\\0\u0007'],
    ];
    const t = as(a);
    const results = await Promise.all(corpus.map(async ([label, value]) => [label, value, await runNamed(t, 'echo-args', { a: value, b: value })] as const));
    for (const [label, value, r] of results) {
      assert.equal(r['status'], 'completed', label);
      assert.equal(r['stdout'], expectedEcho(value, value), `${label}: the container received it verbatim`);
      assert.equal(r['stderr'], '', label);
    }
    // NUL is always refused, in every type and position.
    refused((await named(t, 'echo-args', { a: 'a\u0000b' })).reply, 400, 'INVALID_PARAMETER', /parameter a: contains NUL/);
    refused((await named(t, 'echo-args', { a: 'x', b: '\u0000' })).reply, 400, 'INVALID_PARAMETER', /parameter b: contains NUL/);
    refused((await named(t, 'typed', { n: 1, mode: 'fast\u0000' })).reply, 400, 'INVALID_PARAMETER', /parameter mode/);
    // A pattern refuses what it does not describe (the anchoring is the agent's).
    for (const path of ['/etc; id', '/etc\n/root', '--help', '/etc/../..\u0000', '$(id)']) {
      refused((await named(as(a, OPS), 'disk-usage', { path })).reply, 400, 'INVALID_PARAMETER', /parameter path/);
    }
  });

  it('runs the argv as the container Cmd, without a shell', async () => {
    const { reply, jobId } = await named(as(a), 'nap', { s: 30 });
    assert.equal(reply.status, 202, reply.text);
    let info: Dockerode.ContainerInspectInfo | null = null;
    for (const deadline = Date.now() + 20_000; info === null && Date.now() < deadline; ) {
      const [c] = await docker.listContainers({ filters: { label: [`${LABEL_JOB}=${jobId}`] } });
      if (c !== undefined) info = await docker.getContainer(c.Id).inspect();
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(info !== null, 'the job got a container');
    assert.deepEqual(info.Config.Cmd, ['sleep', '30']);
    assert.deepEqual(info.Config.Entrypoint ?? [], []);
    assert.equal(info.Path, 'sleep');
    assert.deepEqual(info.Args, ['30']);
    assert.equal((await cancel(as(a), jobId)).status, 202);
    assert.equal(((await waitForEnd(as(a), jobId))['result'] as Record<string, unknown>)['status'], 'cancelled');
  });

  it('GET /api/v1/commands lists only what this controller may run, and the shell', async () => {
    const list = async (who: ClientTarget): Promise<Reply> => request(who, 'GET', '/api/v1/commands', undefined, signedHeaders(who, 'GET', '/api/v1/commands'));
    const shared = (await list(as(a))).json();
    assert.equal(shared['shell'], false);
    assert.deepEqual((shared['commands'] as Array<{ name: string }>).map((c) => c.name), ['echo-args', 'typed', 'nap']);
    const ops = (await list(as(a, OPS))).json();
    assert.deepEqual((ops['commands'] as Array<{ name: string }>).map((c) => c.name), ['echo-args', 'disk-usage', 'typed', 'nap']);
    const admin = (await list(as(a, ADMIN))).json();
    const cmds = admin['commands'] as Array<Record<string, unknown>>;
    assert.equal(cmds.length, 5);
    const typed = cmds.find((c) => c['name'] === 'typed') as Record<string, unknown>;
    assert.deepEqual((typed['params'] as Record<string, unknown>)['n'], { type: 'integer', min: -3, max: 10, rule: 'an integer >= -3 and <= 10' });
    assert.match(String(typed['sha256']), /^[0-9a-f]{64}$/);
    assert.equal('argv' in typed, false, 'the argv stays on the agent');
    refused(await request(as(a), 'GET', '/api/v1/commands'), 401, 'UNAUTHENTICATED');
  });
});

describe('shell: scoped', () => {
  let a: TestAgent;
  before(async () => {
    await requireDocker();
    a = await startTestAgent(config('scoped'));
  });
  after(async () => {
    await a?.stop();
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
  });

  it('lets only a controller holding the shell scope run a shell command', async () => {
    const { reply, payload } = await submit(as(a, ADMIN), { command: 'echo "$((6*7))"' });
    assert.equal(reply.status, 202, reply.text);
    assert.equal(((await waitForEnd(as(a, ADMIN), payload.jobId))['result'] as Record<string, unknown>)['stdout'], '42\n');
    refused((await submit(as(a, OPS), { command: 'echo hi' })).reply, 403, 'COMMAND_NOT_ALLOWED');
    refused((await submit(as(a), { command: 'echo hi' })).reply, 403, 'COMMAND_NOT_ALLOWED');
    const listed = await request(as(a, OPS), 'GET', '/api/v1/commands', undefined, signedHeaders(as(a, OPS), 'GET', '/api/v1/commands'));
    assert.equal(listed.json()['shell'], false);
    const admin = await request(as(a, ADMIN), 'GET', '/api/v1/commands', undefined, signedHeaders(as(a, ADMIN), 'GET', '/api/v1/commands'));
    assert.equal(admin.json()['shell'], true);
    assert.equal(((await runNamed(as(a, OPS), 'echo-args', { a: 'named still works' }))['stdout']), expectedEcho('named still works'));
  });

  it('GET /api/v1/commands stays signed with require_read_auth: false (audited refusal)', async () => {
    const text = stringify({ ...(await import('yaml')).parse(fs.readFileSync(a.configPath, 'utf8')), require_read_auth: false });
    fs.writeFileSync(a.configPath, text, { mode: 0o600 });
    a.agent.reload(loadConfig(a.configPath, {}));
    refused(await request(as(a), 'GET', '/api/v1/commands'), 401, 'UNAUTHENTICATED');
    a.agent.audit.flush();
    const row = a.agent.db.prepare("SELECT details FROM audit_events WHERE type = 'request.unauthenticated' ORDER BY seq DESC LIMIT 1").get() as { details: string } | undefined;
    assert.match(row?.details ?? '', /api\/v1\/commands without a signature/);
    const signed = await request(as(a, OPS), 'GET', '/api/v1/commands', undefined, signedHeaders(as(a, OPS), 'GET', '/api/v1/commands'));
    assert.equal(signed.status, 200, signed.text);
  });
});

describe('reload', () => {
  let a: TestAgent;
  before(async () => {
    await requireDocker();
    a = await startTestAgent({ ...config('deny'), max_concurrent_jobs: 1 });
  });
  after(async () => {
    await a?.stop();
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
  });

  it('a queued job runs the definition it was accepted with after a SIGHUP-style reload changed it', async () => {
    const t = as(a);
    const blocker = await named(t, 'nap', { s: 60 });
    assert.equal(blocker.reply.status, 202, blocker.reply.text);
    const queued = await named(t, 'echo-args', { a: 'accepted before' });
    assert.equal(queued.reply.status, 202, queued.reply.text);
    const before = auditOf(a, 'job.accepted', queued.jobId)?.['named_command'] as { sha256: string };

    const changed = COMMANDS.map((c) => (c.name === 'echo-args' ? { ...c, argv: ['printf', 'CHANGED <%s>\\n', '{a}', '{b}'] } : c));
    const text = stringify({ ...(await import('yaml')).parse(fs.readFileSync(a.configPath, 'utf8')), commands: changed });
    fs.writeFileSync(a.configPath, text, { mode: 0o600 });
    a.agent.reload(loadConfig(a.configPath, {}));
    const newSha = a.agent.config().commands.find((c) => c.definition.name === 'echo-args')?.sha256;
    assert.notEqual(newSha, before.sha256);

    assert.equal((await cancel(t, blocker.jobId)).status, 202);
    const old = (await waitForEnd(t, queued.jobId))['result'] as Record<string, unknown>;
    assert.equal(old['stdout'], expectedEcho('accepted before'), 'the queued job ran its accepted definition');
    const fresh = await runNamed(t, 'echo-args', { a: 'after' });
    assert.equal(fresh['stdout'], 'CHANGED <after>\nCHANGED <B>\n');
  });
});

describe('warm pool', () => {
  it('declines argv jobs: a named command runs cold, exactly as without a pool', async () => {
    const docker = await requireDocker();
    const a = await startTestAgent({ ...config('allow'), warm_pool_size: 1 });
    try {
      // Wait for the warm container, so the named job finds one it could (wrongly) take.
      for (const deadline = Date.now() + 20_000; ; ) {
        const warm = await docker.listContainers({ filters: { label: [`${LABEL_AGENT}=${a.agent.agentId}`, `${LABEL_POOL}`], status: ['running'] } });
        if (warm.length > 0) break;
        assert.ok(Date.now() < deadline, 'the pool filled');
        await new Promise((r) => setTimeout(r, 50));
      }
      const r = await runNamed(as(a), 'echo-args', { a: 'cold $(id)' });
      assert.equal(r['stdout'], expectedEcho('cold $(id)'));
      const { reply, payload } = await submit(as(a), { command: 'echo warm-ok' });
      assert.equal(reply.status, 202);
      assert.equal(((await waitForEnd(as(a), payload.jobId))['result'] as Record<string, unknown>)['stdout'], 'warm-ok\n');
    } finally {
      await a.stop();
      fs.rmSync(a.dir, { recursive: true, force: true });
    }
  });
});
