/**
 * One runner for a SQLite file whose tables belong to several modules: each owner brings
 * its own ordered list of SQL steps and the file records, per owner, how many it has applied
 * (table `schema_versions`). Before per-owner versions the file had one `PRAGMA user_version`
 * over one shared list; a `LegacySchema` says what each of those versions held, so a file made
 * then is adopted without re-running anything. Lives under internal/shared (imports nothing
 * of the project) so the audit log opens the file without knowing the agent's owners.
 */
import type Database from 'better-sqlite3';

/** One owner's schema: step i brings it from version i to i+1. Never edit a released step: append one. */
export interface OwnedMigrations {
  /** Recorded in schema_versions; never renamed. */
  readonly owner: string;
  readonly steps: readonly string[];
}

/**
 * The file's history under one user_version: entry n is each owner's version in a file
 * at user_version n (entry 0 is an empty file). The last entry is the newest such schema.
 */
export type LegacySchema = readonly Readonly<Record<string, number>>[];

/** Thrown when the file holds a schema newer than this build knows; the file is left untouched. */
export class NewerSchemaError extends Error {
  override readonly name = 'NewerSchemaError';
}

type Db = Database.Database;

const VERSIONS_TABLE = `CREATE TABLE schema_versions (
    owner   TEXT    PRIMARY KEY,
    version INTEGER NOT NULL
  ) WITHOUT ROWID`;

/**
 * Bring every listed owner up to date, in list order (an owner's steps touch only its own
 * tables, so the order between owners does not matter). Each step runs in its own immediate
 * transaction that re-reads the version first, so two processes opening one file never apply
 * a step twice. Owners recorded in the file but not listed are left as they are.
 */
export function applyMigrations(db: Db, lists: readonly OwnedMigrations[], legacy: LegacySchema): void {
  const seen = new Set<string>();
  for (const l of lists) {
    if (seen.has(l.owner)) throw new Error(`migration owner ${l.owner} is listed twice`);
    seen.add(l.owner);
  }
  db.transaction(() => adoptLegacy(db, legacy)).immediate();
  const read = db.prepare<[string], { version: number }>('SELECT version FROM schema_versions WHERE owner = ?');
  const write = db.prepare<[string, number]>(
    'INSERT INTO schema_versions (owner, version) VALUES (?, ?) ON CONFLICT(owner) DO UPDATE SET version = excluded.version',
  );
  const versionOf = (owner: string): number => read.get(owner)?.version ?? 0;
  for (const list of lists) {
    const known = list.steps.length;
    const at = versionOf(list.owner);
    if (at > known) {
      throw new NewerSchemaError(`database schema of ${list.owner} is at version ${at}, newer than this agent (${known}); refusing to run an older agent on it`);
    }
    for (let v = at; v < known; v++) {
      db.transaction(() => {
        if (versionOf(list.owner) !== v) return;
        db.exec(list.steps[v] ?? '');
        write.run(list.owner, v + 1);
      }).immediate();
    }
  }
  db.transaction(() => markForLegacyReaders(db, legacy)).immediate();
}

/** A file without schema_versions: record what its user_version held (nothing for a new file). */
function adoptLegacy(db: Db, legacy: LegacySchema): void {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'").get() !== undefined;
  if (exists) return;
  const last = legacy.length - 1;
  const uv = Number(db.pragma('user_version', { simple: true }));
  const held = legacy[uv];
  if (held === undefined) {
    throw new NewerSchemaError(`database schema version ${uv} is newer than this agent (${last}); refusing to run an older agent on it`);
  }
  db.exec(VERSIONS_TABLE);
  const insert = db.prepare<[string, number]>('INSERT INTO schema_versions (owner, version) VALUES (?, ?)');
  for (const [owner, version] of Object.entries(held)) insert.run(owner, version);
}

/**
 * user_version for a build that knows only the shared list: the legacy version whose schema
 * the file holds exactly (such a build may still open it, and upgrade it as it did), one past
 * the newest once any owner has moved on (such a build then refuses, as it refuses any newer
 * schema).
 */
function markForLegacyReaders(db: Db, legacy: LegacySchema): void {
  const rows = db.prepare<[], { owner: string; version: number }>('SELECT owner, version FROM schema_versions').all();
  const holds = (v: Readonly<Record<string, number>>): boolean =>
    rows.length === Object.keys(v).length && rows.every((r) => v[r.owner] === r.version);
  let want = legacy.length;
  for (let n = legacy.length - 1; n >= 0; n--) {
    const v = legacy[n];
    if (v !== undefined && holds(v)) {
      want = n;
      break;
    }
  }
  if (Number(db.pragma('user_version', { simple: true })) !== want) db.pragma(`user_version = ${want}`);
}
