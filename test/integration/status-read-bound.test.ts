/**
 * Issue 12: status reads of a large output are bounded. A finished job's result carries
 * its whole output; results being sent share max_inflight_body_bytes, so a client that
 * asks and never reads holds its share, the next large read gets 503 SERVER_BUSY, and the
 * share comes back when that client goes.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import tls from 'node:tls';
import { after, describe, it } from 'node:test';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { signedHeaders, status, submit, waitForEnd } from '../helpers/client.js';
import { requireDocker } from '../helpers/docker.js';

describe('status reads of a large output', { timeout: 120_000 }, () => {
  let a: TestAgent | undefined;
  after(async () => {
    await a?.stop();
    if (a !== undefined) fs.rmSync(a.dir, { recursive: true, force: true });
  });

  it('a read that is not consumed holds its share; the next large read gets 503 SERVER_BUSY until it goes', async () => {
    await requireDocker();
    a = await startTestAgent({ max_output_bytes: 8_000_000, max_inflight_body_bytes: 10 * 1024 * 1024 });
    const t = { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
    const { payload } = await submit(t, { command: "head -c 6000000 /dev/zero | tr '\\0' a" });
    await waitForEnd(t, payload.jobId);
    const path = `/api/v1/jobs/${payload.jobId}`;
    // A client that asks and never reads: its 6 MB answer stays in flight.
    const hog = tls.connect({ host: '127.0.0.1', port: a.port, ca: fs.readFileSync(a.pki.caCert), servername: 'localhost' });
    await new Promise<void>((r) => hog.once('secureConnect', () => r()));
    const h = signedHeaders(t, 'GET', path);
    hog.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
    hog.pause();
    hog.on('error', () => undefined);
    const deadline = Date.now() + 10_000;
    let busy = await status(t, payload.jobId);
    while (busy.status === 200 && Date.now() < deadline) busy = await status(t, payload.jobId);
    assert.equal(busy.status, 503, 'a second large read meets the budget');
    assert.equal(busy.json()['code'], 'SERVER_BUSY');
    hog.destroy();
    let ok = await status(t, payload.jobId);
    while (ok.status !== 200 && Date.now() < deadline + 10_000) ok = await status(t, payload.jobId);
    assert.equal(ok.status, 200);
    assert.equal(String((ok.json()['result'] as Record<string, unknown>)['stdout']).length, 6_000_000);
  });
});
