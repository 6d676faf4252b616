/**
 * Sealing (SPEC §10): a round trip opens; a wrong secret, another subject, another
 * purpose (frames of another job) or any flipped byte does not; malformed envelopes are
 * SealError, never a crash. A known-answer check pins the HKDF parameters.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { open, parseEnvelope, seal, sealKey, SealError, unseal } from '../../internal/agent/wire/seal.js';

const secret = Buffer.from('s'.repeat(32));
const other = Buffer.from('t'.repeat(32));
const msg = { kind: 'messages' } as const;
const subject = 'quickcmd.v1.web1.submit';

test('round trip opens with the same secret, subject and purpose', () => {
  const sealed = seal(secret, 'controller-1', msg, subject, '{"command":"echo secret-text"}');
  assert.ok(!sealed.toString().includes('secret-text'), 'plaintext leaks into the envelope');
  const r = unseal(sealed, () => [other, secret], msg, subject);
  assert.equal(r.controllerId, 'controller-1');
  assert.equal(r.secretIndex, 1);
  assert.equal(r.plaintext.toString(), '{"command":"echo secret-text"}');
});

test('the key is HKDF-SHA256(secret, salt quickcmd-seal-v1, info) as SPEC §10 says', () => {
  const want = Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.from('quickcmd-seal-v1'), Buffer.from('controller-1'), 32));
  assert.deepEqual(sealKey(secret, 'controller-1', msg), want);
  const frames = Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.from('quickcmd-seal-v1'), Buffer.from('frames:job-9'), 32));
  assert.deepEqual(sealKey(secret, 'controller-1', { kind: 'frames', jobId: 'job-9' }), frames);
  // Independent decryption with node:crypto: ciphertext = AES-256-GCM(body) || tag, AAD = subject.
  const env = parseEnvelope(seal(secret, 'controller-1', msg, subject, 'hello'));
  const body = Buffer.from(env.ciphertext, 'base64url');
  const d = crypto.createDecipheriv('aes-256-gcm', want, Buffer.from(env.nonce, 'base64url'));
  d.setAAD(Buffer.from(subject));
  d.setAuthTag(body.subarray(body.length - 16));
  assert.equal(Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString(), 'hello');
});

test('a wrong secret, subject or purpose is refused', () => {
  const sealed = seal(secret, 'controller-1', msg, subject, 'x');
  const env = parseEnvelope(sealed);
  assert.throws(() => open(env, [other], msg, subject), SealError);
  assert.throws(() => open(env, [], msg, subject), SealError);
  assert.throws(() => open(env, [secret], msg, 'quickcmd.v1.web2.submit'), SealError);
  assert.throws(() => open(env, [secret], { kind: 'frames', jobId: 'j' }, subject), SealError);
  const fr = parseEnvelope(seal(secret, 'c', { kind: 'frames', jobId: 'a' }, 'quickcmd.v1.w.out.a', 'f'));
  assert.throws(() => open(fr, [secret], { kind: 'frames', jobId: 'b' }, 'quickcmd.v1.w.out.a'), SealError);
  // Another controller id in the envelope changes the key.
  assert.throws(() => open({ ...env, controller_id: 'controller-2' }, [secret], msg, subject), SealError);
});

test('every flipped ciphertext or nonce byte is refused', () => {
  const env = parseEnvelope(seal(secret, 'controller-1', msg, subject, 'tamper me please'));
  const body = Buffer.from(env.ciphertext, 'base64url');
  for (let i = 0; i < body.length; i++) {
    const t = Buffer.from(body);
    t[i] = (t[i] as number) ^ 1;
    assert.throws(() => open({ ...env, ciphertext: t.toString('base64url') }, [secret], msg, subject), SealError, `byte ${i}`);
  }
  const n = Buffer.from(env.nonce, 'base64url');
  n[0] = (n[0] as number) ^ 1;
  assert.throws(() => open({ ...env, nonce: n.toString('base64url') }, [secret], msg, subject), SealError);
});

test('malformed envelopes are SealError', () => {
  const good = JSON.parse(seal(secret, 'c', msg, subject, 'x').toString()) as Record<string, unknown>;
  const bad: unknown[] = [
    'not json', '[]', 'null', '{}', '"x"',
    { ...good, v: 2 }, { ...good, extra: 1 }, { ...good, controller_id: '' }, { ...good, controller_id: 5 },
    { ...good, nonce: 'AAAA' }, { ...good, nonce: '!!!!' }, { ...good, ciphertext: 'AA' }, { ...good, ciphertext: null },
  ];
  for (const b of bad) {
    const bytes = Buffer.from(typeof b === 'string' ? b : JSON.stringify(b));
    assert.throws(() => parseEnvelope(bytes), SealError, String(bytes));
  }
  assert.throws(() => parseEnvelope(Buffer.from([0xff, 0xfe])), SealError);
});
