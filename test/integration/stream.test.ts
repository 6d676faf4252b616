/**
 * Live logs (SPEC §6) against a real agent: HTTPS on loopback, real `ws` clients, real
 * containers. Order, seams between stored and live frames, resume, UTF-8, the final
 * frame of every terminal state, and the upgrade's refusals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JobPayload } from '../../internal/agent/wire/payload.js';
import { startTestAgent, TEST_IMAGE, type TestAgent } from '../helpers/agent.js';
import { cancel, signedHeaders, status, submit } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { follow, followToEnd, refusal, streamPath, textOf, type Follower, type StreamTarget } from './stream-client.js';

/** Allowed in the config, never built: the job is accepted, then cannot start. */
const MISSING_IMAGE = 'quickcmd-missing-image:never';
/** A browser console that may follow (listed in allowed_controllers, as SPEC §6 says). */
const CONSOLE_ORIGIN = 'https://console.example';
const OTHER_SECRET = 'b'.repeat(64);

function assertClean(f: Follower, code: number): void {
  assert.deepEqual(f.errors, []);
  assert.equal(code, 1000);
  assert.ok(f.final !== null, 'a final frame was received');
}

describe('live logs over WebSocket', () => {
  let t: TestAgent;
  let target: StreamTarget;
  const run = async (command: string, extra: Partial<JobPayload> = {}): Promise<string> => {
    const { reply, payload } = await submit(target, { command, ...extra });
    assert.equal(reply.status, 202, reply.text);
    return payload.jobId;
  };

  before(async () => {
    await requireDocker();
    t = await startTestAgent({
      allowed_images: [TEST_IMAGE, MISSING_IMAGE],
      allowed_controllers: ['controller-1', CONSOLE_ORIGIN],
      allowed_origins: [CONSOLE_ORIGIN],
      controllers: [{ id: 'controller-2', secrets: [OTHER_SECRET] }],
    });
    target = { url: t.url, caFile: t.pki.caCert, secret: t.secret, controllerId: t.controllerId };
  });
  after(() => t.stop());

  it('sends the first frame while the job still runs; two followers see identical frames', async () => {
    const id = await run('echo first; sleep 3; echo second');
    const a = follow(target, id);
    const b = follow(target, id);
    await a.until((f) => f.count >= 1);
    assert.equal(a.frames[0]?.data, 'first\n');
    const st = (await status(target, id)).json();
    assert.equal(st['result'], null, 'the job has not finished when its first frame arrives');
    assert.equal(st['status'], 'running');
    const [ca, cb] = await Promise.all([a.closed, b.closed]);
    assertClean(a, ca.code);
    assertClean(b, cb.code);
    assert.equal(textOf(a.frames), 'first\nsecond\n');
    assert.equal(a.final?.status, 'completed');
    assert.equal(a.final?.exit_code, 0);
    assert.equal(a.final?.seq, a.count + 1);
    assert.deepEqual(b.frames, a.frames);
  });

  it('gives late followers and followers of a finished job every frame once, seamlessly', async () => {
    const id = await run('i=1; while [ $i -le 40 ]; do echo "line $i"; i=$((i+1)); sleep 0.05; done; echo done >&2');
    const early = follow(target, id);
    await early.until((f) => f.count >= 5);
    const late = follow(target, id);
    const [ce, cl] = await Promise.all([early.closed, late.closed]);
    assertClean(early, ce.code);
    assertClean(late, cl.code);
    const expected = Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`).join('');
    assert.equal(textOf(early.frames, 'stdout'), expected);
    assert.equal(textOf(early.frames, 'stderr'), 'done\n');
    assert.deepEqual(late.frames, early.frames);
    const afterEnd = await followToEnd(target, id);
    assertClean(afterEnd, afterEnd.code);
    assert.deepEqual(afterEnd.frames, early.frames);
  });

  it('resumes after frame N with from_seq, live and after the end', async () => {
    const id = await run('i=1; while [ $i -le 20 ]; do echo "n $i"; i=$((i+1)); sleep 0.1; done');
    const full = follow(target, id);
    await full.until((f) => f.count >= 4);
    const cut = full.lastSeq;
    const resumed = follow(target, id, { fromSeq: cut });
    await Promise.all([full.closed, resumed.closed]);
    assertClean(full, 1000);
    assert.deepEqual(resumed.errors, []);
    assert.deepEqual(resumed.frames, full.frames.filter((f) => f.seq > cut));
    const final = full.final;
    assert.ok(final !== null);
    for (const n of [0, 3, final.seq - 1]) {
      const r = await followToEnd(target, id, { fromSeq: n });
      assertClean(r, r.code);
      assert.deepEqual(r.frames, full.frames.filter((f) => f.seq > n));
    }
    // Resuming after the final frame: nothing is left, a normal close.
    const past = await followToEnd(target, id, { fromSeq: final.seq });
    assert.equal(past.code, 1000);
    assert.deepEqual(past.frames, []);
  });

  it('never splits a UTF-8 character across frames', async () => {
    const id = await run("printf '\\xe4'; sleep 0.3; printf '\\xb8\\x96'; sleep 0.3; printf '\\xf0\\x9f'; sleep 0.3; printf '\\x98\\x80\\n'");
    const f = await followToEnd(target, id);
    assertClean(f, f.code);
    assert.equal(textOf(f.frames), '世😀\n');
    for (const fr of f.frames) assert.ok(!fr.data.includes('\ufffd'), `frame ${fr.seq} has U+FFFD`);
  });

  describe('ends with a final frame and close 1000 in every terminal state', () => {
    const ends = async (id: string, before?: (f: Follower) => Promise<void>): Promise<Follower> => {
      const f = follow(target, id);
      if (before) await before(f);
      const { code } = await f.closed;
      assertClean(f, code);
      // A follower that comes after the end gets the same frames, final included.
      const later = await followToEnd(target, id);
      assertClean(later, later.code);
      assert.deepEqual(later.frames, f.frames);
      return f;
    };

    it('completed with its own non-zero exit code', async () => {
      const f = await ends(await run('echo out; echo err >&2; exit 3'));
      assert.equal(f.final?.status, 'completed');
      assert.equal(f.final?.exit_code, 3);
      assert.equal(textOf(f.frames, 'stdout'), 'out\n');
      assert.equal(textOf(f.frames, 'stderr'), 'err\n');
    });

    it('failed by timeout', async () => {
      const f = await ends(await run('echo before; sleep 30', { candidateMetadata: { sandbox: { timeout_seconds: 1 } } }));
      assert.equal(f.final?.status, 'failed');
      assert.equal(f.final?.exit_code, 124);
      assert.equal(textOf(f.frames), 'before\n');
    });

    it('cancelled while running', async () => {
      const id = await run('echo started; sleep 30');
      const f = await ends(id, async (x) => {
        await x.until((y) => y.count >= 1);
        assert.equal((await cancel(target, id)).status, 202);
      });
      assert.equal(f.final?.status, 'cancelled');
    });

    it('rejected: the image is allowed but not on this host', async () => {
      const f = await ends(await run('echo never', { candidateMetadata: { sandbox: { image: MISSING_IMAGE } } }));
      assert.equal(f.final?.status, 'rejected');
      assert.equal(f.final?.exit_code, null);
      assert.equal(f.count, 0);
      assert.equal(f.final?.seq, 1);
    });
  });

  it('refuses bad upgrades before the handshake with a JSON error', async () => {
    const id = await run('echo secret-output');
    const path = streamPath(id);
    const expect = async (p: string, headers: Record<string, string>, st: number, code: string): Promise<void> => {
      const r = await refusal(target, p, headers);
      assert.deepEqual([r.status, r.body['code']], [st, code], `${p} ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body['error'], 'string');
    };
    await expect(path, {}, 401, 'UNAUTHENTICATED');
    await expect(path, signedHeaders(target, 'GET', streamPath(id, 5)), 401, 'UNAUTHENTICATED');
    await expect(path, signedHeaders({ ...target, secret: OTHER_SECRET }, 'GET', path), 401, 'UNAUTHENTICATED');
    await expect(path, signedHeaders({ secret: OTHER_SECRET, controllerId: 'controller-2' }, 'GET', path), 404, 'JOB_NOT_FOUND');
    const unknown = streamPath('job-that-never-was');
    await expect(unknown, signedHeaders(target, 'GET', unknown), 404, 'JOB_NOT_FOUND');
    await expect(path, { ...signedHeaders(target, 'GET', path), origin: 'https://evil.example' }, 403, 'FORBIDDEN');
    const bad = `/api/v1/stream/${id}?from_seq=-1`;
    await expect(bad, signedHeaders(target, 'GET', bad), 400, 'INVALID_PAYLOAD');
    await expect('/api/v1/streams', signedHeaders(target, 'GET', '/api/v1/streams'), 404, 'NOT_FOUND');
    // An Origin listed in allowed_origins may follow.
    const ok = await followToEnd(target, id, { headers: { origin: CONSOLE_ORIGIN } });
    assertClean(ok, ok.code);
    assert.equal(textOf(ok.frames), 'secret-output\n');
  });

  it('keeps quickcmd_agent_stream_clients right', async () => {
    const gauge = async (): Promise<number> => (await t.agent.metrics.streamClients.get()).values[0]?.value ?? 0;
    const settle = async (want: number): Promise<void> => {
      for (let i = 0; i < 200 && (await gauge()) !== want; i++) await new Promise((r) => setTimeout(r, 25));
      assert.equal(await gauge(), want);
    };
    await settle(0);
    const id = await run('echo up; sleep 30');
    const fs = [follow(target, id), follow(target, id), follow(target, id)];
    await Promise.all(fs.map((f) => f.until((x) => x.count >= 1)));
    await settle(3);
    fs[0]?.ws.close();
    await fs[0]?.closed;
    await settle(2);
    assert.equal((await cancel(target, id)).status, 202);
    await Promise.all(fs.map((f) => f.closed));
    await settle(0);
  });
});
