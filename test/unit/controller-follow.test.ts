/**
 * The live-log follower against a scripted stream server: real HTTPS with a test CA, real
 * `ws`, and the agent's own signature check on every upgrade. The server is scripted
 * because the paths under test — a 1013 close, a connection cut mid-stream, a replay
 * that repeats frames, an agent without the stream route — cannot be produced on demand
 * by a real agent.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { verifyRequestSignature } from '../../internal/agent/wire/signing.js';
import { AgentClient } from '../../internal/controller/client.js';
import { ControllerError } from '../../internal/controller/controller-error.js';
import { FollowAborted } from '../../internal/controller/follow.js';
import type { OutputFrame } from '../../internal/controller/wire.js';
import { makePki, type TestPki } from '../helpers/tls.js';

const secret = Buffer.from('f'.repeat(64));

/** What the server does with the n-th upgrade (0-based) of a test. */
type Script = (ws: WebSocket, n: number, fromSeq: number) => void;

let pki: TestPki;
let server: https.Server;
let port = 0;
let script: Script = () => undefined;
let upgrades: { fromSeq: number; signed: boolean }[] = [];
let refuse: { status: number; body: string } | null = null;
let polls = 0;

function frame(seq: number, data: string, stream = 'stdout'): string {
  return JSON.stringify({ job_id: 'j1', seq, timestamp: new Date().toISOString(), stream, data, final: false });
}
function finalFrame(seq: number, exitCode = 0): string {
  return JSON.stringify({ job_id: 'j1', seq, timestamp: new Date().toISOString(), stream: '', data: '', final: true, status: 'completed', exit_code: exitCode });
}

