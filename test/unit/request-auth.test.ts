/**
 * Signed reads and cancels (SPEC §3 "Signed requests") with a controlled clock and a real
 * SQLite audit log: which headers authenticate whom, the skew window, per-controller keys,
 * mTLS identities, open reads, and that every failure is audited with its exact reason.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { openDatabase } from '../../internal/audit/database.js';
import { SqliteAuditLog } from '../../internal/audit/audit-store.js';
import type { Clock } from '../../internal/agent/clock.js';
import { parseConfig, type AgentConfig } from '../../internal/agent/config/config.js';
import { RejectionError } from '../../internal/agent/errors.js';
import { silentLogger } from '../../internal/agent/logger.js';
import { mayAccess, RequestAuth, type Principal, type SignedRequestInput } from '../../internal/agent/door/request-auth.js';
import { signRequest } from '../../internal/agent/wire/signing.js';

const SHARED = 's'.repeat(32);
const CI_OLD = 'o'.repeat(32);
const CI_NEW = 'n'.repeat(32);
const NOW = 1_767_225_600;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-request-auth-'));
const db = openDatabase(path.join(dir, 'audit.db'));
after(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let nowMs = NOW * 1000;
const clock: Clock = { nowMs: () => nowMs };
// Every refusal here comes from one address in one minute: no coalescing in this file.
const audit = new SqliteAuditLog({ db, clock: { now: () => new Date(nowMs) }, strangerBurst: Number.MAX_SAFE_INTEGER });

function config(extra: Record<string, unknown> = {}): AgentConfig {
  return parseConfig(
    stringify({ insecure_http: true, hmac_secret: SHARED, allowed_controllers: ['legacy-1'], controllers: [{ id: 'ci', secrets: [CI_NEW, CI_OLD] }], ...extra }),
    'auth.yaml',
  );
}

function auth(cfg: AgentConfig = config()): RequestAuth {
  return new RequestAuth({ config: () => cfg, clock, audit, logger: silentLogger() });
}

function signed(controller: string, secret: string, opts: { method?: string; path?: string; ts?: number; body?: Buffer; tls?: ReadonlySet<string> | null } = {}): SignedRequestInput {
  const method = opts.method ?? 'GET';
  const p = opts.path ?? '/api/v1/jobs/job-1';
  const ts = opts.ts ?? NOW;
  const body = opts.body ?? Buffer.alloc(0);
  return {
    method,
    pathWithQuery: p,
    headers: { 'x-quickcmd-controller': controller, 'x-quickcmd-timestamp': String(ts), 'x-quickcmd-signature': signRequest(Buffer.from(secret), method, p, ts, body) },
    body,
    tlsIdentities: opts.tls ?? null,
    remoteAddr: '192.0.2.7',
    requestId: 'req-1',
  };
}

function lastAudit(): { type: string; controller_id: string | null; remote_addr: string | null; details: Record<string, unknown> } {
  const row = db.prepare('SELECT type, controller_id, remote_addr, details FROM audit_events ORDER BY seq DESC LIMIT 1').get() as { type: string; controller_id: string | null; remote_addr: string | null; details: string };
  return { ...row, details: JSON.parse(row.details) as Record<string, unknown> };
}

function refused(a: RequestAuth, req: SignedRequestInput, reason: RegExp): void {
  const before = (db.prepare('SELECT count(*) AS n FROM audit_events').get() as { n: number }).n;
  let caught: unknown;
  try {
    a.authenticate(req);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof RejectionError, 'expected a rejection');
  assert.equal(caught.code, 'UNAUTHENTICATED');
  assert.equal(caught.status, 401);
  // The client sees a generic message; the audit log gets the exact reason.
  assert.equal(caught.message, 'request authentication failed');
  assert.match(caught.reason, reason);
  audit.flush(); // request.unauthenticated is group-committed at the end of the turn
  const after = (db.prepare('SELECT count(*) AS n FROM audit_events').get() as { n: number }).n;
  assert.equal(after, before + 1, 'the failure is audited');
  const ev = lastAudit();
  assert.equal(ev.type, 'request.unauthenticated');
  assert.equal(ev.remote_addr, '192.0.2.7');
  assert.match(String(ev.details['reason']), reason);
}

function ids(p: Principal): string[] {
  assert.equal(p.open, false);
  return p.open ? [] : [...p.ids];
}

test('a correctly signed request authenticates its controller', () => {
  assert.deepEqual(ids(auth().authenticate(signed('legacy-1', SHARED))), ['legacy-1']);
  assert.deepEqual(ids(auth().authenticate(signed('ci', CI_NEW))), ['ci']);
  // Both keys of a rotation verify.
  assert.deepEqual(ids(auth().authenticate(signed('ci', CI_OLD))), ['ci']);
  // The signed body of a cancel counts.
  assert.deepEqual(ids(auth().authenticate(signed('ci', CI_NEW, { method: 'POST', path: '/api/v1/jobs/job-1/cancel', body: Buffer.from('{}') }))), ['ci']);
});

test('missing or malformed headers are refused', () => {
  const a = auth();
  const ok = signed('legacy-1', SHARED);
  refused(a, { ...ok, headers: {} }, /missing X-QuickCMD-Controller/);
  refused(a, { ...ok, headers: { ...ok.headers, 'x-quickcmd-timestamp': undefined } }, /X-QuickCMD-Timestamp/);
  refused(a, { ...ok, headers: { ...ok.headers, 'x-quickcmd-timestamp': '1.5e9' } }, /X-QuickCMD-Timestamp/);
  refused(a, { ...ok, headers: { ...ok.headers, 'x-quickcmd-signature': undefined } }, /X-QuickCMD-Signature/);
  refused(a, { ...ok, headers: { ...ok.headers, 'x-quickcmd-signature': String(ok.headers['x-quickcmd-signature']).toUpperCase() } }, /X-QuickCMD-Signature/);
  refused(a, { ...ok, headers: { ...ok.headers, 'x-quickcmd-controller': ['legacy-1', 'ci'] } }, /missing X-QuickCMD-Controller/);
});

test('the timestamp must be within max_clock_skew_seconds either way', () => {
  const a = auth();
  assert.deepEqual(ids(a.authenticate(signed('legacy-1', SHARED, { ts: NOW - 30 }))), ['legacy-1']);
  assert.deepEqual(ids(a.authenticate(signed('legacy-1', SHARED, { ts: NOW + 30 }))), ['legacy-1']);
  refused(a, signed('legacy-1', SHARED, { ts: NOW - 31 }), /31s away/);
  refused(a, signed('legacy-1', SHARED, { ts: NOW + 31 }), /31s away/);
});

test('a wrong key, a changed path, method or body is refused', () => {
  const a = auth();
  refused(a, signed('legacy-1', 'w'.repeat(32)), /does not match any shared secret/);
  const req = signed('legacy-1', SHARED);
  refused(a, { ...req, pathWithQuery: '/api/v1/jobs/job-2' }, /does not match/);
  refused(a, { ...req, method: 'POST' }, /does not match/);
  const cancel = signed('legacy-1', SHARED, { method: 'POST', path: '/x', body: Buffer.from('a') });
  refused(a, { ...cancel, body: Buffer.from('b') }, /does not match/);
});

test('a listed controller cannot be impersonated with the shared secret', () => {
  refused(auth(), signed('ci', SHARED), /does not match any controller secret of "ci"/);
});

test('a controller that is not allowed is refused even with a valid shared signature', () => {
  refused(auth(), signed('stranger', SHARED), /"stranger" is not allowed/);
});

test('under mTLS the certificate identity suffices, and signed headers must match it', () => {
  const a = auth();
  const noHeaders = { ...signed('ci', CI_NEW), headers: {}, tlsIdentities: new Set(['ci']) };
  assert.deepEqual(ids(a.authenticate(noHeaders)), ['ci']);
  refused(a, signed('legacy-1', SHARED, { tls: new Set(['ci']) }), /certificate does not name controller "legacy-1"/);
});

test('with require_read_auth false, reads without headers are open; signed ones still prove an id', () => {
  const a = auth(config({ require_read_auth: false }));
  const open = a.authenticate({ ...signed('ci', CI_NEW), headers: {} });
  assert.equal(open.open, true);
  assert.equal(mayAccess(open, 'anyone'), true);
  refused(a, signed('ci', 'w'.repeat(32)), /does not match/);
});

test('mayAccess: only the submitting controller', () => {
  const p: Principal = { open: false, ids: new Set(['ci']) };
  assert.equal(mayAccess(p, 'ci'), true);
  assert.equal(mayAccess(p, 'legacy-1'), false);
});

test('the audited reason never contains the secret or the signature', () => {
  const req = signed('ci', 'w'.repeat(32));
  refused(auth(), req, /does not match/);
  const text = JSON.stringify(lastAudit());
  assert.equal(text.includes('w'.repeat(32)), false);
  assert.equal(text.includes(String(req.headers['x-quickcmd-signature'])), false);
});
