/**
 * `quickcmd audit verify | list | export`: read-only views of the agent's audit database,
 * safe to run against a live agent (the file is opened read-only; WAL readers never block
 * the writer). Exit codes via process.exitCode: 0 ok, 1 tampered or runtime failure,
 * 2 usage (bad flag value, unknown option).
 */
import fs from 'node:fs';
import { Command, type ErrorOptions } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { AuditEventType, AuditRecord } from './audit-log.js';
import { openDatabase, type Db } from './database.js';
import { queryEvents, type AuditFilter } from './query.js';
import { verifyChain } from './verify.js';

/** Where the agent keeps its database unless the config says otherwise (config-schema default). */
export const DEFAULT_AUDIT_DB_PATH = '/var/lib/quickcmd/agent-audit.db';

/** A writable stream as the CLI uses it; process.stdout and process.stderr fit. */
export interface CliOutput {
  write(chunk: string): boolean;
  once?(event: 'drain', listener: () => void): unknown;
}

/** Where the audit commands write. */
export interface AuditCliIo {
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
}

const EVENT_TYPES: Record<AuditEventType, true> = {
  'agent.started': true,
  'agent.stopped': true,
  'config.reloaded': true,
  'broker.connected': true,
  'job.rejected': true,
  'job.accepted': true,
  'job.started': true,
  'job.finished': true,
  'job.cancelled': true,
  'request.unauthenticated': true,
  'requests.coalesced': true,
  'request.rejected': true,
  'schedule.skipped': true,
  'schedule.missed': true,
};

/** A bad flag value: reported with the flag's name, exit 2. */
class UsageError extends Error {}

/** Commander's own parse errors (unknown option, missing value) exit 2 here, not 1. */
class UsageCommand extends Command {
  override createCommand(name?: string): Command {
    return new UsageCommand(name);
  }
  override error(message: string, errorOptions?: ErrorOptions): never {
    return super.error(message, { ...errorOptions, exitCode: errorOptions?.exitCode ?? 2 });
  }
}

/** Add `audit verify|list|export` to `program`; returns the `audit` command. */
export function registerAuditCommands(program: Command, io: AuditCliIo): Command {
  const audit = new UsageCommand('audit').description('verify and read the agent audit log (read-only)');
  audit.copyInheritedSettings(program);
  audit.configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) });
  program.addCommand(audit);

  withSource(audit.command('verify').description('walk the hash chain; exit 1 naming the first bad event'))
    .option('--json', 'print the result as JSON')
    .action((_o: unknown, cmd: Command) =>
      run(io, () => {
        const opts = cmd.opts<Record<string, unknown>>();
        const db = openAuditDb(opts);
        try {
          const res = verifyChain(db);
          if (opts.json === true) io.stdout.write(`${JSON.stringify(res)}\n`);
          else if (res.ok) io.stdout.write(`ok: ${res.checked} events verified\n`);
          else io.stdout.write(`TAMPERED: first bad event seq=${res.badSeq}: ${res.reason}\n`);
          if (!res.ok) process.exitCode = 1;
        } finally {
          db.close();
        }
      }),
    );

  withFilters(withSource(audit.command('list').description('show events, oldest first')))
    .option('--json', 'print a JSON array')
    .action((_o: unknown, cmd: Command) =>
      run(io, async () => {
        const opts = cmd.opts<Record<string, unknown>>();
        const filter = parseFilter(opts);
        const db = openAuditDb(opts);
        try {
          const rows = queryEvents(db, filter);
          if (opts.json === true) await writeLines(io.stdout, jsonArray(rows));
          else await writeLines(io.stdout, table(rows));
        } finally {
          db.close();
        }
      }),
    );

  withFilters(withSource(audit.command('export').description('stream events, one JSON object per line')))
    .option('--format <fmt>', 'output format (only jsonl)', 'jsonl')
    .action((_o: unknown, cmd: Command) =>
      run(io, async () => {
        const opts = cmd.opts<Record<string, unknown>>();
        if (opts.format !== 'jsonl') throw new UsageError(`--format: unknown format ${JSON.stringify(opts.format)} (supported: jsonl)`);
        const filter = parseFilter(opts);
        const db = openAuditDb(opts);
        try {
          await writeLines(io.stdout, jsonl(queryEvents(db, filter)));
        } finally {
          db.close();
        }
      }),
    );
  return audit;
}

function withSource(cmd: Command): Command {
  return cmd
    .option('--db <file>', `audit database (default: audit_db_path of --config, else ${DEFAULT_AUDIT_DB_PATH})`)
    .option('--config <file>', 'agent config file to take audit_db_path from');
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--since <iso>', 'events at or after this time (ISO 8601)')
    .option('--until <iso>', 'events before this time (ISO 8601, exclusive)')
    .option('--job <id>', 'only this job id')
    .option('--controller <id>', 'only this controller id')
    .option('--type <type>', 'only this event type')
    .option('--limit <n>', 'at most n events');
}

