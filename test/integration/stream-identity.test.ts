/**
 * Live logs and who the agent is talking to: under mTLS the client certificate of the
 * submitting controller is enough to follow (and another controller's certificate is
 * not); and a finished job's frames survive an agent restart (they are read back from
 * the database, not from memory).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { submit } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';
import { makePki, type TestPki } from '../helpers/tls.js';
import { follow, followToEnd, refusal, streamPath, textOf, type StreamTarget } from './stream-client.js';

function fresh(): { dir: string; pki: TestPki; secret: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-stream-'));
  return { dir, pki: makePki(path.join(dir, 'pki')), secret: crypto.randomBytes(32).toString('hex') };
}

function targetOf(t: TestAgent, clientCert?: { cert: string; key: string }): StreamTarget {
  return { url: t.url, caFile: t.pki.caCert, secret: t.secret, controllerId: t.controllerId, ...(clientCert ? { clientCert } : {}) };
}

async function run(target: StreamTarget, command: string): Promise<string> {
  const { reply, payload } = await submit(target, { command });
  assert.equal(reply.status, 202, reply.text);
  return payload.jobId;
}

describe('live logs under mTLS', () => {
  let t: TestAgent;
  let own: { cert: string; key: string };
  let other: { cert: string; key: string };

  before(async () => {
    await requireDocker();
    const env = fresh();
    own = env.pki.client('controller-1');
    other = env.pki.client('controller-2');
    t = await startTestAgent({ tls_client_ca_file: env.pki.caCert }, {}, env);
  });
  after(() => t.stop());

  it('lets the submitting controller follow by its certificate alone, and nobody else', async () => {
    const id = await run(targetOf(t, own), 'echo via-mtls');
    const f = await followToEnd(targetOf(t, own), id, { signed: false });
    assert.deepEqual(f.errors, []);
    assert.equal(f.code, 1000);
    assert.equal(textOf(f.frames), 'via-mtls\n');
    assert.equal(f.final?.status, 'completed');
    const r = await refusal(targetOf(t, other), streamPath(id), {});
    assert.deepEqual([r.status, r.body['code']], [404, 'JOB_NOT_FOUND']);
  });
});

describe('live logs across an agent restart', () => {
  const env = fresh();
  let first: TestAgent | null = null;
  let second: TestAgent | null = null;

  before(() => requireDocker());
  after(async () => {
    await first?.stop();
    await second?.stop();
  });

  it('replays a finished job from the database after a restart, identically', async () => {
    first = await startTestAgent({}, {}, env);
    const id = await run(targetOf(first), 'echo one; echo two >&2; printf three');
    const before = await followToEnd(targetOf(first), id);
    assert.deepEqual(before.errors, []);
    assert.equal(before.code, 1000);
    await first.stop();
    first = null;
    second = await startTestAgent({}, {}, env);
    const afterRestart = await followToEnd(targetOf(second), id);
    assert.deepEqual(afterRestart.errors, []);
    assert.equal(afterRestart.code, 1000);
    assert.deepEqual(afterRestart.frames, before.frames);
    assert.equal(textOf(afterRestart.frames, 'stdout'), 'one\nthree');
    assert.equal(textOf(afterRestart.frames, 'stderr'), 'two\n');
    const resumed = await followToEnd(targetOf(second), id, { fromSeq: 1 });
    assert.deepEqual(resumed.frames, before.frames.filter((f) => f.seq > 1));
  });

  it('closes followers with 1001 when the agent stops; they resume on the restarted agent', async () => {
    await second?.stop();
    second = null;
    first = await startTestAgent({}, {}, env);
    const id = await run(targetOf(first), 'echo before; sleep 3; echo after');
    const f = follow(targetOf(first), id);
    await f.until((x) => x.count >= 1);
    await first.stop();
    first = null;
    assert.equal((await f.closed).code, 1001);
    assert.deepEqual(f.errors, []);
    // The container kept running; the next agent re-adopts it and the follower picks up after its last frame.
    second = await startTestAgent({}, {}, env);
    const rest = await followToEnd(targetOf(second), id, { fromSeq: f.lastSeq });
    assert.deepEqual(rest.errors, []);
    assert.equal(rest.code, 1000);
    assert.equal(rest.final?.status, 'completed', 'the job ran to its own end in the re-adopted container');
    assert.equal(textOf([...f.frames, ...rest.frames]), 'before\nafter\n');
  });
});
