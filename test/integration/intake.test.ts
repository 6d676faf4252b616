/**
 * The front door over real HTTPS (SPEC §3): an accepted job, every rejection code with its
 * status and `{"error","code"}` body, the check order, key rotation, the legacy Go
 * encoding, and that every rejection lands in the real SQLite audit table with its code
 * and remote address while no secret or signature ever reaches the database file.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import Dockerode from 'dockerode';
import { LEGACY_GO } from '../../internal/agent/wire/go-json.js';
import { goMarshalPayload } from '../../internal/agent/wire/payload.js';
import type { JobPayload } from '../../internal/agent/wire/payload.js';
import { encodeJobBody, hmacHex } from '../../internal/agent/wire/signing.js';
import { startTestAgent, TEST_IMAGE, type TestAgent } from '../helpers/agent.js';
import { payload, request, signedHeaders, status, waitForEnd, type ClientTarget, type Reply } from '../helpers/client.js';

const CI_NEW = crypto.randomBytes(24).toString('base64');
const CI_OLD = crypto.randomBytes(24).toString('base64');
const JSON_CT = { 'content-type': 'application/json' };

let a: TestAgent;
let shared: ClientTarget;
let ci: ClientTarget;
let stranger: ClientTarget;
let auditDb: Database.Database;
const accepted: { t: ClientTarget; id: string }[] = [];
/** Every signature this file sends, accepted or not: none may reach the database. */
const signatures = new Set<string>();

