/**
 * The Go-made signing vectors (SPEC §3): every canonical form and signature must be
 * reproduced, accepted by verifyJobSignature, and rejected after any one-bit change.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { test } from 'node:test';
import { parseSignedJob, type SignedJob } from '../../internal/agent/wire/payload.js';
import { LEGACY_GO, MODERN_GO } from '../../internal/agent/wire/go-json.js';
import {
  canonicalPayload,
  encodeJobBody,
  hmacHex,
  requestSigningString,
  signJobPayload,
  signRequest,
  verifyJobSignature,
  verifyRequestSignature,
} from '../../internal/agent/wire/signing.js';

interface Vector {
  name: string;
  secret: string;
  body: string;
  canonical: string;
  signature: string;
}

function isVector(v: unknown): v is Vector {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return ['name', 'secret', 'body', 'canonical', 'signature'].every((k) => typeof r[k] === 'string');
}

const raw: unknown = JSON.parse(fs.readFileSync(new URL('../fixtures/signing-v1.json', import.meta.url), 'utf8'));
assert.ok(Array.isArray(raw) && raw.length > 0 && raw.every(isVector), 'fixture shape');
const vectors: Vector[] = raw;

function wrap(body: string, signature: string): string {
  return `{"payload": ${body}, "signature": {"signature": "${signature}", "algorithm": "HMAC-SHA256"}}`;
}

function flipBit(hex: string, bit: number): string {
  const b = Buffer.from(hex, 'hex');
  b[bit >> 3] ^= 1 << (bit & 7);
  return b.toString('hex');
}

for (const v of vectors) {
  const legacy = v.name.includes('legacy-go');
  const secret = Buffer.from(v.secret, 'utf8');
  const expected = Buffer.from(v.canonical, 'utf8');

  test(`vector ${v.name}: canonical bytes and signature`, () => {
    const job = parseSignedJob(wrap(v.body, v.signature));
    const canonical = legacy ? job.canonical.legacy : job.canonical.modern;
    assert.equal(canonical.toString('utf8'), v.canonical);
    assert.ok(canonical.equals(expected));
    assert.ok(canonicalPayload(job.payload, legacy ? LEGACY_GO : MODERN_GO).equals(expected));
    assert.equal(hmacHex(secret, canonical), v.signature);
    if (!legacy) assert.equal(signJobPayload(job.payload, secret), v.signature);
  });

  test(`vector ${v.name}: verifyJobSignature accepts it, rejects one-bit changes`, () => {
    const job = parseSignedJob(wrap(v.body, v.signature));
    assert.equal(verifyJobSignature(job, [secret]), true);
    // Rotation: a wrong key alongside the right one still verifies; alone it does not.
    const other = Buffer.from(`${v.secret}-other`, 'utf8');
    assert.equal(verifyJobSignature(job, [other, secret]), true);
    assert.equal(verifyJobSignature(job, [other]), false);
    assert.equal(verifyJobSignature(job, []), false);
    for (const bit of [0, 7, 100, 255]) {
      const tampered: SignedJob = { ...job, signatureHex: flipBit(v.signature, bit) };
      assert.equal(verifyJobSignature(tampered, [secret]), false, `signature bit ${bit}`);
    }
    // A one-bit change to the secret.
    const badSecret = Buffer.from(secret);
    badSecret[0] ^= 1;
    assert.equal(verifyJobSignature(job, [badSecret]), false);
    // A one-bit change to the signed content (the command) must break verification.
    const cmd = job.payload.command;
    const changed = String.fromCharCode(cmd.charCodeAt(0) ^ 1) + cmd.slice(1);
    const payload = { ...job.payload, command: changed };
    const modern = canonicalPayload(payload, MODERN_GO);
    const tamperedJob: SignedJob = { ...job, payload, canonical: { modern, legacy: canonicalPayload(payload, LEGACY_GO) } };
    assert.equal(verifyJobSignature(tamperedJob, [secret]), false);
  });

  test(`vector ${v.name}: encodeJobBody round-trips through parseSignedJob`, () => {
    const job = parseSignedJob(wrap(v.body, v.signature));
    const again = parseSignedJob(encodeJobBody(job.payload, secret));
    assert.deepEqual(again.payload, job.payload);
    assert.equal(verifyJobSignature(again, [secret]), true);
    // The body embeds the canonical bytes verbatim, as Go's Marshal of the envelope would.
    assert.ok(encodeJobBody(job.payload, secret).includes(job.canonical.modern.toString('utf8')));
  });
}

test('legacy and modern vectors for the same body differ only in \\b/\\f and both verify', () => {
  const pair = vectors.filter((v) => v.name.startsWith('11-'));
  assert.equal(pair.length, 2);
  for (const v of pair) {
    const job = parseSignedJob(wrap(v.body, v.signature));
    assert.notEqual(job.canonical.legacy.toString(), job.canonical.modern.toString());
    assert.equal(verifyJobSignature(job, [Buffer.from(v.secret)]), true);
  }
});

test('request signing string is METHOD\\nPATH_WITH_QUERY\\nTIMESTAMP\\nhex(sha256(body))', () => {
  const body = Buffer.from('{"x":1}');
  const sha = crypto.createHash('sha256').update(body).digest('hex');
  assert.equal(requestSigningString('post', '/api/v1/jobs/j-1/cancel?x=1', 1767225600, body), `POST\n/api/v1/jobs/j-1/cancel?x=1\n1767225600\n${sha}`);
  assert.equal(
    requestSigningString('GET', '/api/v1/jobs/j-1', 5, Buffer.alloc(0)),
    'GET\n/api/v1/jobs/j-1\n5\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  assert.throws(() => requestSigningString('GET', '/a\n1', 5, Buffer.alloc(0)), TypeError);
  assert.throws(() => requestSigningString('GET', '/a', 1.5, Buffer.alloc(0)), TypeError);
});

test('signed requests verify, and any change to method, path, timestamp, body or key fails', () => {
  const secret = Buffer.from('request-secret-0123456789abcdef0123');
  const other = Buffer.from('another-secret-0123456789abcdef0123');
  const body = Buffer.from('');
  const sig = signRequest(secret, 'GET', '/api/v1/jobs/j-1', 1767225600, body);
  assert.match(sig, /^[0-9a-f]{64}$/);
  assert.equal(sig, hmacHex(secret, requestSigningString('GET', '/api/v1/jobs/j-1', 1767225600, body)));
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-1', 1767225600, body, sig), true);
  assert.equal(verifyRequestSignature([other, secret], 'GET', '/api/v1/jobs/j-1', 1767225600, body, sig), true);
  assert.equal(verifyRequestSignature([other], 'GET', '/api/v1/jobs/j-1', 1767225600, body, sig), false);
  assert.equal(verifyRequestSignature([secret], 'POST', '/api/v1/jobs/j-1', 1767225600, body, sig), false);
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-2', 1767225600, body, sig), false);
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-1?', 1767225600, body, sig), false);
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-1', 1767225601, body, sig), false);
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-1', 1767225600, Buffer.from(' '), sig), false);
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-1', 1767225600, body, flipBit(sig, 9)), false);
  // Only the canonical lowercase form is accepted; malformed input fails closed, never throws.
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-1', 1767225600, body, sig.toUpperCase()), false);
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-1', 1767225600, body, sig.slice(2)), false);
  assert.equal(verifyRequestSignature([secret], 'GET', '/a\nb', 1767225600, body, sig), false);
  assert.equal(verifyRequestSignature([secret], 'GET', '/api/v1/jobs/j-1', Number.NaN, body, sig), false);
});
