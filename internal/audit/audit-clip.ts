/**
 * Bounds on what a stranger can make the audit store: a rejection's columns and detail
 * strings come from the request (headers, body fields) and are truncated before they are
 * chained, so a 15,000-character header costs a few hundred bytes, not 32 KB per request.
 */
import type { AuditEventInput } from './audit-log.js';

/** Longest job_id / controller_id / remote_addr kept from a rejected request. */
export const MAX_COLUMN_CHARS = 128;
/** Longest string kept inside a rejection's details. */
export const MAX_DETAIL_CHARS = 512;

/** `s` cut to `max` characters, marked with how much was cut. */
export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(+${s.length - max} chars)`;
}

function clipDeep(v: unknown, depth: number): unknown {
  if (typeof v === 'string') return clip(v, MAX_DETAIL_CHARS);
  if (depth > 4 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.slice(0, 32).map((x) => clipDeep(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v).slice(0, 64)) out[clip(k, 64)] = clipDeep(x, depth + 1);
  return out;
}

/** A rejection event with every request-derived value bounded. */
export function clipRejection<T extends AuditEventInput>(e: T): T {
  const col = (s: string | null | undefined): string | null => (s === undefined || s === null ? null : clip(s, MAX_COLUMN_CHARS));
  return { ...e, jobId: col(e.jobId), controllerId: col(e.controllerId), remoteAddr: col(e.remoteAddr), details: clipDeep(e.details ?? {}, 0) as Record<string, unknown> };
}
