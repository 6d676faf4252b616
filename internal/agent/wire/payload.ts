/**
 * Narrows a submitted job body into a typed, signed envelope (SPEC §3 "Signed job").
 *
 * Go's decoder matches keys case-insensitively, ignores unknown keys and keeps the last
 * duplicate; each of those lets bytes that were never signed steer what runs. So here
 * the envelope is closed: exact key names only, no duplicates (strict-json), required
 * fields present, integers written as integers. Every failure is a RejectionError —
 * INVALID_JSON with a generic message for syntax, INVALID_PAYLOAD naming the field.
 */
import { RejectionError } from '../errors.js';
import { NAMED_COMMAND_KEY } from './named-command-request.js';
import { goFormatInt, goMarshalMap, goQuote, LEGACY_GO, MODERN_GO, toWellFormed, type GoJsonOptions } from './go-json.js';
import { isJobId, MAX_ID_LENGTH } from './job-id.js';
import { SIGNATURE_ALGORITHM, SIGNATURE_HEX_RE } from './signature-format.js';
import { JsonNumber, JsonSyntaxError, parseStrictJson, type JsonObject, type JsonValue } from './strict-json.js';

/** Container depth allowed in a job body: envelope(1) + payload(2) leaves 62 for metadata. */
export const MAX_JOB_JSON_DEPTH = 64;
/**
 * Longest command in UTF-8 bytes: `/bin/sh -c <command>` passes it as one argument, and
 * Linux refuses a single argument of MAX_ARG_STRLEN (128 KiB, with its NUL) or more, so a
 * longer one could only ever end as "argument list too long".
 */
export const MAX_COMMAND_BYTES = 128 * 1024 - 1;
export { MAX_ID_LENGTH } from './job-id.js';
export { SIGNATURE_ALGORITHM } from './signature-format.js';

/** A job payload as the controller signed it; strings are well-formed (lone surrogates → U+FFFD). */
export interface JobPayload {
  /** Unique job id; `[A-Za-z0-9._:-]`, since it becomes a Docker label and a URL segment. */
  readonly jobId: string;
  /** Human description; "" when absent or null. */
  readonly prompt: string;
  /** The shell command to run; empty exactly when candidate_metadata.named_command is set. */
  readonly command: string;
  /** Signed metadata (e.g. `sandbox` requests); plain JSON values, numbers as float64. */
  readonly candidateMetadata: Record<string, unknown> | null;
  /** Signed plugin metadata; plain JSON values. */
  readonly pluginMetadata: Record<string, unknown> | null;
  /** Scopes the job needs; null when absent. */
  readonly requiredScopes: readonly string[] | null;
  /** Opaque snapshot description; "" when absent or null. */
  readonly snapshotMetadata: string;
  /** Expiry, Unix seconds. */
  readonly ttl: number;
  /** Creation time, Unix seconds. */
  readonly timestamp: number;
  /** Submitting controller's id. */
  readonly controllerId: string;
}

/** A parsed submission: payload, claimed signature, and the bytes that signature covers. */
export interface SignedJob {
  readonly payload: JobPayload;
  /** 64 lowercase hex characters. */
  readonly signatureHex: string;
  readonly algorithm: typeof SIGNATURE_ALGORITHM;
  /** Canonical bytes as modern Go and as Go < 1.22 would sign them (equal unless \b or \f occur). */
  readonly canonical: { readonly modern: Buffer; readonly legacy: Buffer };
}

const PAYLOAD_KEYS = new Set([
  'job_id',
  'prompt',
  'command',
  'candidate_metadata',
  'plugin_metadata',
  'required_scopes',
  'snapshot_metadata',
  'ttl',
  'timestamp',
  'controller_id',
]);
const ENVELOPE_KEYS = new Set(['payload', 'signature']);
const SIGNATURE_KEYS = new Set(['signature', 'algorithm']);

const INTEGER_RE = /^-?(?:0|[1-9][0-9]*)$/;
// C0, DEL and C1 controls: never legitimate in an id that is logged and sent in headers.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

function invalid(field: string, what: string): RejectionError {
  const msg = `${field} ${what}`;
  return new RejectionError('INVALID_PAYLOAD', msg, msg);
}

/** Quotes attacker-supplied key text for a message: JSON-escaped and truncated. */
function quoteKey(key: string): string {
  const shown = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  return JSON.stringify(shown);
}

