/**
 * The wire form of a named-command call (SPEC §11): `candidate_metadata.named_command =
 * {"name": "...", "params": {...}}` (signed) with `command: ""`. This narrows its shape
 * (400 INVALID_PAYLOAD naming the field); the values are checked against the definition by
 * the door (INVALID_PARAMETER). Imported by the agent and the controller.
 */
import { RejectionError } from '../errors.js';

/** Key of the call inside candidate_metadata. */
export const NAMED_COMMAND_KEY = 'named_command';

/** A call as the controller signed it. */
export interface NamedCommandRequest {
  readonly name: string;
  /** Null-prototype record of JSON values (checked by the door). */
  readonly params: Readonly<Record<string, unknown>>;
}

const FIELD = `payload.candidate_metadata.${NAMED_COMMAND_KEY}`;
const KEYS = new Set(['name', 'params']);

function invalid(field: string, what: string): RejectionError {
  const msg = `${field} ${what}`;
  return new RejectionError('INVALID_PAYLOAD', msg, msg);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when `candidateMetadata` carries a named-command call (present and not null). */
export function hasNamedCommand(candidateMetadata: Record<string, unknown> | null): boolean {
  const v = candidateMetadata?.[NAMED_COMMAND_KEY];
  return v !== undefined && v !== null;
}

/** The call a payload's candidate_metadata carries, or null for a shell job; throws INVALID_PAYLOAD on a malformed one. */
export function namedCommandRequest(candidateMetadata: Record<string, unknown> | null): NamedCommandRequest | null {
  if (!hasNamedCommand(candidateMetadata)) return null;
  const v = candidateMetadata?.[NAMED_COMMAND_KEY];
  if (!isRecord(v)) throw invalid(FIELD, 'must be an object {"name", "params"}');
  for (const k of Object.keys(v)) if (!KEYS.has(k)) throw invalid(`${FIELD}.${JSON.stringify(k.slice(0, 64))}`, 'is not a known field');
  const name = v['name'];
  if (typeof name !== 'string' || name === '') throw invalid(`${FIELD}.name`, 'must be a non-empty string');
  const params = v['params'];
  if (params !== undefined && params !== null && !isRecord(params)) throw invalid(`${FIELD}.params`, 'must be an object');
  const out = Object.create(null) as Record<string, unknown>;
  if (isRecord(params)) for (const [k, x] of Object.entries(params)) out[k] = x;
  return { name, params: out };
}
