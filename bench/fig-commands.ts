/**
 * Named commands (SPEC §11): submit → final frame of a named command (`printf` run as an
 * argv, no shell) against the same `printf` as a shell job, alternating one job at a time
 * on one daemon; and the door's cost of checking a call (parameters, one substitution
 * pass), measured in-process. A named job pays no more than a shell job: both are one
 * cold container (the warm pool declines argv jobs).
 */
import crypto from 'node:crypto';
import { compileCommand, resolveCall } from '../internal/agent/door/named-command.js';
import type { JobPayload } from '../internal/agent/wire/payload.js';
import { encodeJobBody } from '../internal/agent/wire/signing.js';
import { BenchClient } from './bench-client.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';
import { untilGone } from './engine-watch.js';
import { alternate, median, percentile } from './stats.js';

const ECHO = { name: 'echo-args', argv: ['printf', '[%s]\\n', '--a={a}', '{n}'], params: { a: { type: 'string', pattern: '[a-z ]*', max_length: 256 }, n: { type: 'integer', min: 0, max: 100 } } };

/** A signed body: the named call, or the same printf as a shell command line. */
function body(client: BenchClient, named: boolean): { jobId: string; text: string } {
  const now = Math.floor(Date.now() / 1000);
  const p: JobPayload = {
    jobId: `bench-${crypto.randomUUID()}`,
    prompt: '',
    command: named ? '' : "printf '[%s]\\n' '--a=hello world' 42",
    candidateMetadata: named ? { named_command: { name: ECHO.name, params: { a: 'hello world', n: 42 } } } : null,
    pluginMetadata: null,
    requiredScopes: null,
    snapshotMetadata: '',
    ttl: now + 300,
    timestamp: now,
    controllerId: client.target.controllerId,
  };
  return { jobId: p.jobId, text: encodeJobBody(p, Buffer.from(client.target.secret, 'utf8')) };
}

/** Microseconds per resolveCall of a two-parameter command (pattern and integer). */
function resolveMicros(n: number): number {
  const cmd = compileCommand({ ...ECHO, description: '', scopes: [], params: { a: { ...ECHO.params.a, type: 'string' }, n: { ...ECHO.params.n, type: 'integer' } } });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) resolveCall(cmd, { a: 'hello world', n: 42 });
  return ((performance.now() - t0) * 1000) / n;
}

/** Run the commands section. */
export async function commandsSection(ctx: BenchContext): Promise<Figure[]> {
  const agent = await ctx.startAgent('commands', { max_concurrent_jobs: 4, commands: [ECHO] });
  const client = new BenchClient(agent);
  const agentId = agent.agentId() ?? '';
  const namedMs: number[] = [];
  const shellMs: number[] = [];
  const one = (named: boolean, record: boolean) => async (): Promise<void> => {
    const t0 = performance.now();
    const b = body(client, named);
    const r = await client.request('POST', '/api/v1/jobs', b.text, { 'content-type': 'application/json' });
    if (r.status !== 202) throw new Error(`submit answered ${r.status}: ${r.text}`);
    const f = await client.follow(b.jobId);
    if (f.status !== 'completed' || f.exitCode !== 0 || f.bytes !== '[--a=hello world]\n[42]\n'.length) throw new Error(`${named ? 'named' : 'shell'} job ended ${f.status}/${f.exitCode} with ${f.bytes} bytes`);
    if (record) (named ? namedMs : shellMs).push(f.finalAt - t0);
    await untilGone(ctx.raw.docker, agentId, b.jobId);
  };
  try {
    for (let i = 0; i < 3; i++) await alternate(i, one(true, false), one(false, false));
    const n = ctx.n(30, 10);
    for (let i = 0; i < n; i++) await alternate(i, one(true, true), one(false, true));
  } finally {
    client.close();
    await ctx.stopAgent(agent);
  }
  const named = median(namedMs);
  const shell = median(shellMs);
  const micros = resolveMicros(ctx.n(5_000, 1_000));
  ctx.log(`commands: named p50 ${named.toFixed(1)} ms, shell p50 ${shell.toFixed(1)} ms, resolveCall ${micros.toFixed(2)} µs`);
  const ratio = ratioOf(named, shell);
  return [
    { section: 'commands', figure: 'submit → final frame, named `printf` (argv) vs shell `printf` (p50)', unit: 'ms', agent: named, raw: shell, ratio, target: 'ratio ≤ 1.05', met: ratio !== null && ratio <= 1.05, details: { samples: namedMs.length, named_p90_ms: percentile(namedMs, 90), shell_p90_ms: percentile(shellMs, 90) } },
    { section: 'commands', figure: 'door: check a call (2 params, pattern + integer, one pass)', unit: 'µs', agent: micros, raw: null, ratio: null, target: '(context)', met: null },
  ];
}
