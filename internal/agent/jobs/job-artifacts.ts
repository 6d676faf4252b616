/**
 * Where a job's files meet the job manager (SPEC §12): the sandbox request gains the stored
 * inputs and the artifact plan; after the run, the collection becomes result fields, audit
 * details and stored rows. Jobs without files and artifacts pass through unchanged.
 */
import type { ArtifactCollection, SandboxHandle, SandboxSpec } from '../../sandbox/sandbox.js';
import type { AgentConfig } from '../config/config.js';
import type { JobStore } from './job-store.js';
import type { JobRecord, JobSpec, StoredResult } from './job.js';

type ArtifactFields = Pick<StoredResult, 'artifacts' | 'artifacts_skipped' | 'artifacts_truncated' | 'artifacts_error'>;

/** The sandbox request of a job with its inputs (read from the store) and artifact plan. */
export function withJobFiles(spec: SandboxSpec, rec: JobRecord, store: JobStore, cfg: AgentConfig): SandboxSpec {
  const inputs = (rec.spec.files?.length ?? 0) > 0;
  const artifacts = rec.spec.artifacts ?? [];
  if (!inputs && artifacts.length === 0) return spec;
  return {
    ...spec,
    files: inputs ? store.files.inputs(rec.jobId) : [],
    artifacts,
    artifactLimits: { maxFiles: cfg.max_artifact_files, maxBytes: cfg.max_artifact_bytes },
  };
}

/** The collection of a finished run, or null when the job asked for no artifacts. */
export async function collectedArtifacts(handle: SandboxHandle, spec: JobSpec): Promise<ArtifactCollection | null> {
  if ((spec.artifacts?.length ?? 0) === 0) return null;
  if (handle.artifacts === undefined) return { files: [], skipped: [], truncated: false, error: 'this container could not give back artifacts' };
  return handle.artifacts();
}

/** Result fields of a job that asked for artifacts (none otherwise, so other results keep their shape). */
export function artifactFields(spec: JobSpec, c: ArtifactCollection | null): ArtifactFields {
  if ((spec.artifacts?.length ?? 0) === 0) return {};
  const got = c ?? { files: [], skipped: [], truncated: false, error: 'the command did not run' };
  return {
    artifacts: got.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
    artifacts_skipped: got.skipped,
    artifacts_truncated: got.truncated,
    artifacts_error: got.error,
  };
}

/** job.finished details of the artifacts (path, size, SHA-256 of each), or none. */
export function artifactAudit(fields: ArtifactFields): Record<string, unknown> {
  if (fields.artifacts === undefined) return {};
  return { artifacts: fields.artifacts, artifacts_skipped: fields.artifacts_skipped, artifacts_truncated: fields.artifacts_truncated, artifacts_error: fields.artifacts_error };
}
