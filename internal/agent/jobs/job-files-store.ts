/**
 * SQLite persistence of a job's input files and collected artifacts (SPEC §12), in the
 * agent database next to the job: inputs are written with the job's acceptance, artifacts
 * with its result, and both are pruned with the job (JobStore.prune).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../../audit/database.js';
import type { CollectedArtifact, InputFile } from '../../sandbox/sandbox.js';
import type { ArtifactEntry } from './job.js';

/** One stored artifact with its bytes. */
export interface StoredArtifact extends ArtifactEntry {
  readonly data: Buffer;
}

/** Prepared statements over job_inputs and job_artifacts. */
export class JobFilesStore {
  private readonly s: {
    insertInput: Statement<[string, number, string, number, Buffer]>;
    inputs: Statement<[string]>;
    insertArtifact: Statement<[string, number, string, number, string, Buffer]>;
    artifactList: Statement<[string]>;
    artifact: Statement<[string, string]>;
    artifactPage: Statement<[string, number, number]>;
    pruneInputs: Statement<[number]>;
    pruneArtifacts: Statement<[number]>;
    dropInputs: Statement<[string]>;
  };

  constructor(db: Db) {
    const finished = "SELECT job_id FROM jobs WHERE status NOT IN ('pending','running') AND updated_at < ?";
    this.s = {
      insertInput: db.prepare('INSERT INTO job_inputs (job_id, seq, path, mode, data) VALUES (?, ?, ?, ?, ?)'),
      inputs: db.prepare('SELECT path, mode, data FROM job_inputs WHERE job_id = ? ORDER BY seq'),
      insertArtifact: db.prepare('INSERT INTO job_artifacts (job_id, seq, path, size, sha256, data) VALUES (?, ?, ?, ?, ?, ?)'),
      artifactList: db.prepare('SELECT path, size, sha256 FROM job_artifacts WHERE job_id = ? ORDER BY seq'),
      artifact: db.prepare('SELECT path, size, sha256, data FROM job_artifacts WHERE job_id = ? AND path = ?'),
      artifactPage: db.prepare('SELECT seq, path, size, sha256, data FROM job_artifacts WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      pruneInputs: db.prepare(`DELETE FROM job_inputs WHERE job_id IN (${finished})`),
      pruneArtifacts: db.prepare(`DELETE FROM job_artifacts WHERE job_id IN (${finished})`),
      dropInputs: db.prepare('DELETE FROM job_inputs WHERE job_id = ?'),
    };
  }

  /** Store a new job's inputs (inside the acceptance transaction). */
  insertInputs(jobId: string, files: readonly InputFile[]): void {
    files.forEach((f, i) => this.s.insertInput.run(jobId, i, f.path, f.mode, f.content));
  }

  /** A job's inputs, in the order sent. */
  inputs(jobId: string): InputFile[] {
    return (this.s.inputs.all(jobId) as { path: string; mode: number; data: Buffer }[]).map((r) => ({ path: r.path, mode: r.mode, content: r.data }));
  }

  /** Store a finished job's artifacts and drop its inputs (inside the finishing transaction). */
  finish(jobId: string, artifacts: readonly CollectedArtifact[]): void {
    artifacts.forEach((a, i) => this.s.insertArtifact.run(jobId, i + 1, a.path, a.size, a.sha256, a.data));
    this.s.dropInputs.run(jobId);
  }

  /** The artifact list of a job (no bytes). */
  list(jobId: string): ArtifactEntry[] {
    return this.s.artifactList.all(jobId) as ArtifactEntry[];
  }

  /** One artifact with its bytes, or null. */
  get(jobId: string, path: string): StoredArtifact | null {
    return (this.s.artifact.get(jobId, path) as StoredArtifact | undefined) ?? null;
  }

  /** Artifacts with bytes after `afterSeq`, paged so a tar of them is built with bounded memory. */
  page(jobId: string, afterSeq: number, limit: number): Array<StoredArtifact & { seq: number }> {
    return this.s.artifactPage.all(jobId, afterSeq, limit) as Array<StoredArtifact & { seq: number }>;
  }

  /** Delete inputs and artifacts of finished jobs last updated before `beforeMs` (called by JobStore.prune). */
  prune(beforeMs: number): void {
    this.s.pruneInputs.run(beforeMs);
    this.s.pruneArtifacts.run(beforeMs);
  }
}
