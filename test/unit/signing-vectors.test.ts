/**
 * The Go-made signing vectors (SPEC §3): every canonical form and signature must be
 * reproduced, accepted by verifyJobSignature, and rejected after any one-bit change.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { parseSignedJob, type SignedJob } from '../../internal/agent/payload.js';
import { LEGACY_GO, MODERN_GO } from '../../internal/agent/go-json.js';
import {
  canonicalPayload,
  encodeJobBody,
  hmacHex,
  signJobPayload,
  verifyJobSignature,
} from '../../internal/agent/signing.js';

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
