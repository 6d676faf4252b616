/**
 * Mutual TLS at the door (SPEC §2 `tls_client_ca_file`, §3 "Under mTLS the certificate
 * identity suffices"): no certificate or one from another CA fails the handshake; the
 * certificate's CN or SAN must equal the controller id; reads need no signature headers;
 * TLS below 1.2 is refused by the server.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { encodeJobBody } from '../../internal/agent/wire/signing.js';
import { startTestAgent, type TestAgent } from '../helpers/agent.js';
import { payload, request, signedHeaders, waitForEnd, type ClientTarget, type Reply } from '../helpers/client.js';
import { makePki, type TestPki } from '../helpers/tls.js';

const CI_SECRET = crypto.randomBytes(32).toString('hex');
let a: TestAgent;
let otherPki: TestPki;
let c1: ClientTarget;
let ciT: ClientTarget;
let c2: ClientTarget;
const started: { t: ClientTarget; id: string }[] = [];

before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-mtls-'));
  const pki = makePki(path.join(dir, 'pki'));
  otherPki = makePki(path.join(dir, 'other-pki'));
  const secret = crypto.randomBytes(32).toString('hex');
  a = await startTestAgent(
    {
      tls_client_ca_file: pki.caCert,
      allowed_controllers: ['controller-1', 'controller-2'],
      controllers: [{ id: 'ci', secrets: [CI_SECRET] }],
    },
    {},
    { dir, pki, secret },
  );
  const base = { url: a.url, caFile: pki.caCert, secret };
  c1 = { ...base, controllerId: 'controller-1', clientCert: pki.client('controller-1') };
  // CN differs; the SAN names the controller.
  ciT = { ...base, secret: CI_SECRET, controllerId: 'ci', clientCert: pki.client('ci-host.example', ['ci']) };
  c2 = { ...base, controllerId: 'controller-2', clientCert: pki.client('controller-2') };
});

after(async () => {
  for (const j of started) await waitForEnd(j.t, j.id);
  await a.stop();
});

function submitAs(t: ClientTarget, controllerId: string, secret = t.secret): Promise<{ reply: Reply; jobId: string }> {
  const pl = payload({ controllerId }, { command: 'true' });
  return request(t, 'POST', '/api/v1/jobs', encodeJobBody(pl, Buffer.from(secret)), { 'content-type': 'application/json' }).then((reply) => ({ reply, jobId: pl.jobId }));
}

/** Open a TLS connection and send one request; resolves with the first bytes or the error. */
function rawTls(opts: tls.ConnectionOptions): Promise<{ ok: true; protocol: string | null; data: string } | { ok: false; code: string; message: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: a.port, ca: fs.readFileSync(a.pki.caCert), servername: 'localhost', ...opts });
    let data = '';
    let settled = false;
    const done = (v: Parameters<typeof resolve>[0]): void => {
      if (settled) return;
      settled = true;
      s.destroy();
      resolve(v);
    };
    s.on('secureConnect', () => s.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    s.on('data', (c: Buffer) => (data += c.toString()));
    s.on('end', () => done({ ok: true, protocol: s.getProtocol(), data }));
    s.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, code: e.code ?? '', message: e.message }));
  });
}

/** True when the connection ended without one byte of HTTP: a handshake error, or the server cutting it. */
function noHttpExchange(r: Awaited<ReturnType<typeof rawTls>>): boolean {
  return !r.ok || r.data === '';
}

test('without a client certificate no HTTP exchange happens', async () => {
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const r = await rawTls({ minVersion: v, maxVersion: v });
    assert.equal(r.ok, false, `${v}: the handshake itself fails: ${JSON.stringify(r)}`);
    if (!r.ok) assert.match(`${r.code} ${r.message}`, /CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|certificate required|handshake failure|ECONNRESET/i);
  }
  await assert.rejects(request({ url: a.url, caFile: a.pki.caCert }, 'GET', '/health'));
});