before(async () => {
  pki = makePki(fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-follow-')));
  const wss = new WebSocketServer({ noServer: true });
  server = https.createServer({ cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) }, (req, res) => {
    // The status route, for the polling fallback: running twice, then the result.
    polls++;
    const done = polls > 2;
    const result = { job_id: 'j1', status: 'completed', exit_code: 5, stdout: 'all out\n', stderr: 'all err\n', duration_ms: 10 };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ job_id: 'j1', status: done ? 'completed' : 'running', result: done ? result : null }));
  });
  server.on('upgrade', (req, socket, head) => {
    const pathWithQuery = req.url ?? '';
    const ts = Number(req.headers['x-quickcmd-timestamp']);
    const sig = String(req.headers['x-quickcmd-signature'] ?? '');
    const signed = req.headers['x-quickcmd-controller'] === 'ctl' && verifyRequestSignature([secret], 'GET', pathWithQuery, ts, Buffer.alloc(0), sig);
    const fromSeq = Number(new URL(pathWithQuery, 'https://x').searchParams.get('from_seq'));
    const n = upgrades.length;
    upgrades.push({ fromSeq, signed });
    if (refuse !== null) {
      socket.end(`HTTP/1.1 ${refuse.status} No\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(refuse.body)}\r\nConnection: close\r\n\r\n${refuse.body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => script(ws, n, fromSeq));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

function client(ca: boolean = true): AgentClient {
  return new AgentClient({ name: 'fake', url: new URL(`https://127.0.0.1:${port}`), controllerId: 'ctl', secret, ca: ca ? fs.readFileSync(pki.caCert) : undefined, insecure: false });
}

async function follow(c: AgentClient, opts: { signal?: AbortSignal; onFallback?: () => void; idleTimeoutMs?: number } = {}): Promise<{ frames: OutputFrame[]; exit: number | null }> {
  const frames: OutputFrame[] = [];
  try {
    const fin = await c.follow('j1', { onFrame: (f) => frames.push(f), ...opts });
    return { frames, exit: fin.exit_code };
  } finally {
    c.close();
  }
}

function reset(s: Script): void {
  script = s;
  upgrades = [];
  refuse = null;
  polls = 0;
}

describe('live-log follower', () => {
  it('signs the upgrade and hands over frames in order until the final one', async () => {
    reset((ws) => {
      ws.send(frame(1, 'a'));
      ws.send(frame(2, 'b', 'stderr'));
      ws.send(finalFrame(3, 7));
      ws.close(1000);
    });
    const r = await follow(client());
    assert.deepEqual(upgrades, [{ fromSeq: 0, signed: true }]);
    assert.deepEqual(r.frames.map((f) => [f.seq, f.stream, f.data]), [[1, 'stdout', 'a'], [2, 'stderr', 'b']]);
    assert.equal(r.exit, 7);
  });

  it('resumes with from_seq after a 1013 close (too far behind)', async () => {
    reset((ws, n) => {
      if (n === 0) {
        ws.send(frame(1, 'a'));
        ws.send(frame(2, 'b'));
        ws.close(1013, 'too far behind');
      } else {
        ws.send(frame(3, 'c'));
        ws.send(finalFrame(4));
        ws.close(1000);
      }
    });
    const r = await follow(client());
    assert.deepEqual(upgrades.map((u) => u.fromSeq), [0, 2]);
    assert.ok(upgrades.every((u) => u.signed));
    assert.deepEqual(r.frames.map((f) => f.data), ['a', 'b', 'c']);
  });

  it('reconnects after a cut connection and never repeats a frame', async () => {
    reset((ws, n) => {
      if (n === 0) {
        ws.send(frame(1, 'a'));
        ws.send(frame(2, 'b'), () => ws.terminate());
        return;
      }
      // A server that replays from the start: the follower drops what it has seen.
      for (const [i, d] of ['a', 'b', 'c'].entries()) ws.send(frame(i + 1, d));
      ws.send(finalFrame(4));
      ws.close(1000);
    });
    const r = await follow(client());
    assert.deepEqual(upgrades.map((u) => u.fromSeq), [0, 2]);
    assert.deepEqual(r.frames.map((f) => f.data), ['a', 'b', 'c']);
  });

  it('replaces a connection that went silent (no frame, no ping)', async () => {
    reset((ws, n) => {
      if (n === 0) {
        ws.send(frame(1, 'a')); // then nothing: a half-open connection
        return;
      }
      ws.send(frame(2, 'b'));
      ws.send(finalFrame(3));
      ws.close(1000);
    });
    const r = await follow(client(), { idleTimeoutMs: 300 });
    assert.deepEqual(upgrades.map((u) => u.fromSeq), [0, 1]);
    assert.deepEqual(r.frames.map((f) => f.data), ['a', 'b']);
  });

  it('falls back to polling the status route when the agent has no stream (501)', async () => {
    reset(() => undefined);
    refuse = { status: 501, body: '' };
    let fellBack = 0;
    const r = await follow(client(), { onFallback: () => fellBack++ });
    assert.equal(fellBack, 1);
    assert.ok(polls >= 3);
    assert.deepEqual(r.frames.map((f) => [f.stream, f.data]), [['stdout', 'all out\n'], ['stderr', 'all err\n']]);
    assert.equal(r.exit, 5);
  });

  it("reports a refused upgrade with the agent's code", async () => {
    reset(() => undefined);
    refuse = { status: 401, body: '{"error":"authentication required","code":"UNAUTHENTICATED"}' };
    await assert.rejects(follow(client()), (e: unknown) => e instanceof ControllerError && e.code === 'UNAUTHENTICATED' && e.status === 401);
    assert.equal(upgrades.length, 1, 'no retry of a refusal');
  });

  it('fails at once on a certificate it cannot verify', async () => {
    reset(() => undefined);
    await assert.rejects(follow(client(false)), (e: unknown) => e instanceof ControllerError && e.code === 'TLS_VERIFY_FAILED');
  });

  it('stops when aborted', async () => {
    const ac = new AbortController();
    reset((ws) => {
      ws.send(frame(1, 'a'), () => ac.abort());
    });
    await assert.rejects(follow(client(), { signal: ac.signal }), FollowAborted);
  });
});
