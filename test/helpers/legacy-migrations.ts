/**
 * The agent database's schema as the code before per-owner migrations made it: one shared
 * list keyed on PRAGMA user_version (internal/audit/migrations.ts and database.ts `migrate`
 * as of commit a32d6da, verbatim). Upgrade tests build files with it.
 */
import type Database from 'better-sqlite3';

export const LEGACY_MIGRATIONS: readonly string[] = [
  `
  -- Append-only, hash-chained audit events (SPEC §7).
  CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY,
    ts            TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    job_id        TEXT,
    controller_id TEXT,
    remote_addr   TEXT,
    details       TEXT    NOT NULL,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL
  );
  CREATE INDEX audit_events_job ON audit_events(job_id);
  CREATE INDEX audit_events_ts ON audit_events(ts);
  CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
  CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

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

  -- Small key/value facts about this agent (its id, for container labels).
  CREATE TABLE agent_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- The job list (GET /api/v1/jobs): newest first, overall and per controller.
  CREATE INDEX jobs_created ON jobs(created_at, queue_seq);
  CREATE INDEX jobs_controller_created ON jobs(controller_id, created_at, queue_seq);
  -- The last fire of a schedule survives job pruning through its accepted id.
  CREATE INDEX accepted_job_ids_controller ON accepted_job_ids(controller_id, job_id);

  -- Per schedule: the last fire instant considered (fired, skipped or missed) and counts,
  -- so a restart neither fires an instant twice nor reports one twice.
  CREATE TABLE schedule_state (
    name          TEXT PRIMARY KEY,
    last_instant  INTEGER NOT NULL,
    skipped       INTEGER NOT NULL DEFAULT 0,
    missed        INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
  ) WITHOUT ROWID;
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
];

/** The old runner: every script newer than user_version, each in its own transaction. */
export function legacyMigrate(db: Database.Database, upTo = LEGACY_MIGRATIONS.length): void {
  const current = Number(db.pragma('user_version', { simple: true }));
  if (current > LEGACY_MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this agent (${LEGACY_MIGRATIONS.length}); refusing to run an older agent on it`);
  }
  for (let v = current; v < upTo; v++) {
    const sql = LEGACY_MIGRATIONS[v];
    db.transaction(() => {
      db.exec(sql ?? '');
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
