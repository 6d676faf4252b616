/**
 * Artifacts over the broker's rpc (SPEC §12 with §10): the single-file download the CLI
 * uses, and the tar of all, whose bytes come back as `{"content_type","content_base64"}`
 * (a broker reply is JSON) and unpack to exactly what the job wrote.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import tar from 'tar-stream';
import { TEST_IMAGE, type TestAgent } from '../helpers/agent.js';
import { requireDocker } from '../helpers/docker.js';
import { brokerClient, controllerConnection, startBrokerAgent, waitForAgents } from '../helpers/fleet.js';
import { startNats, type TestNats } from '../helpers/nats.js';

let nats: TestNats;
let agent: TestAgent;
let nc: NatsConnection;

before(async () => {
  await requireDocker();
  nats = await startNats({ agents: ['art1'], controllers: ['controller-1'] });
  agent = await startBrokerAgent(nats, 'art1', { listen: false });
  nc = await controllerConnection(nats);
  await waitForAgents(nc, ['art1']);
});

after(async () => {
  await nc?.close();
  await agent?.stop();
  await nats?.stop();
});

function untar(bytes: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    const out = new Map<string, Buffer>();
    const x = tar.extract();
    x.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        out.set(h.name, Buffer.concat(chunks));
        next();
      });
    });
    x.on('finish', () => resolve(out));
    x.on('error', reject);
    x.end(bytes);
  });
}

describe('artifacts through the broker', () => {
  it('downloads one artifact and the tar of all, byte for byte', async () => {
    const c = brokerClient(nc, 'art1', agent);
    const { jobId } = await c.submit({ command: "mkdir -p out && printf 'alpha\\n' > out/a.txt && head -c 3000 /dev/urandom > out/b.bin", image: TEST_IMAGE, artifacts: ['out'] });
    assert.equal((await c.follow(jobId, { onFrame: () => undefined })).status, 'completed');
    const st = await c.status(jobId);
    const listed = new Map((st.result?.artifacts ?? []).map((a) => [a.path, a]));
    assert.deepEqual([...listed.keys()].sort(), ['out/a.txt', 'out/b.bin']);

    const one = await c.artifact(jobId, 'out/a.txt');
    assert.equal(one.data.toString(), 'alpha\n');

    const rep = await c.rpc('GET', `/api/v1/jobs/${jobId}/artifacts`);
    assert.equal(rep.status, 200, rep.text);
    const body = JSON.parse(rep.text) as { content_type: string; content_base64: string };
    assert.equal(body.content_type, 'application/x-tar');
    const files = await untar(Buffer.from(body.content_base64, 'base64'));
    assert.deepEqual([...files.keys()].sort(), ['out/a.txt', 'out/b.bin']);
    for (const [p, data] of files) assert.equal(crypto.createHash('sha256').update(data).digest('hex'), listed.get(p)?.sha256, p);
    c.close();
  });
});