function parseBody(text: string): JsonValue {
  try {
    return parseStrictJson(text, { maxDepth: MAX_JOB_JSON_DEPTH });
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw new RejectionError('INVALID_JSON', 'request body is not valid JSON', e.message);
    }
    throw e;
  }
}

function isObject(v: JsonValue): v is JsonObject {
  return v instanceof Map;
}

/** Requires `v` to be an object whose keys all belong to `allowed` (exact case). */
function closedObject(v: JsonValue | undefined, path: string, allowed: ReadonlySet<string>): JsonObject {
  if (v === undefined) throw invalid(path, 'is required');
  if (!isObject(v)) throw invalid(path, 'must be an object');
  for (const key of v.keys()) {
    if (!allowed.has(key)) {
      const prefix = path === 'body' ? '' : `${path}.`;
      throw invalid(`${prefix}${quoteKey(key)}`, 'is not a known field');
    }
  }
  return v;
}

function requiredString(obj: JsonObject, key: string, path: string): string {
  const v = obj.get(key);
  if (v === undefined) throw invalid(`${path}.${key}`, 'is required');
  if (typeof v !== 'string') throw invalid(`${path}.${key}`, 'must be a string');
  return toWellFormed(v);
}

function optionalString(obj: JsonObject, key: string, path: string): string {
  const v = obj.get(key);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid(`${path}.${key}`, 'must be a string or null');
  return toWellFormed(v);
}

function requiredInteger(obj: JsonObject, key: string, path: string): number {
  const v = obj.get(key);
  if (v === undefined) throw invalid(`${path}.${key}`, 'is required');
  // The literal text decides: `1.0` and `1e3` are integers as floats but not as int64 in Go.
  if (!(v instanceof JsonNumber) || !INTEGER_RE.test(v.raw)) throw invalid(`${path}.${key}`, 'must be an integer');
  if (!Number.isSafeInteger(v.value)) throw invalid(`${path}.${key}`, 'is out of range');
  return v.value === 0 ? 0 : v.value;
}

function checkId(value: string, field: string): void {
  if (value.length === 0) throw invalid(field, 'must not be empty');
  if ([...value].length > MAX_ID_LENGTH) throw invalid(field, `must be at most ${MAX_ID_LENGTH} characters`);
}

/** Converts parsed JSON into plain values: null-prototype records (so `__proto__` is data), float64 numbers. */
function toPlain(v: JsonValue): unknown {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'string') return toWellFormed(v);
  if (v instanceof JsonNumber) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  const out = Object.create(null) as Record<string, unknown>;
  // strict-json already refused keys that collide after U+FFFD replacement.
  for (const [k, item] of v) out[toWellFormed(k)] = toPlain(item);
  return out;
}

function metadata(obj: JsonObject, key: string, path: string): Record<string, unknown> | null {
  const v = obj.get(key);
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw invalid(`${path}.${key}`, 'must be an object or null');
  return toPlain(v) as Record<string, unknown>;
}

function scopes(obj: JsonObject, key: string, path: string): string[] | null {
  const v = obj.get(key);
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw invalid(`${path}.${key}`, 'must be an array of strings or null');
  return v.map((item, i) => {
    if (typeof item !== 'string') throw invalid(`${path}.${key}[${i}]`, 'must be a string');
    return toWellFormed(item);
  });
}

/** Narrows a parsed payload object; `path` prefixes field names in messages. */
function narrowPayload(v: JsonValue | undefined, path: string): JobPayload {
  const obj = closedObject(v, path, PAYLOAD_KEYS);
  const jobId = requiredString(obj, 'job_id', path);
  checkId(jobId, `${path}.job_id`);
  // "." and ".." would be rewritten by URL normalisation in /api/v1/jobs/:id.
  if (!isJobId(jobId)) {
    throw invalid(`${path}.job_id`, 'may contain only letters, digits, ".", "_", ":" and "-"');
  }
  const command = requiredString(obj, 'command', path);
  // A named command (SPEC §11) travels in candidate_metadata with an empty command; never both.
  const meta = obj.get('candidate_metadata');
  const call = meta !== undefined && isObject(meta) ? meta.get(NAMED_COMMAND_KEY) : undefined;
  const named = call !== undefined && call !== null;
  if (command.length === 0 && !named) throw invalid(`${path}.command`, 'must not be empty');
  if (command.length > 0 && named) throw invalid(`${path}.command`, `must be empty when candidate_metadata.${NAMED_COMMAND_KEY} is set`);
  if (command.length > MAX_COMMAND_BYTES / 3 && Buffer.byteLength(command, 'utf8') > MAX_COMMAND_BYTES) {
    throw invalid(`${path}.command`, `must be at most ${MAX_COMMAND_BYTES} bytes (the kernel's limit for one argument)`);
  }
  const controllerId = requiredString(obj, 'controller_id', path);
  checkId(controllerId, `${path}.controller_id`);
  if (CONTROL_RE.test(controllerId)) throw invalid(`${path}.controller_id`, 'must not contain control characters');
  return {
    jobId,
    prompt: optionalString(obj, 'prompt', path),
    command,
    candidateMetadata: metadata(obj, 'candidate_metadata', path),
    pluginMetadata: metadata(obj, 'plugin_metadata', path),
    requiredScopes: scopes(obj, 'required_scopes', path),
    snapshotMetadata: optionalString(obj, 'snapshot_metadata', path),
    ttl: requiredInteger(obj, 'ttl', path),
    timestamp: requiredInteger(obj, 'timestamp', path),
    controllerId,
  };
}

