/**
 * Issue 16 (SPEC §12) through the real agent API against the real engine: signed input
 * files land in /workspace with their modes and owner before the command; artifacts are
 * collected after an exit, a failure and a timeout, downloaded (tar and single file) by
 * their owner only, audited, and pruned with the job. Every hostile case of the issue:
 * path traversal variants, bad base64, bad mode, over the caps (400/403, nothing created),
 * symlinks to /etc/shadow and /proc/1/root, a symlinked artifact directory, a FIFO, a
 * file growing while collected, a 10 GiB sparse file (bounded, never followed, result stored).
 * QUICKCMD_TEST_RUNTIME=runsc runs the same file jobs under gVisor (default runc).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { JobStore } from '../../internal/agent/jobs/job-store.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { request, signedHeaders, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';
import { requireRuntime, RUNTIMES_UNDER_TEST } from '../helpers/runtimes.js';
import { requireDocker } from '../helpers/docker.js';

const OTHER_SECRET = crypto.randomBytes(32).toString('hex');

interface FileSpec { path: string; content_base64: string; mode?: string }
interface Artifact { path: string; size: number; sha256: string }
interface Result {
  status: string;
  exit_code: number | null;
  stdout: string;
  stderr: string;
  error: string | null;
  timed_out: boolean;
  artifacts?: Artifact[];
  artifacts_skipped?: { path: string; reason: string }[];
  artifacts_truncated?: boolean;
  artifacts_error?: string | null;
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const sha = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');

function target(a: TestAgent, controllerId = a.controllerId, secret = a.secret): ClientTarget {
  return { url: a.url, caFile: a.pki.caCert, secret, controllerId };
}

async function send(a: TestAgent, command: string, files: unknown, artifacts: unknown, sandbox?: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown>; jobId: string }> {
  const meta: Record<string, unknown> = {};
  if (files !== undefined) meta['files'] = files;
  if (artifacts !== undefined) meta['artifacts'] = artifacts;
  if (sandbox !== undefined) meta['sandbox'] = sandbox;
  const { reply, payload } = await submit(target(a), { command, candidateMetadata: meta });
  return { status: reply.status, body: reply.json(), jobId: payload.jobId };
}

async function run(a: TestAgent, command: string, files?: FileSpec[], artifacts?: string[], sandbox?: Record<string, unknown>): Promise<{ jobId: string; result: Result }> {
  const r = await send(a, command, files, artifacts, sandbox);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const body = await waitForEnd(target(a), r.jobId, 90_000);
  return { jobId: r.jobId, result: body['result'] as Result };
}

async function get(a: TestAgent, path: string, t = target(a)): Promise<{ status: number; headers: Record<string, unknown>; data: Buffer }> {
  const reply = await request(t, 'GET', path, undefined, signedHeaders(t, 'GET', path));
  // The helper decodes as UTF-8; binary bodies are refetched raw below when needed.
  return { status: reply.status, headers: reply.headers, data: Buffer.from(reply.text, 'utf8') };
}

async function untar(data: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      const parts: Buffer[] = [];
      for await (const p of e as AsyncIterable<Buffer>) parts.push(p);
      out.set(e.header.name, Buffer.concat(parts));
    }
  })();
  ex.end(data);
  await done;
  return out;
}

function auditOf(a: TestAgent, jobId: string, type: string): Record<string, unknown> {
  const row = a.agent.db.prepare('SELECT details FROM audit_events WHERE job_id = ? AND type = ?').get(jobId, type) as { details: string } | undefined;
  assert.ok(row, `${type} of ${jobId} is audited`);
  return JSON.parse(row.details) as Record<string, unknown>;
}

// Once per runtime (SPEC §14); QUICKCMD_TEST_RUNTIME=<name> narrows it to one.
for (const RUNTIME_UNDER_TEST of RUNTIMES_UNDER_TEST.filter((r) => (process.env['QUICKCMD_TEST_RUNTIME'] ?? r) === r)) {
const RUNTIME = RUNTIME_UNDER_TEST === 'runc' ? undefined : RUNTIME_UNDER_TEST;
const sandboxOf = (s: Record<string, unknown> = {}): Record<string, unknown> | undefined => (RUNTIME === undefined ? (Object.keys(s).length > 0 ? s : undefined) : { ...s, runtime: RUNTIME });

describe(RUNTIME === undefined ? 'files in, artifacts out (real engine)' : `files in, artifacts out (real engine) under ${RUNTIME}`, { timeout: 600_000 }, () => {
  let a: TestAgent;
  before(async () => {
    const docker = await requireDocker();
    await requireRuntime(docker, RUNTIME_UNDER_TEST);
    a = await startTestAgent({
      controllers: [{ id: 'other', secrets: [OTHER_SECRET] }],
      max_artifact_files: 20,
      max_artifact_bytes: 1024 * 1024,
      ...(RUNTIME === undefined ? {} : { allowed_runtimes: ['runc', RUNTIME] }),
    });
  });
  after(async () => {
    await a?.stop();
  });

  it('places inputs with their modes and owner before the command starts', async () => {
    const data = 'a,b\n1,2\n';
    const script = '#!/bin/sh\necho "script ran as $(id -u):$(id -g)"\n';
    const { jobId, result } = await run(
      a,
      'stat -c "%n %a %u:%g %s" in/data.csv bin/run.sh && sha256sum in/data.csv && sh bin/run.sh',
      [{ path: 'in/data.csv', content_base64: b64(data), mode: '0644' }, { path: 'bin/run.sh', content_base64: b64(script), mode: '0755' }],
      undefined,
      sandboxOf(),
    );
    assert.equal(result.status, 'completed', JSON.stringify(result));
    assert.equal((result as Result & { runtime?: string }).runtime, RUNTIME ?? 'runc', 'the job ran under the runtime under test');
    assert.equal(result.exit_code, 0, result.stderr);
    assert.match(result.stdout, /^in\/data\.csv 644 65534:65534 8\nbin\/run\.sh 755 65534:65534 \d+\n/);
    assert.ok(result.stdout.includes(`${sha(data)}  in/data.csv`), result.stdout);
    assert.match(result.stdout, /script ran as 65534:65534/);
    const accepted = auditOf(a, jobId, 'job.accepted');
    assert.deepEqual(accepted['inputs'], [
      { path: 'in/data.csv', mode: '0644', size: data.length, sha256: sha(data) },
      { path: 'bin/run.sh', mode: '0755', size: script.length, sha256: sha(script) },
    ]);
    assert.equal(result.artifacts, undefined, 'a job without artifacts keeps the old result shape');
  });

  it('collects artifacts after an exit, lists them with sizes and SHA-256, serves them to the owner only, audits them', async () => {
    const { jobId, result } = await run(a, 'mkdir -p out/deep && echo report > out/report.txt && printf xyz > out/deep/z.bin && echo top > top.txt; exit 3', [], ['out', 'top.txt', 'absent.txt'], sandboxOf());
    assert.equal(result.status, 'completed');
    assert.equal(result.exit_code, 3, 'the exit code is the command\'s own, not the supervisor\'s');
    const byPath = new Map((result.artifacts ?? []).map((x) => [x.path, x]));
    assert.deepEqual(byPath.get('out/report.txt'), { path: 'out/report.txt', size: 7, sha256: sha('report\n') });
    assert.deepEqual(byPath.get('out/deep/z.bin'), { path: 'out/deep/z.bin', size: 3, sha256: sha('xyz') });
    assert.deepEqual(byPath.get('top.txt'), { path: 'top.txt', size: 4, sha256: sha('top\n') });
    assert.equal(byPath.size, 3);
    assert.deepEqual(result.artifacts_skipped, [{ path: 'absent.txt', reason: 'missing' }]);
    assert.equal(result.artifacts_truncated, false);
    assert.equal(result.artifacts_error, null);

    const one = await get(a, `/api/v1/jobs/${jobId}/artifacts/out/report.txt`);
    assert.equal(one.status, 200);
    assert.equal(one.data.toString(), 'report\n');
    assert.equal(one.headers['x-quickcmd-sha256'], sha('report\n'));
    const all = await get(a, `/api/v1/jobs/${jobId}/artifacts`);
    assert.equal(all.status, 200);
    assert.match(String(all.headers['content-type']), /application\/x-tar/);
    const files = await untar(all.data);
    assert.deepEqual([...files.keys()].sort(), ['out/deep/z.bin', 'out/report.txt', 'top.txt']);
    assert.equal(files.get('top.txt')?.toString(), 'top\n');

    const stranger = target(a, 'other', OTHER_SECRET);
    assert.equal((await get(a, `/api/v1/jobs/${jobId}/artifacts`, stranger)).status, 404, 'another controller cannot list them');
    assert.equal((await get(a, `/api/v1/jobs/${jobId}/artifacts/top.txt`, stranger)).status, 404, 'nor read one');
    assert.equal((await get(a, `/api/v1/jobs/${jobId}/artifacts/nope.txt`)).status, 404);
    const unsigned = await request(target(a), 'GET', `/api/v1/jobs/${jobId}/artifacts`);
    assert.equal(unsigned.status, 401, 'unsigned requests are refused');

    const finished = auditOf(a, jobId, 'job.finished');
    assert.deepEqual(finished['artifacts'], result.artifacts);
    assert.equal(auditOf(a, jobId, 'job.accepted')['artifacts'] !== undefined, true);
  });

  it('collects artifacts after a failure (OOM kill) and after a timeout whose command ignores SIGTERM', async () => {
    const oom = await run(a, 'echo before > partial.txt; tail /dev/zero', [], ['partial.txt'], sandboxOf({ memory_limit: 16 * 1024 * 1024 }));
    assert.equal(oom.result.status, 'failed', JSON.stringify(oom.result));
    if (RUNTIME === 'runsc') {
      // Under gVisor the host OOM-kills the whole sandbox (Sentry, supervisor and all), not
      // one process in it: nothing is left to collect from, and the result says so.
      assert.equal(oom.result.oom_killed, true, JSON.stringify(oom.result));
      assert.deepEqual(oom.result.artifacts, []);
      assert.match(String((oom.result as { artifacts_error?: unknown }).artifacts_error), /the container ended before its artifacts could be collected/);
    } else assert.deepEqual(oom.result.artifacts, [{ path: 'partial.txt', size: 7, sha256: sha('before\n') }]);

    const t0 = Date.now();
    const slow = await run(a, "trap '' TERM; echo half > progress.txt; sleep 120", [], ['progress.txt'], sandboxOf({ timeout_seconds: 2 }));
    assert.equal(slow.result.status, 'failed');
    assert.equal(slow.result.timed_out, true);
    assert.equal(slow.result.exit_code, 124);
    assert.deepEqual(slow.result.artifacts, [{ path: 'progress.txt', size: 5, sha256: sha('half\n') }]);
    assert.ok(Date.now() - t0 < 30_000, 'a timeout plus collection stays bounded');
  });

  it('refuses every bad input with 400/403 naming the file, and creates nothing', async () => {
    const ok = { path: 'ok.txt', content_base64: b64('x') };
    const cases: Array<[string, unknown, unknown, number, RegExp]> = [
      ['../x', [{ path: '../x', content_base64: b64('x') }], undefined, 400, /files\[0\]\.path "\.\.\/x"/],
      ['/etc/passwd', [{ path: '/etc/passwd', content_base64: b64('x') }], undefined, 400, /"\/etc\/passwd" is absolute/],
      ['a/../../b', [ok, { path: 'a/../../b', content_base64: b64('x') }], undefined, 400, /files\[1\]\.path "a\/\.\.\/\.\.\/b"/],
      ['.', [{ path: '.', content_base64: b64('x') }], undefined, 400, /"\." has a "\." component/],
      ['empty component', [{ path: 'a//b', content_base64: b64('x') }], undefined, 400, /empty component/],
      ['trailing slash', [{ path: 'a/', content_base64: b64('x') }], undefined, 400, /empty component/],
      ['empty path', [{ path: '', content_base64: b64('x') }], undefined, 400, /is empty/],
      ['backslash', [{ path: 'a\\..\\b', content_base64: b64('x') }], undefined, 400, /outside \[A-Za-z0-9\._-\]/],
      ['NUL', [{ path: 'a\u0000b', content_base64: b64('x') }], undefined, 400, /files\[0\]\.path/],
      ['unicode', [{ path: 'caf\u00e9.txt', content_base64: b64('x') }], undefined, 400, /files\[0\]\.path/],
      ['case twins', [{ path: 'Data.csv', content_base64: b64('x') }, { path: 'data.CSV', content_base64: b64('y') }], undefined, 400, /files\[1\] path "data\.CSV" equals files\[0\] ignoring case/],
      ['file inside a file', [{ path: 'a', content_base64: b64('x') }, { path: 'A/b', content_base64: b64('y') }], undefined, 400, /lies inside the file files\[0\]/],
      ['too deep', [{ path: 'a/b/c/d/e/f/g/h/i', content_base64: b64('x') }], undefined, 400, /deeper than 8/],
      ['long component', [{ path: 'x'.repeat(101), content_base64: b64('x') }], undefined, 400, /files\[0\]\.path/],
      ['bad base64', [{ path: 'in.bin', content_base64: 'not base64!' }], undefined, 400, /content_base64 of "in\.bin" is not valid base64/],
      ['bad base64 padding', [{ path: 'in.bin', content_base64: 'QQ=' }], undefined, 400, /not valid base64/],
      ['mode 0777', [{ path: 'run.sh', content_base64: b64('x'), mode: '0777' }], undefined, 400, /mode of "run\.sh" must be "0644" or "0755"/],
      ['mode setuid', [{ path: 'run.sh', content_base64: b64('x'), mode: '4755' }], undefined, 400, /mode of "run\.sh"/],
      ['mode as number', [{ path: 'run.sh', content_base64: b64('x'), mode: 755 }], undefined, 400, /mode of "run\.sh"/],
      ['unknown key', [{ path: 'a', content_base64: b64('x'), owner: 'root' }], undefined, 400, /files\[0\]\."owner" is not a known field/],
      ['files not a list', { path: 'a' }, undefined, 400, /files must be a list/],
      ['artifact traversal', undefined, ['out', '../../etc'], 400, /artifacts\[1\] path "\.\.\/\.\.\/etc"/],
      ['artifact absolute', undefined, ['/proc/1/root'], 400, /artifacts\[0\] path "\/proc\/1\/root" is absolute/],
      ['artifact case twins', undefined, ['out', 'OUT'], 400, /artifacts\[1\] path "OUT" equals artifacts\[0\]/],
      ['65 files', Array.from({ length: 65 }, (_, i) => ({ path: `f${i}`, content_base64: b64('x') })), undefined, 403, /65 input files exceed max_input_files 64/],
      ['524289 bytes', [{ path: 'big.bin', content_base64: Buffer.alloc(524289).toString('base64') }], undefined, 403, /max_input_bytes 524288 \(largest: "big\.bin"/],
      ['65 artifact paths', undefined, Array.from({ length: 65 }, (_, i) => `a${i}`), 403, /65 artifact paths exceed/],
    ];
    const tried: string[] = [];
    for (const [name, files, artifacts, want, message] of cases) {
      const r = await send(a, 'touch /workspace/should-not-exist', files, artifacts);
      assert.equal(r.status, want, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body['code'], want === 400 ? 'INVALID_PAYLOAD' : 'LIMIT_EXCEEDED', name);
      assert.match(String(r.body['error']), message, name);
      const st = await request(target(a), 'GET', `/api/v1/jobs/${r.jobId}`, undefined, signedHeaders(target(a), 'GET', `/api/v1/jobs/${r.jobId}`));
      assert.equal(st.status, 404, `${name}: no job was created`);
      const rejected = a.agent.db.prepare("SELECT details FROM audit_events WHERE job_id = ? AND type = 'job.rejected'").get(r.jobId) as { details: string } | undefined;
      assert.ok(rejected !== undefined && JSON.parse(rejected.details).code === r.body['code'], `${name}: the refusal is audited`);
      tried.push(name);
    }
    assert.equal(tried.length, cases.length);
  });

  it('never follows symlinks (to /etc/shadow, /proc/1/root, a symlinked artifact directory), skips FIFOs, bounds a growing file and a 10 GiB sparse file, and stores the result', async () => {
    const command = [
      'mkdir -p out',
      'echo real > out/real.txt',
      'ln -s /etc/shadow out/shadow',
      'ln -s /proc/1/root out/root',
      'ln -s /etc linkdir',
      'mkfifo out/fifo',
      'ln out/real.txt out/hard.txt',
      '(while :; do echo grow >> out/grow.log; done) &',
      'sleep 0.5',
    ].join('\n');
    const { jobId, result } = await run(a, command, [], ['out', 'linkdir', 'linkdir/passwd', 'out/root/etc/passwd'], sandboxOf());
    assert.equal(result.status, 'completed', JSON.stringify(result));
    const skipped = new Map((result.artifacts_skipped ?? []).map((s) => [s.path, s.reason]));
    const seen = JSON.stringify(result);
    assert.equal(skipped.get('out/shadow'), 'symlink', seen);
    assert.equal(skipped.get('out/root'), 'symlink');
    assert.equal(skipped.get('linkdir'), 'symlink', 'a symlinked artifact directory is listed, not followed');
    assert.equal(skipped.get('linkdir/passwd'), 'parent-not-directory');
    assert.equal(skipped.get('out/root/etc/passwd'), 'parent-not-directory');
    assert.equal(skipped.get('out/fifo'), 'fifo');
    const got = new Map((result.artifacts ?? []).map((x) => [x.path, x]));
    assert.equal(got.get('out/real.txt')?.sha256, sha('real\n'));
    assert.equal(got.get('out/hard.txt')?.sha256 ?? got.get('out/real.txt')?.sha256, sha('real\n'), 'a hard link to a collected file is a copy');
    const grow = got.get('out/grow.log');
    assert.ok(grow !== undefined, 'the growing file is collected');
    const data = await get(a, `/api/v1/jobs/${jobId}/artifacts/out/grow.log`);
    assert.equal(data.data.length, grow.size, 'the stored bytes match the listed size: the writer was stopped before collection');
    assert.equal(sha(data.data), grow.sha256);
    for (const a2 of result.artifacts ?? []) assert.ok(!/shadow|passwd|root/.test(a2.path), `nothing outside was collected: ${a2.path}`);

    const t0 = Date.now();
    const sparse = await run(a, 'echo small > a.txt; truncate -s 10G big.bin; echo after > z.txt', [], ['a.txt', 'big.bin', 'z.txt'], sandboxOf());
    assert.equal(sparse.result.status, 'completed');
    assert.equal(sparse.result.artifacts_truncated, true, 'the 10 GiB file passes max_artifact_bytes: collection stops');
    assert.deepEqual(sparse.result.artifacts, [{ path: 'a.txt', size: 6, sha256: sha('small\n') }]);
    assert.ok(Date.now() - t0 < 30_000, `a 10 GiB sparse file is not read (${Date.now() - t0} ms)`);

    const many = await run(a, 'mkdir m; for i in $(seq 1 40); do echo $i > m/f$i; done', [], ['m'], sandboxOf());
    assert.equal(many.result.artifacts?.length, 20, 'max_artifact_files bounds the count');
    assert.equal(many.result.artifacts_truncated, true);
  });

  it('prunes artifacts with the job', async () => {
    const { jobId } = await run(a, 'echo x > keep.txt', [], ['keep.txt'], sandboxOf());
    const count = (): number => (a.agent.db.prepare('SELECT count(*) AS n FROM job_artifacts WHERE job_id = ?').get(jobId) as { n: number }).n;
    assert.equal(count(), 1);
    new JobStore(a.agent.db).prune(Date.now() + 1000);
    assert.equal(count(), 0);
    assert.equal((await get(a, `/api/v1/jobs/${jobId}/artifacts/keep.txt`)).status, 404);
  });
});

}

describe('an agent restart during a file job (re-adopted, artifacts still collected)', { timeout: 180_000 }, () => {
  it('collects the artifacts of a job whose agent restarted while it ran', async () => {
    await requireDocker();
    const first = await startTestAgent({});
    let second: TestAgent | null = null;
    try {
      const r = await send(first, 'echo early > a.txt; sleep 4; echo late >> a.txt', undefined, ['a.txt']);
      assert.equal(r.status, 202);
      const deadline = Date.now() + 30_000;
      while (first.agent.manager.get(r.jobId)?.sandboxId == null) {
        assert.ok(Date.now() < deadline, 'the job started');
        await new Promise((res) => setTimeout(res, 50));
      }
      await first.stop();
      second = await startTestAgent({}, {}, { dir: first.dir, pki: first.pki, secret: first.secret });
      const body = await waitForEnd(target(second), r.jobId, 60_000);
      const result = body['result'] as Result;
      assert.equal(result.status, 'completed', JSON.stringify(result));
      assert.deepEqual(result.artifacts, [{ path: 'a.txt', size: 11, sha256: sha('early\nlate\n') }]);
    } finally {
      await first.stop();
      await second?.stop();
    }
  });
});

describe('the warm pool declines file jobs (they start cold and still get their files)', { timeout: 180_000 }, () => {
  let a: TestAgent;
  before(async () => {
    await requireDocker();
    a = await startTestAgent({ warm_pool_size: 1 });
  });
  after(async () => {
    await a?.stop();
  });

  it('runs a file job with inputs and artifacts next to a warm pool', async () => {
    const { result } = await run(a, 'cat in.txt > out.txt', [{ path: 'in.txt', content_base64: b64('warm?\n') }], ['out.txt']);
    assert.equal(result.status, 'completed', JSON.stringify(result));
    assert.deepEqual(result.artifacts, [{ path: 'out.txt', size: 6, sha256: sha('warm?\n') }]);
  });
});
