/**
 * Request body bounds and content type (SPEC §3: 413 REQUEST_TOO_LARGE, 415), on real
 * IncomingMessages from a loopback HTTP server: declared lengths, streamed bodies that
 * pass the limit, and the accepted spellings of application/json.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { RejectionError } from '../../internal/agent/errors.js';
import { checkDeclaredLength, checkJsonContentType, readBody } from '../../internal/agent/http/http-body.js';

const LIMIT = 1000;
let server: http.Server;
let port = 0;

/** Server answers with what readBody/checkDeclaredLength made of the request. */
before(async () => {
  server = http.createServer((req, res) => {
    const reply = (o: Record<string, unknown>): void => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(o));
    };
    try {
      checkDeclaredLength(req, LIMIT);
    } catch (e) {
      reply({ declared: (e as RejectionError).code });
      req.resume();
      return;
    }
    readBody(req, LIMIT).then(
      (b) => reply({ size: b.length, sha: b.toString('latin1').slice(0, 8) }),
      (e: unknown) => reply({ error: e instanceof RejectionError ? e.code : String(e) }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

/** Send `chunks` (chunked unless `length` is given) and return the parsed answer. */
function send(chunks: Buffer[], length?: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/', agent: false, headers: length !== undefined ? { 'content-length': String(length) } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
    });
    req.on('error', reject);
    if (length === undefined) req.setHeader('transfer-encoding', 'chunked');
    for (const c of chunks) req.write(c);
    req.end();
  });
}

test('a body up to the limit is read whole', async () => {
  assert.deepEqual(await send([Buffer.alloc(LIMIT, 0x61)], LIMIT), { size: LIMIT, sha: 'aaaaaaaa' });
  assert.deepEqual(await send([Buffer.alloc(400, 0x62), Buffer.alloc(600, 0x62)]), { size: LIMIT, sha: 'bbbbbbbb' });
  assert.deepEqual(await send([], 0), { size: 0, sha: '' });
});

test('a declared Content-Length over the limit is refused before reading', async () => {
  assert.deepEqual(await send([Buffer.alloc(LIMIT + 1)], LIMIT + 1), { declared: 'REQUEST_TOO_LARGE' });
});

test('a chunked body is cut off once it streams past the limit', async () => {
  assert.deepEqual(await send([Buffer.alloc(600), Buffer.alloc(401)]), { error: 'REQUEST_TOO_LARGE' });
  assert.deepEqual(await send(Array.from({ length: 50 }, () => Buffer.alloc(100))), { error: 'REQUEST_TOO_LARGE' });
});

test('checkDeclaredLength boundary', () => {
  const msg = (cl: string): http.IncomingMessage => ({ headers: { 'content-length': cl } }) as unknown as http.IncomingMessage;
  assert.doesNotThrow(() => checkDeclaredLength(msg(String(LIMIT)), LIMIT));
  assert.throws(() => checkDeclaredLength(msg(String(LIMIT + 1)), LIMIT), (e: unknown) => e instanceof RejectionError && e.code === 'REQUEST_TOO_LARGE' && e.status === 413);
  assert.throws(() => checkDeclaredLength(msg('99999999999999999999'), LIMIT), RejectionError);
});

test('only application/json (charset, if any, UTF-8) passes the content-type check', () => {
  const ct = (v: string | undefined): http.IncomingMessage => ({ headers: v === undefined ? {} : { 'content-type': v } }) as unknown as http.IncomingMessage;
  for (const ok of ['application/json', 'Application/JSON', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"']) {
    assert.doesNotThrow(() => checkJsonContentType(ct(ok)), ok);
  }
  for (const bad of [undefined, '', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'application/json; charset=latin1', 'text/json']) {
    assert.throws(
      () => checkJsonContentType(ct(bad)),
      (e: unknown) => e instanceof RejectionError && e.code === 'UNSUPPORTED_MEDIA_TYPE' && e.status === 415,
      String(bad),
    );
  }
});
