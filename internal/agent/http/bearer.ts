/**
 * The /metrics bearer check. Both sides are hashed to 32 bytes before the constant-time
 * compare, so neither the time taken nor an early length mismatch reveals the token's length.
 */
import crypto from 'node:crypto';

/** True when `authorization` is exactly `Bearer <token>`. */
export function bearerMatches(authorization: string, token: string): boolean {
  const got = crypto.createHash('sha256').update(authorization).digest();
  const want = crypto.createHash('sha256').update(`Bearer ${token}`).digest();
  return crypto.timingSafeEqual(got, want);
}
