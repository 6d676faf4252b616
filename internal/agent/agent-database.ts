/**
 * The agent's database: the one SQLite file opened with every owner's tables (audit chain,
 * jobs and their files, schedules), each migrated by its own list.
 */
import { openDatabase, type Db } from '../audit/database.js';
import { AUDIT_MIGRATIONS } from '../audit/audit-migrations.js';
import type { OwnedMigrations } from '../shared/schema-migrations.js';
import { JOB_MIGRATIONS } from './jobs/job-migrations.js';
import { SCHEDULE_MIGRATIONS } from './jobs/schedule-migrations.js';

/** Every owner of a table in the agent database, in the order their steps are applied. */
export const AGENT_MIGRATIONS: readonly OwnedMigrations[] = [AUDIT_MIGRATIONS, JOB_MIGRATIONS, SCHEDULE_MIGRATIONS];

/** Open (creating if needed) the agent database at `file` with all of its tables up to date. */
export function openAgentDatabase(file: string): Db {
  return openDatabase(file, { migrations: AGENT_MIGRATIONS });
}
