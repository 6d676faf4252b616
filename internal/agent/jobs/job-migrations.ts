/**
 * The job store's tables in the agent database, one SQL script per version of the `jobs`
 * owner (applied by internal/shared/schema-migrations.ts). Never edit a released entry:
 * append a new one.
 */
import type { OwnedMigrations } from '../../shared/schema-migrations.js';

/** Accepted ids, jobs, their output, input files and artifacts. */
export const JOB_MIGRATIONS: OwnedMigrations = {
  owner: 'jobs',
  steps: [
    `
  -- Every job id ever accepted: replay protection that survives restarts and job pruning.
  CREATE TABLE accepted_job_ids (
    job_id        TEXT PRIMARY KEY,
    controller_id TEXT    NOT NULL,
    accepted_at   INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Jobs and their results (pruned after job_retention_seconds).
  CREATE TABLE jobs (
    job_id        TEXT PRIMARY KEY,
    controller_id TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    spec          TEXT    NOT NULL,
    queue_seq     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    sandbox_id    TEXT,
    result        TEXT
  );
  CREATE INDEX jobs_status ON jobs(status, queue_seq);

  -- Output frames of each job, in order; the stream server replays these.
  CREATE TABLE job_output (
    job_id  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    ts      INTEGER NOT NULL,
    stream  TEXT    NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (job_id, seq)
  ) WITHOUT ROWID;
  `,
    `
  -- The job list (GET /api/v1/jobs): newest first, overall and per controller.
  CREATE INDEX jobs_created ON jobs(created_at, queue_seq);
  CREATE INDEX jobs_controller_created ON jobs(controller_id, created_at, queue_seq);
  -- The last fire of a schedule survives job pruning through its accepted id.
  CREATE INDEX accepted_job_ids_controller ON accepted_job_ids(controller_id, job_id);
  `,
    `
  -- Input files of a job (SPEC §12), kept until it runs; deleted when it finishes or is pruned.
  CREATE TABLE job_inputs (
    job_id  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    path    TEXT    NOT NULL,
    mode    INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (job_id, seq)
  ) WITHOUT ROWID;

  -- Artifacts collected from a finished job (SPEC §12), pruned with the job.
  CREATE TABLE job_artifacts (
    job_id  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    path    TEXT    NOT NULL,
    size    INTEGER NOT NULL,
    sha256  TEXT    NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (job_id, seq)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX job_artifacts_path ON job_artifacts(job_id, path);
  `,
  ],
};