test('a certificate from another CA: the server cuts the connection before any HTTP', async () => {
  const foreign = otherPki.client('controller-1');
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const r = await rawTls({ cert: fs.readFileSync(foreign.cert), key: fs.readFileSync(foreign.key), minVersion: v, maxVersion: v });
    assert.ok(noHttpExchange(r), `${v}: ${JSON.stringify(r)}`);
  }
  await assert.rejects(request({ url: a.url, caFile: a.pki.caCert, clientCert: foreign }, 'GET', '/health'));
});

test('a TLS 1.1 client is refused by the server (protocol_version alert); TLS 1.2 and 1.3 work', async () => {
  const cert = { cert: fs.readFileSync(c1.clientCert?.cert ?? ''), key: fs.readFileSync(c1.clientCert?.key ?? '') };
  const old = await rawTls({ ...cert, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
  assert.equal(old.ok, false);
  if (!old.ok) assert.equal(old.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', old.message);
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const r = await rawTls({ ...cert, minVersion: v, maxVersion: v });
    assert.ok(r.ok, `${v} handshake`);
    if (r.ok) {
      assert.equal(r.protocol, v);
      assert.match(r.data, /^HTTP\/1\.1 200/);
    }
  }
});

test('CN=controller-1 submits, then reads its job without signature headers', async () => {
  const s = await submitAs(c1, 'controller-1');
  assert.equal(s.reply.status, 202, s.reply.text);
  started.push({ t: c1, id: s.jobId });
  const r = await request(c1, 'GET', `/api/v1/jobs/${s.jobId}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json()['job_id'], s.jobId);
});

test('a SAN naming the controller is its identity too', async () => {
  const s = await submitAs(ciT, 'ci');
  assert.equal(s.reply.status, 202, s.reply.text);
  started.push({ t: ciT, id: s.jobId });
  assert.equal((await request(ciT, 'GET', `/api/v1/jobs/${s.jobId}`)).status, 200);
  // Another certificate's holder does not see it.
  const other = await request(c1, 'GET', `/api/v1/jobs/${s.jobId}`);
  assert.equal(other.status, 404);
  assert.equal(other.json()['code'], 'JOB_NOT_FOUND');
});

test('a controller_id other than the certificate identity → 403 CONTROLLER_NOT_ALLOWED, audited', async () => {
  // Valid signatures in both cases: only the certificate mismatch is wrong.
  for (const [t, id, secret] of [
    [c1, 'controller-2', c1.secret],
    [c1, 'ci', CI_SECRET],
    [c2, 'controller-1', c2.secret],
  ] as const) {
    const s = await submitAs(t, id, secret);
    assert.equal(s.reply.status, 403, s.reply.text);
    assert.deepEqual(s.reply.json(), { error: 'controller does not match the client certificate', code: 'CONTROLLER_NOT_ALLOWED' });
    const db = new Database(a.dbPath, { readonly: true });
    const row = db.prepare("SELECT controller_id, remote_addr, details FROM audit_events WHERE type = 'job.rejected' AND json_extract(details, '$.request_id') = ?").get(String(s.reply.headers['x-request-id'])) as
      | { controller_id: string; remote_addr: string; details: string }
      | undefined;
    db.close();
    assert.ok(row);
    assert.equal(row.controller_id, id);
    assert.equal(row.remote_addr, '127.0.0.1');
    assert.equal(JSON.parse(row.details)['code'], 'CONTROLLER_NOT_ALLOWED');
  }
});

test('signed headers for another controller than the certificate are refused', async () => {
  const s = await submitAs(c2, 'controller-2');
  assert.equal(s.reply.status, 202, s.reply.text);
  started.push({ t: c2, id: s.jobId });
  const p = `/api/v1/jobs/${s.jobId}`;
  const r = await request(c1, 'GET', p, undefined, signedHeaders(c2, 'GET', p));
  assert.equal(r.status, 401);
  assert.equal(r.json()['code'], 'UNAUTHENTICATED');
});
