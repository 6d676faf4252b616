/**
 * The controller library's pure parts: job payloads the agent accepts and verifies, run
 * flag parsing, settings resolution and its precedence, the fan-out policy, exit codes,
 * and the output formatting.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { jobSpecFor } from '../../internal/agent/door/job-limits.js';
import { parseSignedJob } from '../../internal/agent/wire/payload.js';
import { encodeJobBody, verifyJobSignature } from '../../internal/agent/wire/signing.js';
import { parseControllerConfig } from '../../internal/controller/controller-config.js';
import { ControllerError, networkError, SettingsError } from '../../internal/controller/controller-error.js';
import { fanOut } from '../../internal/controller/fanout.js';
import { buildPayload, commandLine, parseEnv, parseMemory, parseTimeout, shellQuote } from '../../internal/controller/job-request.js';
import { formatTable, PrefixedOutput } from '../../internal/controller/render.js';
import { exitCodeFor, skippedOutcome, type JobOutcome } from '../../internal/controller/run-job.js';
import { parseAgentUrl, resolveTargets } from '../../internal/controller/settings.js';
import { parseFrame, parseStatusReply } from '../../internal/controller/wire.js';
import { run } from '../helpers/exec.js';

describe('job payload', () => {
  const secret = Buffer.from('s'.repeat(40));
  const limits = {
    allowed_images: ['alpine:latest', 'busybox:1'],
    default_image: 'alpine:latest',
    default_cpu_limit: 0.5,
    max_cpu_limit: 2,
    default_memory_limit: 268435456,
    max_memory_limit: 1 << 30,
    default_timeout_seconds: 300,
    max_timeout_seconds: 600,
    default_pids_limit: 64,
  };

  it('is signed as the agent verifies it, and carries the sandbox requests', () => {
    const spec = { command: 'echo "<&>" \u2028', image: 'busybox:1', timeoutSeconds: 90, memoryBytes: 64 << 20, cpus: 0.25, env: { A: 'x y', B: '' } };
    const p = buildPayload(spec, 'controller-1', 1_700_000_000, 'job-1');
    assert.equal(p.ttl - p.timestamp, 300);
    const job = parseSignedJob(encodeJobBody(p, secret));
    assert.ok(verifyJobSignature(job, [secret]));
    assert.ok(!verifyJobSignature(job, [Buffer.from('t'.repeat(40))]));
    assert.deepEqual(jobSpecFor(job.payload, limits), {
      command: spec.command,
      image: 'busybox:1',
      cpuLimit: 0.25,
      memoryLimit: 64 << 20,
      timeoutSeconds: 90,
      pidsLimit: 64,
      env: { A: 'x y', B: '' },
      requiredScopes: [],
    });
  });

  it('leaves every limit to the agent when none is asked for', () => {
    const job = parseSignedJob(encodeJobBody(buildPayload({ command: 'true' }, 'c', 1, 'j'), secret));
    assert.deepEqual(Object.keys(job.payload.candidateMetadata ?? { x: 1 }), []);
    assert.equal(jobSpecFor(job.payload, limits).image, 'alpine:latest');
  });
});

describe('run flags', () => {
  it('parses sizes, timeouts and env', () => {
    assert.equal(parseMemory('268435456'), 268435456);
    assert.equal(parseMemory('256m'), 256 * 1024 * 1024);
    assert.equal(parseMemory('1g'), 1024 ** 3);
    assert.equal(parseMemory('512MiB'), 512 * 1024 * 1024);
    for (const bad of ['', '0', '-1', '12x', 'm']) assert.throws(() => parseMemory(bad), SettingsError, bad);
    assert.equal(parseTimeout('90'), 90);
    assert.equal(parseTimeout('5m'), 300);
    assert.equal(parseTimeout('1h'), 3600);
    for (const bad of ['0', '1.5', 'x', '-3']) assert.throws(() => parseTimeout(bad), SettingsError, bad);
    assert.deepEqual(parseEnv(['A=1', 'B=x=y', 'HOME'], { HOME: '/h' }), { A: '1', B: 'x=y', HOME: '/h' });
    assert.throws(() => parseEnv(['UNSET'], {}), /not set here/);
    assert.throws(() => parseEnv(['1A=x'], {}), SettingsError);
  });

  it('one word is a shell line; several are an argv the shell gets back intact', async () => {
    assert.equal(commandLine(['ls | wc -l']), 'ls | wc -l');
    assert.equal(shellQuote('plain-word_1.txt'), 'plain-word_1.txt');
    const words = ['printf', '[%s]\\n', "it's", '$HOME', 'a b', '', '*', 'x;y'];
    const r = await run('/bin/sh', ['-c', commandLine(words)]);
    assert.equal(r.stdout, "[it's]\n[$HOME]\n[a b]\n[]\n[*]\n[x;y]\n");
  });
});

describe('settings', () => {
  it('agent URLs: port 8443 unless given', () => {
    assert.equal(parseAgentUrl('web1.example.com').href, 'https://web1.example.com:8443/');
    assert.equal(parseAgentUrl('https://h').href, 'https://h:8443/');
    assert.equal(parseAgentUrl('https://h:443').href, 'https://h/');
    assert.equal(parseAgentUrl('h:9000').href, 'https://h:9000/');
    assert.equal(parseAgentUrl('[::1]').href, 'https://[::1]:8443/');
    assert.equal(parseAgentUrl('http://h').href, 'http://h:8443/');
    for (const bad of ['ftp://h', 'https://h/api', 'https://u:p@h', 'https://h?x=1']) assert.throws(() => parseAgentUrl(bad), SettingsError, bad);
  });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-settings-'));
  const files: Record<string, string> = {};
  const write = (name: string, text: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text, { mode: 0o600 });
    files[name] = p;
    return p;
  };
  write('default.secret', 'default-secret\n');
  write('web2.secret', 'web2-secret');
  write('env.secret', 'env-secret');
  write('flag.secret', 'flag-secret');
  write('ca.pem', 'CA');
  write('web2-ca.pem', 'WEB2CA');
  const cfg = write(
    'controller.yaml',
    'controller_id: ctl\nsecret_file: default.secret\nca_file: ca.pem\ndefault_agent: web1\nagents:\n  web1: {url: web1.example.com}\n  web2: {url: "https://web2:9443", secret_file: web2.secret, ca_file: web2-ca.pem, controller_id: ctl2}\ngroups:\n  all: [web1, web2]\n',
  );

  it('the most specific source wins: flag, agent entry, environment, file default', () => {
    const env = { QUICKCMD_CONTROLLER_CONFIG: cfg, QUICKCMD_SECRET_FILE: files['env.secret'], QUICKCMD_CONTROLLER_ID: 'env-ctl' };
    const [t1, t2] = resolveTargets({ group: 'all' }, { env }, { many: true }).targets;
    assert.equal(t1?.name, 'web1');
    assert.equal(t1?.url.href, 'https://web1.example.com:8443/');
    assert.equal(t1?.secret.toString(), 'env-secret');
    assert.equal(t1?.controllerId, 'env-ctl');
    assert.equal(t1?.ca?.toString(), 'CA');
    assert.equal(t2?.secret.toString(), 'web2-secret');
    assert.equal(t2?.controllerId, 'ctl2');
    assert.equal(t2?.ca?.toString(), 'WEB2CA');
    const [f] = resolveTargets({ agent: 'web2', secretFile: files['flag.secret'], controllerId: 'flag-ctl' }, { env }, { many: false }).targets;
    assert.equal(f?.secret.toString(), 'flag-secret');
    assert.equal(f?.controllerId, 'flag-ctl');
    const [d] = resolveTargets({}, { env: { QUICKCMD_CONTROLLER_CONFIG: cfg } }, { many: false }).targets;
    assert.equal(d?.name, 'web1', 'default_agent');
    assert.equal(d?.secret.toString(), 'default-secret', 'trailing newline dropped');
  });

  it('warns on --insecure and refuses what cannot work', () => {
    const env = { QUICKCMD_CONTROLLER_CONFIG: cfg };
    const r = resolveTargets({ agent: 'web1', insecure: true }, { env }, { many: false });
    assert.equal(r.targets[0]?.insecure, true);
    assert.match(r.warnings.join('\n'), /--insecure.*NOT verified/);
    assert.throws(() => resolveTargets({ agent: 'wbe1' }, { env }, { many: false }), /no agent named "wbe1"/);
    assert.throws(() => resolveTargets({ agents: 'web1' }, { env }, { many: false }), /work with `quickcmd run` only/);
    assert.throws(() => resolveTargets({ agent: 'web1', cert: 'c.pem' }, { env }, { many: false }), /both --cert and --key/);
    assert.throws(() => resolveTargets({ agent: 'h:1' }, { env: {}, home: dir }, { many: false }), /no controller id/);
    assert.throws(() => resolveTargets({ agent: 'h:1', config: path.join(dir, 'missing.yaml') }, { env: {} }, { many: false }), /cannot read controller config/);
  });

  it('config file errors name the key', () => {
    assert.throws(() => parseControllerConfig('agents:\n  a: {url: h, insecure: true}\n', 'f'), /agents\.a\.insecure: unknown key/);
    assert.throws(() => parseControllerConfig('groups:\n  g: [nope]\n', 'f'), /groups\.g: no agent named "nope"/);
    assert.throws(() => parseControllerConfig('a: [', 'f'), /not valid YAML/);
  });
});

function outcome(o: Partial<JobOutcome>): JobOutcome {
  return { ...skippedOutcome('a'), jobId: 'j', status: 'completed', exitCode: 0, durationMs: 1, ...o };
}

describe('exit codes', () => {
  it("are the job's own, 124 on timeout, 130 after a cancel, 125 when it could not run", () => {
    assert.equal(exitCodeFor(outcome({ exitCode: 3 })), 3);
    assert.equal(exitCodeFor(outcome({ status: 'failed', exitCode: 124, timedOut: true })), 124);
    assert.equal(exitCodeFor(outcome({ status: 'failed', exitCode: 137 })), 137);
    assert.equal(exitCodeFor(outcome({ status: 'failed', exitCode: null })), 125);
    assert.equal(exitCodeFor(outcome({ status: 'rejected', exitCode: null })), 125);
    assert.equal(exitCodeFor(outcome({ status: 'error', exitCode: null })), 125);
    assert.equal(exitCodeFor(outcome({ status: 'cancelled', exitCode: 137, cancelRequested: true })), 130);
  });
});

describe('fan-out policy', () => {
  type R = { h: string; ok: boolean; skipped?: boolean };
  const hooks = (fail: ReadonlySet<string>, log: string[], inFlight: { now: number; max: number }) => ({
    run: async (h: string): Promise<R> => {
      log.push(h);
      inFlight.now++;
      inFlight.max = Math.max(inFlight.max, inFlight.now);
      await new Promise((r) => setImmediate(r));
      inFlight.now--;
      return { h, ok: !fail.has(h) };
    },
    ok: (r: R) => r.ok,
    skipped: (h: string): R => ({ h, ok: false, skipped: true }),
  });

  it('runs at most `parallel` hosts at once and keeps host order', async () => {
    const log: string[] = [];
    const inFlight = { now: 0, max: 0 };
    const hosts = ['a', 'b', 'c', 'd', 'e'];
    const res = await fanOut(hosts, hooks(new Set(), log, inFlight), { parallel: 2, maxFailures: null });
    assert.equal(inFlight.max, 2);
    assert.deepEqual(res.map((r) => r.h), hosts);
    assert.deepEqual(log, hosts);
  });

  it('starts no new host once more than maxFailures failed; the rest are skipped', async () => {
    const log: string[] = [];
    const res = await fanOut(['a', 'b', 'c', 'd'], hooks(new Set(['b']), log, { now: 0, max: 0 }), { parallel: 1, maxFailures: 0 });
    assert.deepEqual(log, ['a', 'b']);
    assert.deepEqual(res, [{ h: 'a', ok: true }, { h: 'b', ok: false }, { h: 'c', ok: false, skipped: true }, { h: 'd', ok: false, skipped: true }]);
    const tolerant: string[] = [];
    await fanOut(['a', 'b', 'c', 'd'], hooks(new Set(['b']), tolerant, { now: 0, max: 0 }), { parallel: 1, maxFailures: 1 });
    assert.deepEqual(tolerant, ['a', 'b', 'c', 'd']);
  });

  it('an aborted fan-out starts nothing more', async () => {
    const ac = new AbortController();
    ac.abort();
    const log: string[] = [];
    const res = await fanOut(['a', 'b'], hooks(new Set(), log, { now: 0, max: 0 }), { parallel: 1, maxFailures: null, signal: ac.signal });
    assert.deepEqual(log, []);
    assert.equal(res.length, 2);
  });
});

describe('output', () => {
  it('prefixes whole lines per agent and keeps partial lines until they end', () => {
    const out: string[] = [];
    const err: string[] = [];
    const p = new PrefixedOutput({ stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, ['web1', 'db'], false, false);
    p.write('web1', 'stdout', 'hel');
    p.write('db', 'stdout', 'x\n');
    p.write('web1', 'stdout', 'lo\nwor');
    p.write('web1', 'stderr', 'oops\n');
    p.end('web1');
    assert.equal(out.join(''), 'db   | x\nweb1 | hello\nweb1 | wor\n');
    assert.equal(err.join(''), 'web1 | oops\n');
  });

  it('colors the prefix only when asked to', () => {
    const out: string[] = [];
    const p = new PrefixedOutput({ stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => true } }, ['a'], true, false);
    p.write('a', 'stdout', 'x\n');
    assert.equal(out.join(''), '\x1b[36ma\x1b[0m | x\n');
  });

  it('aligns tables', () => {
    assert.equal(formatTable([['AGENT', 'STATUS'], ['web1', 'completed'], ['a', 'x']]), 'AGENT  STATUS\nweb1   completed\na      x\n');
  });
});

describe('wire and errors', () => {
  it('narrows frames and status answers', () => {
    assert.deepEqual(parseFrame('{"job_id":"j","seq":2,"timestamp":"t","stream":"stderr","data":"x","final":false}'), { final: false, seq: 2, timestamp: 't', stream: 'stderr', data: 'x' });
    assert.deepEqual(parseFrame('{"job_id":"j","seq":3,"stream":"","data":"","final":true,"status":"failed","exit_code":124}'), { final: true, seq: 3, status: 'failed', exit_code: 124 });
    for (const bad of ['x', '[]', '{"seq":1,"stream":"other","data":"","final":false}', '{"seq":1.5,"stream":"stdout","data":"","final":false}', '{"seq":1,"final":true,"status":"weird"}']) {
      assert.equal(parseFrame(bad), null, bad);
    }
    assert.deepEqual(parseStatusReply('{"job_id":"j","status":"running","result":null}'), { job_id: 'j', status: 'running', result: null });
    assert.equal(parseStatusReply('{"job_id":"j","status":"done","result":null}'), null);
  });

  it("one line with the agent's code and a hint", () => {
    const e = new ControllerError('web1', 'QUEUE_FULL', 'job refused: queue is full', { status: 429, retryAfterSeconds: 3 });
    assert.equal(e.describe(), 'agent web1: job refused: queue is full; retry in 3s (QUEUE_FULL)');
    const tls = networkError('web1', Object.assign(new Error('self-signed certificate'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }));
    assert.equal(tls.code, 'TLS_VERIFY_FAILED');
    assert.equal(networkError('web1', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).code, 'UNREACHABLE');
  });
});