function marshalMetadata(m: Record<string, unknown> | null, opts: GoJsonOptions): string {
  // A nil Go map marshals as `null`, an empty one as `{}`.
  return m === null ? 'null' : goMarshalMap(m, opts, 0);
}

/**
 * Marshals the job payload as Go marshals the controller's struct: fields in declaration
 * order (job_id, prompt, command, candidate_metadata, plugin_metadata, required_scopes,
 * snapshot_metadata, ttl, timestamp, controller_id), no whitespace, no omitempty — so a
 * nil map or slice is `null` and an empty string is `""`; ttl/timestamp are int64.
 */
export function goMarshalPayload(p: JobPayload, opts: GoJsonOptions): string {
  const scopes = p.requiredScopes === null ? 'null' : `[${p.requiredScopes.map((s) => goQuote(s, opts)).join(',')}]`;
  return (
    `{"job_id":${goQuote(p.jobId, opts)}` +
    `,"prompt":${goQuote(p.prompt, opts)}` +
    `,"command":${goQuote(p.command, opts)}` +
    `,"candidate_metadata":${marshalMetadata(p.candidateMetadata, opts)}` +
    `,"plugin_metadata":${marshalMetadata(p.pluginMetadata, opts)}` +
    `,"required_scopes":${scopes}` +
    `,"snapshot_metadata":${goQuote(p.snapshotMetadata, opts)}` +
    `,"ttl":${goFormatInt(p.ttl)}` +
    `,"timestamp":${goFormatInt(p.timestamp)}` +
    `,"controller_id":${goQuote(p.controllerId, opts)}}`
  );
}

/** Both canonical byte forms of a payload (modern Go and Go < 1.22). */
export function canonicalVariants(p: JobPayload): { modern: Buffer; legacy: Buffer } {
  const modernText = goMarshalPayload(p, MODERN_GO);
  const legacyText = goMarshalPayload(p, LEGACY_GO);
  const modern = Buffer.from(modernText, 'utf8');
  // Only U+0008/U+000C render differently; share the buffer when neither occurs.
  const legacy = legacyText === modernText ? modern : Buffer.from(legacyText, 'utf8');
  return { modern, legacy };
}

/** Parses a bare payload JSON text (no envelope), e.g. a `body` from the signing vectors. */
export function parseJobPayload(text: string): JobPayload {
  return narrowPayload(parseBody(text), 'payload');
}

/** Parses and narrows a full submission body; throws RejectionError (INVALID_JSON / INVALID_PAYLOAD). */
export function parseSignedJob(text: string): SignedJob {
  const envelope = closedObject(parseBody(text), 'body', ENVELOPE_KEYS);
  const payload = narrowPayload(envelope.get('payload'), 'payload');
  const sig = closedObject(envelope.get('signature'), 'signature', SIGNATURE_KEYS);
  const algorithm = sig.get('algorithm');
  if (algorithm === undefined) throw invalid('signature.algorithm', 'is required');
  if (algorithm !== SIGNATURE_ALGORITHM) throw invalid('signature.algorithm', `must be "${SIGNATURE_ALGORITHM}"`);
  const signatureHex = sig.get('signature');
  if (signatureHex === undefined) throw invalid('signature.signature', 'is required');
  if (typeof signatureHex !== 'string' || !SIGNATURE_HEX_RE.test(signatureHex)) {
    throw invalid('signature.signature', 'must be 64 lowercase hex characters');
  }
  return { payload, signatureHex, algorithm: SIGNATURE_ALGORITHM, canonical: canonicalVariants(payload) };
}
