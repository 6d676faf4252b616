/** Requests Node cannot parse still get a JSON error body, over a real socket. */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { answerClientError } from '../../internal/agent/http/server.js';

async function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (c) => (out += c.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

test('garbage request lines and ambiguous framing get {"error","code"} and a 4xx', async (t) => {
  const server = http.createServer((_q, r) => r.end('ok'));
  server.on('clientError', answerClientError);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const garbage = await raw(port, 'HELLO THERE\r\n\r\n');
  assert.match(garbage, /^HTTP\/1.1 400 /);
  assert.deepEqual(JSON.parse(garbage.split('\r\n\r\n')[1] ?? ''), { error: 'malformed HTTP request', code: 'MALFORMED_REQUEST' });
  const both = await raw(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.match(both, /^HTTP\/1.1 400 /);
  assert.match(both, /"code":"MALFORMED_REQUEST"/);
  const big = await raw(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1.1 431 /);
  assert.match(big, /"code":"HEADERS_TOO_LARGE"/);
});
