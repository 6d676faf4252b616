/**
 * The audit log's tables in the agent database (SPEC §7), one SQL script per version of the
 * `audit` owner (applied by internal/shared/schema-migrations.ts). Never edit a released
 * entry: append a new one.
 */
import type { OwnedMigrations } from '../shared/schema-migrations.js';

/** Audit chain and the file's key/value facts (the audit store's write probe lives there). */
export const AUDIT_MIGRATIONS: OwnedMigrations = {
  owner: 'audit',
  steps: [
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

  -- Small key/value facts about this agent (its id, for container labels).
  CREATE TABLE agent_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  ],
};

/**
 * What the file held under one user_version, before each owner had its own versions:
 * 1 the first release, 2 job list and schedules, 3 job files. The owners named here are
 * the audit's and those of internal/agent/jobs (job-migrations.ts, schedule-migrations.ts).
 */
export const LEGACY_SCHEMA = [
  {},
  { audit: 1, jobs: 1 },
  { audit: 1, jobs: 2, schedules: 1 },
  { audit: 1, jobs: 3, schedules: 1 },
] as const satisfies readonly Readonly<Record<string, number>>[];