before(async () => {
  a = await startTestAgent({
    controllers: [{ id: 'ci', secrets: [CI_NEW, CI_OLD], scopes: ['deploy'] }],
    allowed_images: [TEST_IMAGE, 'alpine:latest'],
  });
  shared = { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
  ci = { ...shared, secret: CI_NEW, controllerId: 'ci' };
  stranger = { ...shared, controllerId: 'stranger' };
  auditDb = new Database(a.dbPath, { readonly: true, fileMustExist: true });
});

after(async () => {
  // Let every accepted job finish so no container outlives the test.
  for (const j of accepted) await waitForEnd(j.t, j.id);
  auditDb.close();
  await a.stop();
});

/** Sign `p` (defaults from the client helper) and return the wire body. */
function body(t: Pick<ClientTarget, 'controllerId'>, p: Partial<JobPayload> = {}, secret = shared.secret): { text: string; payload: JobPayload } {
  const pl = payload(t, p);
  const text = encodeJobBody(pl, Buffer.from(secret, 'utf8'));
  signatures.add((JSON.parse(text) as { signature: { signature: string } }).signature.signature);
  return { text, payload: pl };
}

function post(text: string | Buffer, headers: Record<string, string> = JSON_CT): Promise<Reply> {
  return request(shared, 'POST', '/api/v1/jobs', text, headers);
}

async function send(t: ClientTarget, p: Partial<JobPayload> = {}, secret = t.secret): Promise<{ reply: Reply; payload: JobPayload; text: string }> {
  const b = body(t, p, secret);
  return { reply: await post(b.text), ...b };
}

async function expectAccepted(t: ClientTarget, r: { reply: Reply; payload: JobPayload }): Promise<void> {
  assert.equal(r.reply.status, 202, r.reply.text);
  assert.deepEqual(r.reply.json(), { job_id: r.payload.jobId, status: 'pending' });
  accepted.push({ t, id: r.payload.jobId });
}

interface AuditRow {
  type: string;
  job_id: string | null;
  controller_id: string | null;
  remote_addr: string | null;
  details: Record<string, unknown>;
}

/** The audit row written for the request that got `reply` (matched by X-Request-Id). */
function auditOf(reply: Reply): AuditRow {
  const id = String(reply.headers['x-request-id']);
  const row = auditDb
    .prepare("SELECT type, job_id, controller_id, remote_addr, details FROM audit_events WHERE json_extract(details, '$.request_id') = ?")
    .get(id) as (Omit<AuditRow, 'details'> & { details: string }) | undefined;
  assert.ok(row, `an audit row for request ${id}`);
  return { ...row, details: JSON.parse(row.details) as Record<string, unknown> };
}

/** Status, exact `{"error","code"}` body, and the audited rejection with code and remote address. */
function rejected(reply: Reply, httpStatus: number, code: string, message?: RegExp): AuditRow {
  assert.equal(reply.status, httpStatus, reply.text);
  const b = reply.json();
  assert.deepEqual(Object.keys(b).sort(), ['code', 'error']);
  assert.equal(b['code'], code);
  assert.equal(typeof b['error'], 'string');
  if (message) assert.match(String(b['error']), message);
  const ev = auditOf(reply);
  assert.equal(ev.type, 'job.rejected');
  assert.equal(ev.details['code'], code);
  assert.equal(ev.remote_addr, '127.0.0.1');
  assert.equal(typeof ev.details['reason'], 'string');
  return ev;
}

describe('acceptance', () => {
  test('a signed job → 202 {"job_id","status":"pending"}, then runs', async () => {
    const r = await send(shared, { command: 'echo front-door' });
    await expectAccepted(shared, r);
    const end = await waitForEnd(shared, r.payload.jobId);
    assert.equal(end['status'], 'completed');
    assert.equal((end['result'] as Record<string, unknown>)['stdout'], 'front-door\n');
  });

  test('the signed bytes are the canonical form, not the request bytes: re-formatted JSON is accepted', async () => {
    const b = body(shared);
    const pretty = JSON.stringify(JSON.parse(b.text), null, 2);
    assert.notEqual(pretty, b.text);
    await expectAccepted(shared, { reply: await post(pretty, { 'content-type': 'application/json; charset=utf-8' }), payload: b.payload });
  });

  test('key rotation: a controller with two secrets verifies with either', async () => {
    await expectAccepted(ci, await send(ci, {}, CI_NEW));
    await expectAccepted(ci, await send(ci, {}, CI_OLD));
  });

  test('a per-controller key holding the required scope is accepted', async () => {
    await expectAccepted(ci, await send(ci, { requiredScopes: ['deploy'] }));
  });

  test('the legacy Go (< 1.22) \\u0008 \\u000c encoding is accepted, as is the modern \\b \\f', async () => {
    const pl = payload(shared, { prompt: 'back\bspace and form\ffeed', command: 'true' });
    const legacy = goMarshalPayload(pl, LEGACY_GO);
    assert.ok(legacy.includes('\\u0008') && legacy.includes('\\u000c'));
    const sig = hmacHex(Buffer.from(shared.secret), Buffer.from(legacy, 'utf8'));
    signatures.add(sig);
    const text = `{"payload":${legacy},"signature":{"signature":"${sig}","algorithm":"HMAC-SHA256"}}`;
    await expectAccepted(shared, { reply: await post(text), payload: pl });
    await expectAccepted(shared, await send(shared, { prompt: 'modern\b\f', command: 'true' }));
  });
});

describe('400 INVALID_JSON', () => {
  for (const [name, text] of [
    ['truncated', '{"payload":{"job_id":"x"'],
    ['empty', ''],
    ['not JSON', 'hello'],
    ['trailing garbage', '{"payload":{},"signature":{}} x'],
    ['duplicate keys', '{"payload":{},"payload":{}}'],
  ] as const) {
    test(name, async () => {
      rejected(await post(text), 400, 'INVALID_JSON');
    });
  }
  test('invalid UTF-8', async () => {
    rejected(await post(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, 'INVALID_JSON');
  });
});

describe('400 INVALID_PAYLOAD names the field', () => {
  const now = Math.floor(Date.now() / 1000);
  const cases: [string, (b: string) => string, RegExp][] = [
    ['unknown payload key', (b) => b.replace('"job_id"', '"extra":1,"job_id"'), /payload\."extra" is not a known field/],
    ['key in another case (Command)', (b) => b.replace('"command"', '"Command"'), /payload\."Command" is not a known field/],
    ['fractional ttl', (b) => b.replace(/"ttl":\d+/, `"ttl":${now + 300}.5`), /payload\.ttl must be an integer/],
    ['integral float ttl', (b) => b.replace(/"ttl":\d+/, `"ttl":${now + 300}.0`), /payload\.ttl must be an integer/],
    ['exponent timestamp', (b) => b.replace(/"timestamp":\d+/, '"timestamp":1.7e9'), /payload\.timestamp must be an integer/],
    ['missing command', (b) => b.replace(/"command":"[^"]*",/, ''), /payload\.command is required/],
    ['missing controller_id', (b) => b.replace(/,"controller_id":"[^"]*"/, ''), /payload\.controller_id is required/],
    ['string ttl', (b) => b.replace(/"ttl":(\d+)/, '"ttl":"$1"'), /payload\.ttl must be an integer/],
    ['unknown envelope key', (b) => b.replace('{"payload"', '{"extra":true,"payload"'), /"extra" is not a known field/],
    ['algorithm HMAC-SHA1', (b) => b.replace('HMAC-SHA256', 'HMAC-SHA1'), /signature\.algorithm must be "HMAC-SHA256"/],
    ['uppercase hex signature', (b) => b.replace(/"signature":"([0-9a-f]{64})"/, (_m, s: string) => `"signature":"${s.toUpperCase()}"`), /signature\.signature must be 64 lowercase hex/],
    ['short hex signature', (b) => b.replace(/"signature":"([0-9a-f]{64})"/, (_m, s: string) => `"signature":"${s.slice(0, 62)}"`), /signature\.signature must be 64 lowercase hex/],
    ['missing signature object', (b) => b.replace(/,"signature":\{.*\}\}$/, '}'), /signature is required/],
    ['top-level array', () => '[1,2]', /body must be an object/],
  ];
  for (const [name, mutate, field] of cases) {
    test(name, async () => {
      const mutated = mutate(body(shared).text);
      rejected(await post(mutated), 400, 'INVALID_PAYLOAD', field);
    });
  }
});

describe('401 INVALID_SIGNATURE', () => {
  test('wrong secret: generic message, exact reason only in the audit log', async () => {
    const r = await send(shared, {}, crypto.randomBytes(32).toString('hex'));
    const ev = rejected(r.reply, 401, 'INVALID_SIGNATURE');
    assert.equal(r.reply.json()['error'], 'signature verification failed');
    assert.match(String(ev.details['reason']), /does not match any shared secret of "controller-1"/);
    assert.equal(ev.job_id, r.payload.jobId);
    assert.equal(ev.controller_id, 'controller-1');
  });

  test('a field changed after signing', async () => {
    const b = body(shared, { command: 'echo signed' });
    rejected(await post(b.text.replace('echo signed', 'echo evil!')), 401, 'INVALID_SIGNATURE');
  });

  test('a controller with its own secrets cannot be impersonated with the shared secret', async () => {
    const ev = rejected((await send(ci, {}, shared.secret)).reply, 401, 'INVALID_SIGNATURE');
    assert.match(String(ev.details['reason']), /controller secret of "ci"/);
  });

  test('the shared secret does not verify a job signed with a controller key for another id', async () => {
    rejected((await send(shared, {}, CI_NEW)).reply, 401, 'INVALID_SIGNATURE');
  });
});

describe('401 time checks', () => {
  const now = (): number => Math.floor(Date.now() / 1000);
  test('JOB_EXPIRED: ttl in the past', async () => {
    rejected((await send(shared, { timestamp: now() - 20, ttl: now() - 10 })).reply, 401, 'JOB_EXPIRED');
  });
  test('JOB_TOO_OLD: timestamp older than max_job_age_seconds', async () => {
    rejected((await send(shared, { timestamp: now() - 400, ttl: now() + 100 })).reply, 401, 'JOB_TOO_OLD');
  });
  test('JOB_FROM_FUTURE: timestamp beyond max_clock_skew_seconds', async () => {
    rejected((await send(shared, { timestamp: now() + 120, ttl: now() + 300 })).reply, 401, 'JOB_FROM_FUTURE');
  });
  test('TTL_TOO_LONG: ttl - timestamp beyond max_ttl_seconds', async () => {
    rejected((await send(shared, { timestamp: now(), ttl: now() + 3700 })).reply, 401, 'TTL_TOO_LONG');
  });
});

describe('401 UNAUTHENTICATED on reads', () => {
  let jobId = '';
  before(async () => {
    const r = await send(shared, { command: 'true' });
    await expectAccepted(shared, r);
    jobId = r.payload.jobId;
  });

  async function read(headers: Record<string, string>): Promise<AuditRow> {
    const reply = await request(shared, 'GET', `/api/v1/jobs/${jobId}`, undefined, headers);
    assert.equal(reply.status, 401, reply.text);
    assert.deepEqual(reply.json(), { error: 'request authentication failed', code: 'UNAUTHENTICATED' });
    const ev = auditOf(reply);
    assert.equal(ev.type, 'request.unauthenticated');
    assert.equal(ev.remote_addr, '127.0.0.1');
    return ev;
  }

  test('a signed read works', async () => {
    const r = await status(shared, jobId);
    assert.equal(r.status, 200);
    assert.equal(r.json()['job_id'], jobId);
  });
  test('without signature headers', async () => {
    assert.match(String((await read({}))['details']['reason']), /missing X-QuickCMD-Controller/);
  });
  test('with a bad signature', async () => {
    const h = signedHeaders({ ...shared, secret: 'x'.repeat(32) }, 'GET', `/api/v1/jobs/${jobId}`);
    assert.match(String((await read(h))['details']['reason']), /does not match/);
  });
  test('with a stale X-QuickCMD-Timestamp (correctly signed)', async () => {
    const p = `/api/v1/jobs/${jobId}`;
    const ts = Math.floor(Date.now() / 1000) - 120;
    const sig = hmacHex(Buffer.from(shared.secret), `GET\n${p}\n${ts}\n${crypto.createHash('sha256').update('').digest('hex')}`);
    const ev = await read({ 'x-quickcmd-controller': shared.controllerId, 'x-quickcmd-timestamp': String(ts), 'x-quickcmd-signature': sig });
    assert.match(String(ev.details['reason']), /away from the agent's clock/);
  });
});

describe('403', () => {
  test('CONTROLLER_NOT_ALLOWED: valid shared signature, id not in allowed_controllers', async () => {
    const ev = rejected((await send(stranger)).reply, 403, 'CONTROLLER_NOT_ALLOWED');
    assert.equal(ev.controller_id, 'stranger');
  });
  test('INSUFFICIENT_SCOPES: per-controller scopes', async () => {
    rejected((await send(ci, { requiredScopes: ['deploy', 'admin'] })).reply, 403, 'INSUFFICIENT_SCOPES', /admin/);
  });
  test('INSUFFICIENT_SCOPES: the shared secret has no scopes', async () => {
    rejected((await send(shared, { requiredScopes: ['deploy'] })).reply, 403, 'INSUFFICIENT_SCOPES');
  });
  test('IMAGE_NOT_ALLOWED', async () => {
    rejected((await send(shared, { candidateMetadata: { sandbox: { image: 'ubuntu:latest' } } })).reply, 403, 'IMAGE_NOT_ALLOWED');
  });
  for (const [field, value] of [
    ['cpu_limit', 4],
    ['memory_limit', 1024 * 1024 * 1024],
    ['timeout_seconds', 601],
  ] as const) {
    test(`LIMIT_EXCEEDED: ${field} above its max`, async () => {
      rejected((await send(shared, { candidateMetadata: { sandbox: { [field]: value } } })).reply, 403, 'LIMIT_EXCEEDED', new RegExp(field));
    });
  }
});

describe('404 JOB_NOT_FOUND', () => {
  test('an unknown id', async () => {
    const r = await status(shared, 'job-does-not-exist');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), { error: 'job not found', code: 'JOB_NOT_FOUND' });
  });
  test("another controller's job is reported absent (read and cancel)", async () => {
    const r = await send(ci, { command: 'true' });
    await expectAccepted(ci, r);
    const read = await status(shared, r.payload.jobId);
    assert.equal(read.status, 404);
    assert.deepEqual(read.json(), { error: 'job not found', code: 'JOB_NOT_FOUND' });
    const p = `/api/v1/jobs/${r.payload.jobId}/cancel`;
    const cancel = await request(shared, 'POST', p, '', signedHeaders(shared, 'POST', p));
    assert.equal(cancel.status, 404);
    assert.equal(cancel.json()['code'], 'JOB_NOT_FOUND');
    assert.equal((await status(ci, r.payload.jobId)).status, 200, 'its owner still sees it');
  });
});

describe('409 DUPLICATE_JOB', () => {
  test('the same job id is accepted once; a re-signed body with the same id is refused too', async () => {
    const first = await send(shared, { command: 'true' });
    await expectAccepted(shared, first);
    rejected(await post(first.text), 409, 'DUPLICATE_JOB');
    rejected((await send(shared, { jobId: first.payload.jobId, command: 'echo other' })).reply, 409, 'DUPLICATE_JOB');
  });
});

describe('413 REQUEST_TOO_LARGE and 415', () => {
  test('a Content-Length over max_request_bytes', async () => {
    const big = Buffer.alloc(a.config.max_request_bytes + 1, 0x20);
    const r = await post(big);
    rejected(r, 413, 'REQUEST_TOO_LARGE');
    assert.equal(r.headers['connection'], 'close');
  });

  test('a chunked body without Content-Length streaming past the limit is cut off', async () => {
    const limit = a.config.max_request_bytes;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const cap = 64 * limit;
    let sent = 0;
    const reply = await new Promise<Reply>((resolve, reject) => {
      let answered = false;
      const req = https.request(
        { method: 'POST', hostname: '127.0.0.1', port: a.port, path: '/api/v1/jobs', ca: fs.readFileSync(a.pki.caCert), agent: false, headers: JSON_CT },
        (res) => {
          answered = true;
          let t = '';
          res.on('data', (c: Buffer) => (t += c.toString()));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text: t, json: () => JSON.parse(t) as Record<string, unknown> });
            req.destroy();
          });
        },
      );
      req.on('error', (e) => {
        if (!answered) reject(e);
      });
      assert.equal(req.getHeader('content-length'), undefined);
      const pump = (): void => {
        while (!answered && sent < cap) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!answered) req.end();
      };
      req.write('{"payload":{"prompt":"');
      pump();
    });
    rejected(reply, 413, 'REQUEST_TOO_LARGE');
    assert.ok(sent > limit, 'the body did pass the limit');
    assert.ok(sent < cap, `the agent answered without waiting for the whole body (${sent} of ${cap} bytes sent)`);
  });

  for (const [name, headers] of [
    ['text/plain', { 'content-type': 'text/plain' }],
    ['no content type', {}],
    ['form encoding', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['JSON in another charset', { 'content-type': 'application/json; charset=latin1' }],
  ] as const) {
    test(`415 for ${name}`, async () => {
      rejected(await post(body(shared).text, headers), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });
  }
});

