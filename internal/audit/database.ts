/**
 * Opens the agent's one SQLite file (audit chain, jobs, outputs, accepted ids): created
 * 0600 before SQLite touches it, WAL journal, each owner's tables brought up to date by its
 * own migration list (the audit's unless told otherwise; the agent passes all of its owners,
 * internal/agent/agent-database.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { applyMigrations, type OwnedMigrations } from '../shared/schema-migrations.js';
import { AUDIT_MIGRATIONS, LEGACY_SCHEMA } from './audit-migrations.js';

/** A better-sqlite3 connection. */
export type Db = Database.Database;

/** Options for opening the database. */
export interface OpenOptions {
  /** Open read-only (CLI on a live agent's database); no migration runs. */
  readonly?: boolean;
  /** The owners whose tables to bring up to date, in order; default the audit's alone. */
  migrations?: readonly OwnedMigrations[];
}

/** Open (creating if needed) and migrate the database at `file`. */
export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  if (opts.readonly) {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    return db;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Create the file with 0600 ourselves so there is no moment where SQLite's umask-based
  // mode could expose it; 'a' never truncates an existing database.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  fs.chmodSync(file, 0o600);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode survives a process kill (only an OS crash can lose the last commits).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // Checkpoint every ~16 MiB of WAL instead of 4 MiB: fewer fsyncs on the output hot path.
  db.pragma('wal_autocheckpoint = 4000');
  db.pragma('foreign_keys = ON');
  migrate(db, opts.migrations ?? [AUDIT_MIGRATIONS]);
  for (const suffix of ['-wal', '-shm']) {
    try {
      fs.chmodSync(file + suffix, 0o600);
    } catch {
      // The side files appear lazily; SQLite creates them with the main file's mode.
    }
  }
  return db;
}

/**
 * Apply every listed owner's steps newer than its recorded version; a file made before
 * per-owner versions is adopted from its user_version (LEGACY_SCHEMA) without re-running any.
 */
export function migrate(db: Db, migrations: readonly OwnedMigrations[]): void {
  applyMigrations(db, migrations, LEGACY_SCHEMA);
}
