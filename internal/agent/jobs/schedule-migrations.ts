/**
 * The schedule store's table in the agent database (SPEC §13), one SQL script per version
 * of the `schedules` owner (applied by internal/shared/schema-migrations.ts). Never edit a
 * released entry: append a new one.
 */
import type { OwnedMigrations } from '../../shared/schema-migrations.js';

/** Per-schedule fire state. */
export const SCHEDULE_MIGRATIONS: OwnedMigrations = {
  owner: 'schedules',
  steps: [
    `
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
  ],
};
