/**
 * Pure HMAC-SHA256 signing and verification for jobs and requests (SPEC §3). No I/O, no
 * clock: the caller supplies secrets (raw UTF-8 bytes of the configured secret) and
 * timestamps. Comparisons are constant-time so a client learns nothing about which byte
 * of a signature was wrong.
 */
import crypto from 'node:crypto';
import { MODERN_GO, type GoJsonOptions } from './go-json.js';
import { goMarshalPayload, type JobPayload, type SignedJob } from './payload.js';
import { SIGNATURE_ALGORITHM, SIGNATURE_HEX_RE } from './signature-format.js';

/** The bytes a Go controller signs for `p` (see go-json.ts for every rule). */
export function canonicalPayload(p: JobPayload, opts: GoJsonOptions = MODERN_GO): Buffer {
  return Buffer.from(goMarshalPayload(p, opts), 'utf8');
}

/** Lowercase hex HMAC-SHA256 of `data` (strings are taken as UTF-8) under `secret`. */
export function hmacHex(secret: Buffer, data: Buffer | string): string {
  return crypto.createHmac('sha256', secret).update(data).digest('hex');
}

function hmacRaw(secret: Buffer, data: Buffer | string): Buffer {
  return crypto.createHmac('sha256', secret).update(data).digest();
}

/**
 * Compares `claimedHex` against HMACs of every (secret, message) pair. Every pair is
 * computed and compared — no early exit — so timing does not reveal which secret (or
 * rotation slot) matched; each comparison is timingSafeEqual over 32 bytes.
 */
function anyMatch(claimedHex: string, secrets: readonly Buffer[], messages: readonly Buffer[]): boolean {
  if (!SIGNATURE_HEX_RE.test(claimedHex)) return false;
  const claimed = Buffer.from(claimedHex, 'hex');
  let ok = false;
  for (const secret of secrets) {
    for (const message of messages) {
      const expected = hmacRaw(secret, message);
      // Equal lengths by construction (32 bytes); the comparison runs before `||` sees `ok`.
      ok = crypto.timingSafeEqual(expected, claimed) || ok;
    }
  }
  return ok;
}

/**
 * True when the job's signature is a valid HMAC of either canonical form (modern or
 * pre-1.22 Go) under any of `secrets`. Fails closed on an unexpected algorithm.
 */
export function verifyJobSignature(job: SignedJob, secrets: readonly Buffer[]): boolean {
  if (job.algorithm !== SIGNATURE_ALGORITHM) return false;
  const { modern, legacy } = job.canonical;
  // The two forms are identical unless \b or \f occur; skip the redundant HMAC then.
  const messages = legacy.equals(modern) ? [modern] : [modern, legacy];
  return anyMatch(job.signatureHex, secrets, messages);
}

/** Signature a controller attaches to `p` (modern Go canonical form). */
export function signJobPayload(p: JobPayload, secret: Buffer): string {
  return hmacHex(secret, canonicalPayload(p, MODERN_GO));
}

/**
 * The full submission body a Go controller would send: `json.Marshal` of
 * `{payload, signature: {signature, algorithm}}`, so the embedded payload bytes are the
 * canonical bytes themselves.
 */
export function encodeJobBody(p: JobPayload, secret: Buffer): string {
  const canonical = goMarshalPayload(p, MODERN_GO);
  const signature = hmacHex(secret, Buffer.from(canonical, 'utf8'));
  return `{"payload":${canonical},"signature":{"signature":"${signature}","algorithm":"${SIGNATURE_ALGORITHM}"}}`;
}

/**
 * The string a signed request (status, cancel, stream) covers:
 * `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nhex(sha256(body))`. The method is upper-cased so
 * both sides agree regardless of how a client library spells it; the path is used exactly
 * as sent (no decoding or normalisation, which would let two URLs share a signature).
 */
export function requestSigningString(method: string, pathWithQuery: string, timestampSec: number, body: Buffer): string {
  if (!Number.isSafeInteger(timestampSec)) throw new TypeError('timestamp must be an integer number of seconds');
  if (/[\r\n]/.test(method) || /[\r\n]/.test(pathWithQuery)) {
    // A newline would let one field masquerade as the next.
    throw new TypeError('method and path must not contain line breaks');
  }
  const bodyHash = crypto.createHash('sha256').update(body).digest('hex');
  return `${method.toUpperCase()}\n${pathWithQuery}\n${timestampSec}\n${bodyHash}`;
}

/** Lowercase hex signature for the `X-QuickCMD-Signature` header. */
export function signRequest(secret: Buffer, method: string, pathWithQuery: string, timestampSec: number, body: Buffer): string {
  return hmacHex(secret, requestSigningString(method, pathWithQuery, timestampSec, body));
}

/** True when `signatureHex` signs this request under any of `secrets`; constant-time, fails closed. */
export function verifyRequestSignature(
  secrets: readonly Buffer[],
  method: string,
  pathWithQuery: string,
  timestampSec: number,
  body: Buffer,
  signatureHex: string,
): boolean {
  let message: Buffer;
  try {
    message = Buffer.from(requestSigningString(method, pathWithQuery, timestampSec, body), 'utf8');
  } catch {
    return false;
  }
  return anyMatch(signatureHex, secrets, [message]);
}
