/**
 * Sealing of broker messages (SPEC §10): AES-256-GCM under a key derived with
 * HKDF-SHA256 from the controller's secret (salt `quickcmd-seal-v1`; info = the controller
 * id for requests and replies, `frames:` + job id for live frames), with the NATS subject
 * as additional authenticated data, so a sealed message moved to another subject does not
 * open. The broker sees the envelope only: controller id, nonce and ciphertext (the last
 * 16 bytes of which are the GCM tag), all base64url. Pure: used by agent and controller.
 */
import crypto from 'node:crypto';

/** Envelope version this code writes and reads. */
export const SEAL_VERSION = 1;
/** HKDF salt of every seal key. */
export const SEAL_SALT = 'quickcmd-seal-v1';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]*$/;

/** The wire envelope. */
export interface SealedEnvelope {
  readonly v: 1;
  readonly controller_id: string;
  readonly nonce: string;
  readonly ciphertext: string;
}

/** What a seal key is for: requests and replies of a controller, or one job's frames. */
export type SealPurpose = { readonly kind: 'messages' } | { readonly kind: 'frames'; readonly jobId: string };

/** A message that is not a well-formed envelope, or one that does not open. */
export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

/** HKDF-SHA256 → 32-byte AES key. */
export function sealKey(secret: Buffer, controllerId: string, purpose: SealPurpose): Buffer {
  const info = purpose.kind === 'messages' ? controllerId : `frames:${purpose.jobId}`;
  return Buffer.from(crypto.hkdfSync('sha256', secret, Buffer.from(SEAL_SALT, 'utf8'), Buffer.from(info, 'utf8'), 32));
}

/** Seal `plaintext` for `subject`; returns the envelope's JSON bytes. */
export function seal(secret: Buffer, controllerId: string, purpose: SealPurpose, subject: string, plaintext: Buffer | string): Buffer {
  return sealWithKey(sealKey(secret, controllerId, purpose), controllerId, subject, plaintext);
}

/** Seal with a key from sealKey (derived once per job for its frames). */
export function sealWithKey(key: Buffer, controllerId: string, subject: string, plaintext: Buffer | string): Buffer {
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(subject, 'utf8'));
  const body = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final(), cipher.getAuthTag()]);
  const env: SealedEnvelope = { v: SEAL_VERSION, controller_id: controllerId, nonce: nonce.toString('base64url'), ciphertext: body.toString('base64url') };
  return Buffer.from(JSON.stringify(env), 'utf8');
}

/** Parse an envelope without opening it (the controller id says which secrets to try). Throws SealError. */
export function parseEnvelope(data: Uint8Array): SealedEnvelope {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    throw new SealError('message is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SealError('message is not a sealed envelope');
  const r = raw as Record<string, unknown>;
  const keys = Object.keys(r).sort().join(',');
  if (keys !== 'ciphertext,controller_id,nonce,v') throw new SealError('message is not a sealed envelope');
  if (r['v'] !== SEAL_VERSION) throw new SealError(`unknown seal version ${JSON.stringify(r['v'])}`);
  const { controller_id: id, nonce, ciphertext } = r;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256) throw new SealError('bad controller_id');
  if (typeof nonce !== 'string' || !B64URL.test(nonce) || Buffer.from(nonce, 'base64url').length !== NONCE_BYTES) throw new SealError('bad nonce');
  if (typeof ciphertext !== 'string' || !B64URL.test(ciphertext) || Buffer.from(ciphertext, 'base64url').length < TAG_BYTES) throw new SealError('bad ciphertext');
  return { v: SEAL_VERSION, controller_id: id, nonce, ciphertext };
}

/** Open an envelope with any of `secrets` (rotation: several); returns the plaintext and the index of the secret that opened it. Throws SealError. */
export function open(env: SealedEnvelope, secrets: readonly Buffer[], purpose: SealPurpose, subject: string): { plaintext: Buffer; secretIndex: number } {
  const nonce = Buffer.from(env.nonce, 'base64url');
  const body = Buffer.from(env.ciphertext, 'base64url');
  const tag = body.subarray(body.length - TAG_BYTES);
  const ct = body.subarray(0, body.length - TAG_BYTES);
  for (let i = 0; i < secrets.length; i++) {
    try {
      const d = crypto.createDecipheriv('aes-256-gcm', sealKey(secrets[i] as Buffer, env.controller_id, purpose), nonce);
      d.setAAD(Buffer.from(subject, 'utf8'));
      d.setAuthTag(tag);
      return { plaintext: Buffer.concat([d.update(ct), d.final()]), secretIndex: i };
    } catch {
      // Wrong key, subject or tampered bytes: try the next secret.
    }
  }
  throw new SealError('seal does not open with any secret of the controller');
}

/** Parse and open in one step. Throws SealError. */
export function unseal(data: Uint8Array, secretsFor: (controllerId: string) => readonly Buffer[], purpose: SealPurpose, subject: string): { controllerId: string; plaintext: Buffer; secretIndex: number } {
  const env = parseEnvelope(data);
  const r = open(env, secretsFor(env.controller_id), purpose, subject);
  return { controllerId: env.controller_id, ...r };
}
