/**
 * Opens the agent's one SQLite file (audit chain, jobs, outputs, accepted ids): created
 * 0600 before SQLite touches it, WAL journal, schema brought up to date by migrations
 * keyed on `PRAGMA user_version`.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

/** A better-sqlite3 connection. */
export type Db = Database.Database;

/** Options for opening the database. */
export interface OpenOptions {
  /** Open read-only (CLI on a live agent's database); no migration runs. */
  readonly?: boolean;
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
  migrate(db);
  for (const suffix of ['-wal', '-shm']) {
    try {
      fs.chmodSync(file + suffix, 0o600);
    } catch {
      // The side files appear lazily; SQLite creates them with the main file's mode.
    }
  }
  return db;
}

/** Apply every migration newer than the file's user_version, each in its own transaction. */
export function migrate(db: Db): void {
  const current = Number(db.pragma('user_version', { simple: true }));
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this agent (${MIGRATIONS.length}); refusing to run an older agent on it`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v];
    db.transaction(() => {
      db.exec(sql ?? '');
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
