/**
 * Issue 12: a client that aborts mid-body (on a real loopback socket) is a refusal,
 * MALFORMED_REQUEST with a short reason, not an internal error logged with a stack.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { RejectionError } from '../../internal/agent/errors.js';
import { readBody } from '../../internal/agent/http/http-body.js';

test('an aborted body rejects with RejectionError MALFORMED_REQUEST', async () => {
  let settle: (e: unknown) => void = () => undefined;
  const outcome = new Promise<unknown>((r) => (settle = r));
  const server = http.createServer((req) => {
    readBody(req, 1 << 20).then(() => settle(new Error('resolved')), settle);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const s = net.connect(port, '127.0.0.1', () => {
    s.write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly-part');
    setTimeout(() => s.destroy(), 50);
  });
  const e = await outcome;
  server.close();
  assert.ok(e instanceof RejectionError, String(e));
  assert.equal(e.code, 'MALFORMED_REQUEST');
  assert.equal(e.status, 400);
  assert.ok(e.reason.length < 120);
});
