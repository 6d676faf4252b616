/**
 * Pure: `candidate_metadata.files` and `candidate_metadata.artifacts` of a verified payload
 * (SPEC §12), checked before anything is created. A malformed entry or path is 400
 * INVALID_PAYLOAD naming it; more than the config allows is 403 LIMIT_EXCEEDED.
 */
import crypto from 'node:crypto';
import type { AgentConfig } from '../config/config.js';
import { RejectionError } from '../errors.js';
import type { InputMeta, JobSpec } from '../jobs/job.js';
import type { JobPayload } from '../wire/payload.js';
import { pathProblem } from '../wire/workspace-path.js';

export { MAX_PATH_DEPTH, pathProblem } from '../wire/workspace-path.js';

/** Most artifact paths one job may ask for. */
export const MAX_ARTIFACT_PATHS = 64;
const FILE_KEYS = new Set(['path', 'content_base64', 'mode']);
const MODES: Readonly<Record<string, number>> = { '0644': 0o644, '0755': 0o755 };
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** One input file with its content, ready for the job store and the sandbox. */
export interface InputFileContent {
  readonly path: string;
  readonly mode: number;
  readonly content: Buffer;
}

/** The files part of a job. */
export interface JobFiles {
  readonly inputs: readonly InputFileContent[];
  /** Stored in the job spec (no content). */
  readonly inputMeta: readonly InputMeta[];
  readonly artifacts: readonly string[];
}

type Limits = Pick<AgentConfig, 'max_input_files' | 'max_input_bytes'>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shown(v: string): string {
  return JSON.stringify(v.length > 120 ? `${v.slice(0, 120)}…` : v);
}

function bad(field: string, why: string): RejectionError {
  return new RejectionError('INVALID_PAYLOAD', `payload.candidate_metadata.${field} ${why}`);
}

/** Checks one list of paths: rules, then no two equal ignoring case, and (for inputs) no file inside another. */
function checkPaths(paths: readonly string[], field: string, nested: boolean): void {
  const seen = new Map<string, number>();
  paths.forEach((p, i) => {
    const why = pathProblem(p);
    if (why !== null) throw bad(`${field}[${i}]`, `path ${shown(p)} ${why}`);
    const key = p.toLowerCase();
    const j = seen.get(key);
    if (j !== undefined) throw bad(`${field}[${i}]`, `path ${shown(p)} equals ${field}[${j}] ignoring case`);
    seen.set(key, i);
  });
  if (!nested) return;
  paths.forEach((p, i) => {
    const parts = p.toLowerCase().split('/');
    for (let k = 1; k < parts.length; k++) {
      const j = seen.get(parts.slice(0, k).join('/'));
      if (j !== undefined) throw bad(`${field}[${i}]`, `path ${shown(p)} lies inside the file ${field}[${j}]`);
    }
  });
}

function parseInputs(raw: unknown, limits: Limits): InputFileContent[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw bad('files', 'must be a list of {path, content_base64, mode}');
  const out: InputFileContent[] = [];
  raw.forEach((entry: unknown, i) => {
    const f = `files[${i}]`;
    if (!isRecord(entry)) throw bad(f, 'must be an object {path, content_base64, mode}');
    for (const k of Object.keys(entry)) if (!FILE_KEYS.has(k)) throw bad(`${f}.${shown(k)}`, 'is not a known field');
    const path = entry['path'];
    if (typeof path !== 'string') throw bad(`${f}.path`, 'must be a string');
    const why = pathProblem(path);
    if (why !== null) throw bad(`${f}.path`, `${shown(path)} ${why}`);
    const mode = entry['mode'] ?? '0644';
    if (typeof mode !== 'string' || MODES[mode] === undefined) throw bad(`${f}.mode`, `of ${shown(path)} must be "0644" or "0755"`);
    const b64 = entry['content_base64'];
    if (typeof b64 !== 'string') throw bad(`${f}.content_base64`, `of ${shown(path)} must be a string`);
    if (!BASE64.test(b64)) throw bad(`${f}.content_base64`, `of ${shown(path)} is not valid base64`);
    out.push({ path, mode: MODES[mode] as number, content: Buffer.from(b64, 'base64') });
  });
  checkPaths(out.map((x) => x.path), 'files', true);
  if (out.length > limits.max_input_files) {
    throw new RejectionError('LIMIT_EXCEEDED', `${out.length} input files exceed max_input_files ${limits.max_input_files}`);
  }
  const total = out.reduce((n, x) => n + x.content.length, 0);
  if (total > limits.max_input_bytes) {
    const biggest = out.reduce((a, b) => (b.content.length > a.content.length ? b : a));
    throw new RejectionError('LIMIT_EXCEEDED', `input files total ${total} bytes, more than max_input_bytes ${limits.max_input_bytes} (largest: ${shown(biggest.path)}, ${biggest.content.length} bytes)`);
  }
  return out;
}

function parseArtifacts(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw bad('artifacts', 'must be a list of paths');
  const paths = raw.map((p: unknown, i) => {
    if (typeof p !== 'string') throw bad(`artifacts[${i}]`, 'must be a string');
    return p;
  });
  checkPaths(paths, 'artifacts', false);
  if (paths.length > MAX_ARTIFACT_PATHS) throw new RejectionError('LIMIT_EXCEEDED', `${paths.length} artifact paths exceed the maximum ${MAX_ARTIFACT_PATHS}`);
  return paths;
}

/** The files and artifacts of a payload under `limits`; throws RejectionError. */
export function jobFilesFor(p: JobPayload, limits: Limits): JobFiles {
  const inputs = parseInputs(p.candidateMetadata?.['files'], limits);
  const artifacts = parseArtifacts(p.candidateMetadata?.['artifacts']);
  const inputMeta = inputs.map((f): InputMeta => ({
    path: f.path,
    mode: f.mode === 0o755 ? '0755' : '0644',
    size: f.content.length,
    sha256: crypto.createHash('sha256').update(f.content).digest('hex'),
  }));
  return { inputs, inputMeta, artifacts };
}

/** The job spec with its files' metadata and artifact paths (unchanged when there are none). */
export function withFiles(spec: JobSpec, files: JobFiles): JobSpec {
  if (files.inputMeta.length === 0 && files.artifacts.length === 0) return spec;
  return { ...spec, files: files.inputMeta, artifacts: files.artifacts };
}

/** job.accepted details: each input's path, mode, size and SHA-256, and the artifact paths (none when empty). */
export function filesAudit(files: JobFiles): Record<string, unknown> {
  return {
    ...(files.inputMeta.length > 0 ? { inputs: files.inputMeta } : {}),
    ...(files.artifacts.length > 0 ? { artifacts: files.artifacts } : {}),
  };
}
