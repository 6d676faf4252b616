/**
 * What a flood of strangers costs the audit disk (issue 12): the built daemon in a child
 * process, forged submissions (bad signature) and forged signed reads with a 15,000-char
 * X-QuickCMD-Controller header sent as fast as 32 keep-alive connections allow from
 * loopback for a bounded time, once with coalescing off (burst 1,000,000) and once with
 * the default burst. Prints database bytes per forged request (after a WAL checkpoint),
 * requests per second, the daemon's RSS before and after, and the disk a 10-minute flood
 * costs, extrapolated from the measured window (stated as such). `runFlood` is also the
 * `flood` bench section (fig-flood.ts), which can run the flood literally for a duration
 * (`npm run bench -- --only=flood --flood-seconds=600`).
 *
 *   npm run build && node --import tsx bench/audit-flood.ts [seconds=20]
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { freePort, prepareAgentDir, spawnAgent, type SpawnedAgent } from '../test/helpers/agent.js';
import { payload } from '../test/helpers/client.js';
import { encodeJobBody } from '../internal/agent/wire/signing.js';

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** Database bytes after folding the WAL in (the agent keeps its connection open; TRUNCATE waits for readers). */
function dbBytes(file: string): number {
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const { page_count: pages } = db.prepare('PRAGMA page_count').get() as { page_count: number };
  const { page_size: size } = db.prepare('PRAGMA page_size').get() as { page_size: number };
  const { freelist_count: free } = db.prepare('PRAGMA freelist_count').get() as { freelist_count: number };
  db.close();
  return (pages - free) * size;
}

async function flood(a: SpawnedAgent, kind: 'submit' | 'read', ms: number): Promise<number> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 32, ca: fs.readFileSync(a.pki.caCert) });
  const huge = 'c'.repeat(15_000);
  const body = (): Buffer => Buffer.from(encodeJobBody(payload({ controllerId: a.controllerId }), Buffer.from('f'.repeat(64))));
  const deadline = Date.now() + ms;
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const b = kind === 'submit' ? body() : null;
      const req = https.request(`${a.url}${kind === 'submit' ? '/api/v1/jobs' : '/api/v1/jobs/job-x'}`, {
        method: kind === 'submit' ? 'POST' : 'GET',
        agent,
        headers: kind === 'submit'
          ? { 'content-type': 'application/json', 'content-length': String(b?.length ?? 0) }
          : { 'x-quickcmd-controller': huge, 'x-quickcmd-timestamp': String(Math.floor(Date.now() / 1000)), 'x-quickcmd-signature': 'a'.repeat(64) },
      }, (res) => {
        res.resume();
        res.on('end', () => {
          sent += 1;
          resolve();
        });
      });
      req.on('error', () => resolve());
      req.end(b ?? undefined);
    });
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (Date.now() < deadline) await one();
  }));
  agent.destroy();
  return sent;
}

/** The database's files on disk (db, -wal, -shm), in bytes. */
function fileBytes(file: string): number {
  let n = 0;
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      n += fs.statSync(f).size;
    } catch {
      // Not there (no WAL yet, or folded in at close).
    }
  }
  return n;
}

/** What one flood cost. */
export interface FloodResult {
  readonly case: string;
  readonly kind: 'submit' | 'read';
  readonly burst: number;
  readonly seconds: number;
  readonly requests: number;
  readonly per_second: number;
  readonly audit_bytes_per_request: number;
  /** Database bytes in use (after a WAL checkpoint) the flood added. */
  readonly audit_bytes_total: number;
  /** The database's files on disk (db, WAL, shm) before the flood and after the daemon stopped. */
  readonly disk_bytes_before: number;
  readonly disk_bytes_after: number;
  readonly rss_mib_before: number;
  readonly rss_mib_after: number;
  /** Highest RSS sampled once a second during the flood. */
  readonly rss_mib_peak: number;
}

/** Flood a fresh built daemon with `kind` for `seconds` at audit_stranger_burst `burst`. */
export async function runFlood(label: string, burst: number, kind: 'submit' | 'read', seconds: number): Promise<FloodResult> {
  const port = await freePort();
  const env = prepareAgentDir({ port, log_level: 'info', audit_stranger_burst: burst });
  const a = await spawnAgent(env, port);
  try {
    await new Promise((r) => setTimeout(r, 500)); // the start's own audit rows settle first
    const pid = a.child.pid ?? 0;
    const rss0 = rssMiB(pid);
    const bytes0 = dbBytes(a.dbPath);
    const disk0 = fileBytes(a.dbPath);
    let peak = rss0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(pid));
    }, 1000);
    let n: number;
    try {
      n = await flood(a, kind, seconds * 1000);
    } finally {
      clearInterval(sampler);
    }
    const rss1 = rssMiB(pid);
    peak = Math.max(peak, rss1);
    a.child.kill('SIGTERM');
    await a.exited;
    const disk1 = fileBytes(a.dbPath);
    const grown = dbBytes(a.dbPath) - bytes0;
    return {
      case: label, kind, burst, seconds, requests: n, per_second: Math.round(n / seconds),
      audit_bytes_per_request: Number((grown / Math.max(n, 1)).toFixed(1)), audit_bytes_total: grown,
      disk_bytes_before: disk0, disk_bytes_after: disk1,
      rss_mib_before: Number(rss0.toFixed(1)), rss_mib_after: Number(rss1.toFixed(1)), rss_mib_peak: Number(peak.toFixed(1)),
    };
  } finally {
    if (a.child.exitCode === null) a.child.kill('SIGKILL');
    fs.rmSync(env.dir, { recursive: true, force: true });
  }
}

/** MiB a 10-minute flood at the measured rate would add (an extrapolation, named so). */
export function tenMinuteMiB(r: FloodResult): number {
  return Number(((r.audit_bytes_total / r.seconds) * 600 / 1048576).toFixed(2));
}

async function main(seconds: number): Promise<void> {
  for (const [label, burst, kind] of [
    ['without coalescing', 1_000_000, 'submit'],
    ['with coalescing (default burst 10)', 10, 'submit'],
    ['without coalescing', 1_000_000, 'read'],
    ['with coalescing (default burst 10)', 10, 'read'],
  ] as const) {
    const r = await runFlood(label, burst, kind, seconds);
    console.log(JSON.stringify({ ...r, ten_minute_flood_mib_extrapolated: tenMinuteMiB(r) }));
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(Number(process.argv[2] ?? 20));
