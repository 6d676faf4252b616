/**
 * The one error renderer (STYLE rule 3): AgentErrors become `{"error","code"}` with their
 * status and headers, unknown throws become a 500 with no internal detail, unknown routes
 * NOT_FOUND. Exercised through a real Koa app on a loopback port.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import Koa from 'koa';
import { AgentError, RejectionError } from '../../internal/agent/errors.js';
import { errorMiddleware } from '../../internal/agent/http/http-errors.js';
import { createLogger } from '../../internal/agent/logger.js';

const logged: string[] = [];
const sink = new Writable({ write(c: Buffer, _e, cb) { logged.push(c.toString()); cb(); } });
let server: http.Server;
let port = 0;

before(async () => {
  const app = new Koa();
  app.silent = true;
  app.use(errorMiddleware(createLogger('info', sink)));
  app.use(async (ctx) => {
    switch (ctx.path) {
      case '/rejected':
        throw new RejectionError('INVALID_SIGNATURE', 'signature verification failed', 'byte 7 differs; secret=hunter2hunter2');
      case '/queue':
        throw new AgentError('QUEUE_FULL', 'queue is full', { headers: { 'Retry-After': '3' } });
      case '/internal':
        throw new Error('ENOENT /var/lib/quickcmd/secret-path');
      case '/hidden-5xx':
        throw new AgentError('SANDBOX_ERROR', 'docker said: /var/run/docker.sock refused');
      case '/exposed-5xx':
        throw new AgentError('SHUTTING_DOWN', 'agent is shutting down', { expose: true });
      case '/koa-400':
        ctx.throw(400, 'bad things inside');
        break;
      case '/ok':
        ctx.body = { ok: true };
        break;
      default:
      // fall through to Koa's 404
    }
  });
  server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

function get(p: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', path: p, agent: false }, (res) => {
      let t = '';
      res.on('data', (c: Buffer) => (t += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(t) as Record<string, unknown> }));
    }).on('error', reject);
  });
}

test('a rejection renders its public message and code, never its reason', async () => {
  const r = await get('/rejected');
  assert.equal(r.status, 401);
  assert.deepEqual(r.body, { error: 'signature verification failed', code: 'INVALID_SIGNATURE' });
  assert.match(String(r.headers['content-type']), /application\/json/);
});

test('error headers are sent (Retry-After on QUEUE_FULL)', async () => {
  const r = await get('/queue');
  assert.equal(r.status, 429);
  assert.equal(r.headers['retry-after'], '3');
  assert.deepEqual(r.body, { error: 'queue is full', code: 'QUEUE_FULL' });
});

test('an unexpected error is a 500 with no internal detail (the detail goes to the log)', async () => {
  const r = await get('/internal');
  assert.equal(r.status, 500);
  assert.deepEqual(r.body, { error: 'internal error', code: 'INTERNAL' });
  assert.ok(logged.some((l) => l.includes('secret-path')), 'detail is logged');
});

test('a 5xx AgentError hides its message unless it is exposed on purpose', async () => {
  const hidden = await get('/hidden-5xx');
  assert.equal(hidden.status, 500);
  assert.deepEqual(hidden.body, { error: 'internal error', code: 'SANDBOX_ERROR' });
  const exposed = await get('/exposed-5xx');
  assert.equal(exposed.status, 503);
  assert.deepEqual(exposed.body, { error: 'agent is shutting down', code: 'SHUTTING_DOWN' });
});

test('Koa client errors and unknown routes keep the JSON error shape', async () => {
  const bad = await get('/koa-400');
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body, { error: 'bad request', code: 'INVALID_PAYLOAD' });
  const missing = await get('/nowhere');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { error: 'no such route', code: 'NOT_FOUND' });
  assert.deepEqual((await get('/ok')).body, { ok: true });
});
