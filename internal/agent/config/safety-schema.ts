/**
 * Config keys of issue 12 (fail safe under hostile callers), spread into the main schema:
 * what strangers may cost (audit coalescing), connection and body budgets, follower caps,
 * the browser Origin list of the stream, and the HTTP/TLS timeouts. Defaults are the
 * values the README states; each is bounded so a typo cannot disable a bound.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();

/** Keys (with defaults) of the safety bounds. */
export const safetyConfigShape = {
  /** Rejections of unsigned or forged requests audited row by row per remote address and minute; the rest are counted in one summary row. */
  audit_stranger_burst: positiveInt.max(1_000_000).default(10),
  /** Open client connections at most; beyond, new ones are closed at once. */
  max_connections: positiveInt.max(1_000_000).default(1024),
  /** Bytes of request bodies being received at once, all requests together; beyond, a new body gets 503. */
  max_inflight_body_bytes: positiveInt.max(4 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** Live-log WebSocket followers at once, all jobs together; beyond, 503 TOO_MANY_FOLLOWERS. */
  max_stream_clients: positiveInt.max(100_000).default(256),
  /** Live-log followers of one job at once; beyond, 503 TOO_MANY_FOLLOWERS. */
  max_followers_per_job: positiveInt.max(100_000).default(32),
  /** Browser Origins allowed to open a live-log stream (exact match); empty: every browser upgrade is refused. */
  allowed_origins: z.array(z.string().min(1).max(512)).default([]),
  /** Seconds a client has to finish the TLS handshake. */
  tls_handshake_timeout_seconds: positiveInt.max(30).default(10),
  /** Seconds a client has to send all request headers. */
  headers_timeout_seconds: positiveInt.max(60).default(10),
  /** Seconds a client has to send the whole request (headers and body). */
  request_timeout_seconds: positiveInt.max(600).default(30),
  /** Seconds an idle keep-alive connection is kept open. */
  keep_alive_timeout_seconds: positiveInt.max(600).default(5),
} as const;