describe('check order (SPEC §3)', () => {
  const now = (): number => Math.floor(Date.now() / 1000);
  test('bad signature and expired ttl → INVALID_SIGNATURE (signature before time)', async () => {
    const r = await send(shared, { timestamp: now() - 20, ttl: now() - 10 }, 'w'.repeat(32));
    rejected(r.reply, 401, 'INVALID_SIGNATURE');
  });
  test('expired and not allowed → JOB_EXPIRED (time before controller)', async () => {
    rejected((await send(stranger, { timestamp: now() - 20, ttl: now() - 10 })).reply, 401, 'JOB_EXPIRED');
  });
  test('too large and wrong content type → 413 (size before content type)', async () => {
    rejected(await post(Buffer.alloc(a.config.max_request_bytes + 1), { 'content-type': 'text/plain' }), 413, 'REQUEST_TOO_LARGE');
  });
  test('wrong content type and bad JSON → 415 (content type before JSON)', async () => {
    rejected(await post('{', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
  test('malformed field and bad signature → INVALID_PAYLOAD (shape before signature)', async () => {
    rejected(await post(body(shared, {}, 'w'.repeat(32)).text.replace('"command"', '"COMMAND"')), 400, 'INVALID_PAYLOAD');
  });
  test('not allowed and duplicate → CONTROLLER_NOT_ALLOWED', async () => {
    const first = await send(shared, { command: 'true' });
    await expectAccepted(shared, first);
    rejected((await send(stranger, { jobId: first.payload.jobId })).reply, 403, 'CONTROLLER_NOT_ALLOWED');
  });
  test('duplicate and missing scope → DUPLICATE_JOB; missing scope and bad image → INSUFFICIENT_SCOPES; bad image and over limit → IMAGE_NOT_ALLOWED', async () => {
    const first = await send(ci, { command: 'true' });
    await expectAccepted(ci, first);
    rejected((await send(ci, { jobId: first.payload.jobId, requiredScopes: ['admin'] })).reply, 409, 'DUPLICATE_JOB');
    rejected((await send(ci, { requiredScopes: ['admin'], candidateMetadata: { sandbox: { image: 'ubuntu:latest' } } })).reply, 403, 'INSUFFICIENT_SCOPES');
    rejected((await send(ci, { candidateMetadata: { sandbox: { image: 'ubuntu:latest', cpu_limit: 99 } } })).reply, 403, 'IMAGE_NOT_ALLOWED');
  });
});

describe('503 DOCKER_UNAVAILABLE', () => {
  test('a valid job while the engine does not answer is refused, and audited', async () => {
    const down = await startTestAgent({}, { docker: new Dockerode({ socketPath: `${a.dir}/no-docker.sock` }) });
    try {
      const t: ClientTarget = { url: down.url, caFile: down.pki.caCert, secret: down.secret, controllerId: down.controllerId };
      const b = encodeJobBody(payload(t), Buffer.from(down.secret));
      const r = await request(t, 'POST', '/api/v1/jobs', b, JSON_CT);
      assert.equal(r.status, 503, r.text);
      assert.deepEqual(r.json(), { error: 'container engine unavailable; retry later', code: 'DOCKER_UNAVAILABLE' });
      const db = new Database(down.dbPath, { readonly: true });
      const row = db.prepare("SELECT details FROM audit_events WHERE type = 'job.rejected' AND json_extract(details, '$.request_id') = ?").get(String(r.headers['x-request-id'])) as { details: string } | undefined;
      db.close();
      assert.equal(JSON.parse(row?.details ?? '{}')['code'], 'DOCKER_UNAVAILABLE');
    } finally {
      await down.stop();
    }
  });
});

describe('the database', () => {
  test('every rejection code above is in the audit table with a remote address', () => {
    const rows = auditDb.prepare("SELECT json_extract(details, '$.code') AS code, count(*) AS n, min(remote_addr) AS lo, max(remote_addr) AS hi FROM audit_events WHERE type = 'job.rejected' GROUP BY 1").all() as { code: string; n: number; lo: string; hi: string }[];
    const codes = new Map(rows.map((r) => [r.code, r]));
    for (const code of ['INVALID_JSON', 'INVALID_PAYLOAD', 'INVALID_SIGNATURE', 'JOB_EXPIRED', 'JOB_TOO_OLD', 'JOB_FROM_FUTURE', 'TTL_TOO_LONG', 'CONTROLLER_NOT_ALLOWED', 'INSUFFICIENT_SCOPES', 'IMAGE_NOT_ALLOWED', 'LIMIT_EXCEEDED', 'DUPLICATE_JOB', 'REQUEST_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']) {
      const r = codes.get(code);
      assert.ok(r && r.n > 0, `audited ${code}`);
      assert.equal(r.lo, '127.0.0.1');
      assert.equal(r.hi, '127.0.0.1');
    }
    const unauth = auditDb.prepare("SELECT count(*) AS n FROM audit_events WHERE type = 'request.unauthenticated'").get() as { n: number };
    assert.ok(unauth.n >= 3);
  });

  test('no secret and no signature appears anywhere in the database files', () => {
    const bytes = Buffer.concat([a.dbPath, `${a.dbPath}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
    assert.ok(bytes.includes('job.rejected'), 'sanity: the files hold the audit rows');
    for (const secret of [shared.secret, CI_NEW, CI_OLD]) assert.equal(bytes.includes(secret), false, 'a secret leaked into the database');
    assert.ok(signatures.size > 20);
    for (const sig of signatures) {
      assert.equal(bytes.includes(sig), false, `signature ${sig} leaked into the database`);
      assert.equal(bytes.includes(Buffer.from(sig, 'hex')), false, 'raw signature bytes leaked into the database');
    }
  });

  test('the database file is mode 0600 and in WAL mode', () => {
    assert.equal(fs.statSync(a.dbPath).mode & 0o777, 0o600);
    if (fs.existsSync(`${a.dbPath}-wal`)) assert.equal(fs.statSync(`${a.dbPath}-wal`).mode & 0o777, 0o600);
    assert.equal(auditDb.pragma('journal_mode', { simple: true }), 'wal');
  });
});
