/**
 * The controller side of files and artifacts (SPEC §12): `--file LOCAL[:REMOTE]` read into
 * signed `candidate_metadata.files`, `--artifact PATH` into `candidate_metadata.artifacts`,
 * and `--download DIR`, which writes each collected artifact under DIR (fan-out:
 * DIR/<agent>/) only after its size and SHA-256 match the result, and never outside DIR:
 * every name is checked, no existing component on the way may be a symlink, and each file
 * is written to a fresh temporary name and renamed into place (a planted symlink is
 * replaced, never followed).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathProblem } from '../agent/wire/workspace-path.js';
import { ControllerError, SettingsError } from './controller-error.js';
import type { OutStream } from './render.js';

/** One input file as it is signed. */
export interface FileArg {
  readonly path: string;
  readonly content_base64: string;
  readonly mode: '0644' | '0755';
}

/** One artifact as the result lists it. */
export interface ArtifactInfo {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** One downloaded artifact (the `?encoding=base64` answer). */
export interface ArtifactDownload extends ArtifactInfo {
  readonly data: Buffer;
}

/** What `--download` needs from a connection to one agent. */
export interface ArtifactSource {
  readonly name: string;
  artifact(jobId: string, path: string): Promise<ArtifactDownload>;
}

/** Size above which a terminal gets a progress line. */
export const PROGRESS_BYTES = 1024 * 1024;

/** `--file LOCAL[:REMOTE]` (repeatable): REMOTE defaults to LOCAL's base name; executable files get 0755. */
export function parseFiles(items: readonly string[], cwd: string = process.cwd()): FileArg[] {
  return items.map((item) => {
    // The last ':' splits, so a local path may contain one; REMOTE never can.
    const colon = item.lastIndexOf(':');
    const local = colon > 0 ? item.slice(0, colon) : item;
    const remote = colon > 0 ? item.slice(colon + 1) : path.basename(item);
    const why = pathProblem(remote);
    if (why !== null) throw new SettingsError(`--file ${JSON.stringify(item)}: remote path ${JSON.stringify(remote)} ${why}`);
    let st: fs.Stats;
    let data: Buffer;
    try {
      st = fs.statSync(path.resolve(cwd, local));
      if (!st.isFile()) throw new Error('not a regular file');
      data = fs.readFileSync(path.resolve(cwd, local));
    } catch (e) {
      throw new SettingsError(`--file ${JSON.stringify(item)}: cannot read ${JSON.stringify(local)}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return { path: remote, content_base64: data.toString('base64'), mode: (st.mode & 0o111) !== 0 ? '0755' : '0644' };
  });
}

/** `--artifact PATH` (repeatable), checked like the agent checks it. */
export function parseArtifacts(items: readonly string[]): string[] {
  for (const p of items) {
    const why = pathProblem(p);
    if (why !== null) throw new SettingsError(`--artifact ${JSON.stringify(p)}: ${why}`);
  }
  return [...items];
}

/** The relative name of an artifact as it may be written on this machine, or null. */
export function safeRelative(name: string): string | null {
  if (name === '' || name.startsWith('/') || name.includes('\\') || /[\u0000-\u001f\u007f]/.test(name)) return null;
  const parts = name.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return null;
  return parts.join(path.sep);
}

/** Creates DIR/rel's parent directories, refusing any existing component that is not a real directory. */
function prepareParents(root: string, rel: string): void {
  const parts = rel.split(path.sep).slice(0, -1);
  let at = root;
  for (const p of parts) {
    at = path.join(at, p);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(at);
    } catch {
      fs.mkdirSync(at, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink() || !st.isDirectory()) throw new Error(`${at} exists and is not a directory (a symlink is never followed)`);
  }
}

/** Writes one checked artifact under `root`; returns where. Throws on any check that fails. */
export function writeArtifact(root: string, a: ArtifactInfo, got: ArtifactDownload): string {
  if (got.path !== a.path) throw new Error(`asked for ${a.path}, got ${got.path}`);
  if (got.data.length !== a.size) throw new Error(`${a.path}: ${got.data.length} bytes, the result says ${a.size}`);
  const sum = crypto.createHash('sha256').update(got.data).digest('hex');
  if (sum !== a.sha256 || got.sha256 !== a.sha256) throw new Error(`${a.path}: SHA-256 ${sum} does not match the result's ${a.sha256}`);
  const rel = safeRelative(a.path);
  if (rel === null) throw new Error(`${JSON.stringify(a.path)} is not a safe relative name`);
  const target = path.resolve(root, rel);
  if (!target.startsWith(root + path.sep)) throw new Error(`${a.path} would be written outside ${root}`);
  prepareParents(root, rel);
  const tmp = path.join(path.dirname(target), `.quickcmd-${crypto.randomBytes(6).toString('hex')}.tmp`);
  fs.writeFileSync(tmp, got.data, { flag: 'wx', mode: 0o644 });
  fs.renameSync(tmp, target);
  return target;
}

/**
 * Downloads every listed artifact into `dir` (created if missing). Returns how many were
 * written; throws ControllerError on the first that cannot be fetched or checked.
 */
export async function downloadArtifacts(src: ArtifactSource, jobId: string, list: readonly ArtifactInfo[], dir: string, stderr: OutStream): Promise<number> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const root = fs.realpathSync(dir);
  const total = list.reduce((n, a) => n + a.size, 0);
  const progress = stderr.isTTY === true && total > PROGRESS_BYTES;
  let done = 0;
  let n = 0;
  for (const a of list) {
    const got = await src.artifact(jobId, a.path);
    try {
      writeArtifact(root, a, got);
    } catch (e) {
      if (progress) stderr.write('\r\x1b[K');
      throw new ControllerError(src.name, 'ARTIFACT_REFUSED', `artifact not written: ${e instanceof Error ? e.message : String(e)}`);
    }
    n++;
    done += a.size;
    if (progress) stderr.write(`\r\x1b[K${src.name}: artifacts ${n}/${list.length}, ${(done / 1048576).toFixed(1)}/${(total / 1048576).toFixed(1)} MiB`);
  }
  if (progress) stderr.write('\r\x1b[K');
  return n;
}

/** Narrows an `?encoding=base64` answer. */
export function parseArtifactReply(agent: string, text: string): ArtifactDownload {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    v = null;
  }
  const o = v as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object' || typeof o['path'] !== 'string' || typeof o['size'] !== 'number' || typeof o['sha256'] !== 'string' || typeof o['content_base64'] !== 'string') {
    throw new ControllerError(agent, 'BAD_RESPONSE', 'artifact download: unexpected answer');
  }
  return { path: o['path'], size: o['size'], sha256: o['sha256'], data: Buffer.from(o['content_base64'], 'base64') };
}

/** The path of one artifact's JSON download. */
export function artifactPath(jobId: string, p: string): string {
  return `/api/v1/jobs/${encodeURIComponent(jobId)}/artifacts/${p.split('/').map(encodeURIComponent).join('/')}?encoding=base64`;
}

/** The artifact fields of a result (absent when the agent sent none); entries of another shape are dropped. */
export function narrowArtifactFields(r: Record<string, unknown>): Pick<JobResultArtifacts, 'artifacts' | 'artifacts_skipped' | 'artifacts_truncated' | 'artifacts_error'> {
  if (!Array.isArray(r['artifacts'])) return {};
  const isRec = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const artifacts = (r['artifacts'] as unknown[]).filter(isRec).flatMap((a) =>
    typeof a['path'] === 'string' && typeof a['size'] === 'number' && Number.isSafeInteger(a['size']) && a['size'] >= 0 && typeof a['sha256'] === 'string' && /^[0-9a-f]{64}$/.test(a['sha256'])
      ? [{ path: a['path'], size: a['size'], sha256: a['sha256'] }]
      : [],
  );
  const skipped = Array.isArray(r['artifacts_skipped'])
    ? (r['artifacts_skipped'] as unknown[]).filter(isRec).flatMap((s) => (typeof s['path'] === 'string' && typeof s['reason'] === 'string' ? [{ path: s['path'], reason: s['reason'] }] : []))
    : [];
  return {
    artifacts,
    artifacts_skipped: skipped,
    artifacts_truncated: r['artifacts_truncated'] === true,
    artifacts_error: typeof r['artifacts_error'] === 'string' ? r['artifacts_error'] : null,
  };
}

/** The artifact fields of the controller's JobResult. */
interface JobResultArtifacts {
  readonly artifacts?: readonly ArtifactInfo[];
  readonly artifacts_skipped?: readonly { readonly path: string; readonly reason: string }[];
  readonly artifacts_truncated?: boolean;
  readonly artifacts_error?: string | null;
}