/** Run an action body, turning failures into a message and an exit code. */
async function run(io: AuditCliIo, body: () => void | Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const usage = e instanceof UsageError;
    io.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = usage ? 2 : 1;
  }
}

function stringOpt(opts: Record<string, unknown>, key: string): string | undefined {
  const v = opts[key];
  return typeof v === 'string' ? v : undefined;
}

/** --db, else audit_db_path from --config (read as plain YAML: the full loader would demand secrets), else the default. */
function resolveDbPath(opts: Record<string, unknown>): string {
  const db = stringOpt(opts, 'db');
  if (db !== undefined) return db;
  const config = stringOpt(opts, 'config');
  if (config === undefined) return DEFAULT_AUDIT_DB_PATH;
  let doc: unknown;
  try {
    doc = parseYaml(fs.readFileSync(config, 'utf8'));
  } catch (e) {
    throw new UsageError(`--config: cannot read ${config}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const value = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>).audit_db_path : undefined;
  if (value === undefined) return DEFAULT_AUDIT_DB_PATH;
  if (typeof value !== 'string' || value === '') throw new UsageError(`--config: audit_db_path in ${config} must be a non-empty string`);
  return value;
}

function openAuditDb(opts: Record<string, unknown>): Db {
  const file = resolveDbPath(opts);
  try {
    return openDatabase(file, { readonly: true });
  } catch (e) {
    throw new Error(`cannot open audit database ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/** Strict ISO 8601: a date (UTC midnight) or a date-time with Z or an offset; no local-time guessing. */
function parseIsoFlag(flag: string, value: string): Date {
  const m = ISO_DATE.exec(value);
  const t = Date.parse(value);
  // Date.parse rolls 2024-02-30 over to March; check the day against the month's length.
  if (m === null || Number.isNaN(t) || Number(m[3]) > new Date(Date.UTC(Number(m[1]), Number(m[2]), 0)).getUTCDate()) {
    throw new UsageError(`${flag}: not a valid ISO 8601 date or date-time with timezone: ${JSON.stringify(value)} (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)`);
  }
  return new Date(t);
}

function parseFilter(opts: Record<string, unknown>): AuditFilter {
  const since = stringOpt(opts, 'since');
  const until = stringOpt(opts, 'until');
  const type = stringOpt(opts, 'type');
  const limit = stringOpt(opts, 'limit');
  if (type !== undefined && !Object.hasOwn(EVENT_TYPES, type)) {
    throw new UsageError(`--type: unknown event type ${JSON.stringify(type)} (one of: ${Object.keys(EVENT_TYPES).join(', ')})`);
  }
  if (limit !== undefined && !/^\d{1,15}$/.test(limit)) throw new UsageError(`--limit: must be a non-negative integer, got ${JSON.stringify(limit)}`);
  return {
    since: since === undefined ? undefined : parseIsoFlag('--since', since),
    until: until === undefined ? undefined : parseIsoFlag('--until', until),
    jobId: stringOpt(opts, 'job'),
    controllerId: stringOpt(opts, 'controller'),
    type,
    limit: limit === undefined ? undefined : Number(limit),
  };
}

function* jsonl(rows: Iterable<AuditRecord>): Generator<string> {
  for (const r of rows) yield `${JSON.stringify(r)}\n`;
}

function* jsonArray(rows: Iterable<AuditRecord>): Generator<string> {
  let first = true;
  yield '[';
  for (const r of rows) {
    yield `${first ? '\n' : ',\n'}${JSON.stringify(r)}`;
    first = false;
  }
  yield first ? ']\n' : '\n]\n';
}

function* table(rows: Iterable<AuditRecord>): Generator<string> {
  // Fixed widths keep the output streaming (no second pass to measure columns).
  const line = (cols: string[]): string => `${cols[0].padStart(7)}  ${cols[1].padEnd(24)}  ${cols[2].padEnd(23)}  ${cols[3].padEnd(36)}  ${cols[4].padEnd(16)}  ${cols[5]}\n`;
  yield line(['SEQ', 'TS', 'TYPE', 'JOB', 'CONTROLLER', 'REMOTE']);
  for (const r of rows) yield line([String(r.seq), r.ts, r.type, r.jobId ?? '-', r.controllerId ?? '-', r.remoteAddr ?? '-']);
}

/** Write chunks in ~64 KiB batches, waiting for 'drain' when the stream asks for it. */
async function writeLines(out: CliOutput, chunks: Iterable<string>): Promise<void> {
  let buf = '';
  const flush = async (): Promise<void> => {
    const ok = out.write(buf);
    buf = '';
    if (!ok && out.once) {
      const once = out.once.bind(out);
      await new Promise<void>((resolve) => once('drain', resolve));
    }
  };
  for (const c of chunks) {
    buf += c;
    if (buf.length >= 65536) await flush();
  }
  if (buf.length > 0) await flush();
}
