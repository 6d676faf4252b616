/**
 * The `quickcmd job` commands: submit, status, logs (or follow), list and cancel, on one
 * agent over HTTPS or the broker. They use the machinery cli.ts builds for every controller
 * command (connection, error handling and exit codes, output guarding).
 */
import type { Command } from 'commander';
import { arg, integer, withConnection, withJob, type JobFlags } from './cli-options.js';
import { BrokerAgentClient } from './broker-client.js';
import { parseQueueMode, statusOrQueued, withQueue, type QueueFlags, type QueueMode, type QueueingClient } from './inbox-cli.js';
import type { AgentClient } from './client.js';
import type { BrokerFlags } from './broker-session.js';
import { FollowAborted } from './follow.js';
import { jobListQuery, renderJobList, terminalWidth, type JobListFlags } from './job-list.js';
import type { RunSpec } from './job-request.js';
import { namedSpecs } from './named-commands.js';
import { formatDuration, formatTable } from './render.js';
import { EXIT_INTERRUPTED } from './run-job.js';
import { EXIT_BROKEN_PIPE, type ControllerIo, type SignalSource } from './run-cli.js';
import type { ConnectionFlags } from './settings.js';

/** Exit code of a job command that failed at run time. */
const EXIT_RUNTIME = 1;

/** What the job commands use of the machinery every controller command shares (cli.ts). */
export interface JobCommandKit {
  /** Output, guarded once a command runs. */
  readonly io: ControllerIo;
  /** The process's own output (its terminal width). */
  readonly rawIo: ControllerIo;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signals: SignalSource;
  /** Aborted when stdout's reader has gone away. */
  readonly outputGone: AbortSignal;
  /** Wrap a command body: usage errors exit 2, agent errors print one line and exit `runtimeExit`. */
  act(runtimeExit: number, body: (cmd: Command, args: unknown[]) => Promise<number>): (...args: unknown[]) => Promise<void>;
  /** The job a command line asks for (words after --, or --command NAME). */
  spec(words: readonly string[], f: JobFlags): RunSpec;
  /** Run `use` with a client of the one agent the flags name (broker or HTTPS), closed after. */
  withClient(flags: ConnectionFlags & BrokerFlags, use: (c: AgentClient) => Promise<number>): Promise<number>;
  /** With --queue: a client that falls back to (or always uses) the offline inbox. */
  queueing(mode: QueueMode | null, wait: { run: boolean; waitMs: number | null }): ((c: BrokerAgentClient) => QueueingClient) | undefined;
  /** Throws the usage error of --queue without a broker. */
  noBrokerForQueue(): never;
}

/** Register `quickcmd job …` on `program`. */
export function registerJobCommands(program: Command, k: JobCommandKit): void {
  const { io, rawIo, env, signals, outputGone, act, spec, withClient, queueing, noBrokerForQueue } = k;
  const job = program.command('job').description('submit, list, inspect, follow and cancel jobs on an agent');
  withQueue(withJob(withConnection(job.command('submit'))), arg, false)
    .description('submit a job and print its id (does not wait)')
    .option('--json', 'print {"agent","job_id","status"}')
    .action(
      act(EXIT_RUNTIME, async (cmd, args) => {
        const o = cmd.opts<ConnectionFlags & JobFlags & QueueFlags & { json?: boolean }>();
        const s: RunSpec = { ...spec(args[0] as string[], o), ...(o.ttl !== undefined ? { ttlSeconds: o.ttl } : {}) };
        const queue = parseQueueMode(o.queue);
        return withClient(o, async (live) => {
          const wrap = queueing(queue, { run: false, waitMs: null });
          const c = wrap === undefined ? live : live instanceof BrokerAgentClient ? wrap(live) : noBrokerForQueue();
          const r = await c.submit(queue !== null ? s : (await namedSpecs([c], s))(c.name));
          io.stdout.write(o.json === true ? `${JSON.stringify({ agent: c.name, job_id: r.jobId, status: r.status })}\n` : `${r.jobId}\n`);
          return 0;
        });
      }),
    );

  withConnection(job.command('status'))
    .description("show a job's status and result")
    .argument('<job-id>')
    .option('--json', "print the agent's answer as JSON")
    .action(
      act(EXIT_RUNTIME, async (cmd, args) => {
        const o = cmd.opts<ConnectionFlags & { json?: boolean }>();
        return withClient(o, async (c) => {
          const s = c instanceof BrokerAgentClient ? await statusOrQueued(c, args[0] as string) : await c.status(args[0] as string);
          if (o.json === true) {
            io.stdout.write(`${JSON.stringify(s)}\n`);
            return 0;
          }
          const r = s.result;
          const rows: string[][] = [['JOB', s.job_id], ['AGENT', c.name], ['STATUS', s.status]];
          if (r !== null) {
            const flags = [r.timed_out ? 'timed out' : '', r.oom_killed ? 'OOM-killed' : '', r.output_truncated ? 'output truncated' : ''].filter((x) => x !== '');
            rows.push(['EXIT CODE', r.exit_code === null ? '-' : String(r.exit_code)], ['STARTED', r.start_time ?? '-'], ['ENDED', r.end_time ?? '-'], ['DURATION', formatDuration(r.duration_ms)]);
            if (r.runtime !== null) rows.push(['RUNTIME', r.runtime]);
            if (r.error !== null) rows.push(['ERROR', r.error]);
            if (flags.length > 0) rows.push(['NOTES', flags.join(', ')]);
            rows.push(['OUTPUT', `${Buffer.byteLength(r.stdout)} bytes stdout, ${Buffer.byteLength(r.stderr)} bytes stderr`]);
          }
          io.stdout.write(formatTable(rows));
          return 0;
        });
      }),
    );

  withConnection(job.command('logs'))
    .description("print a finished job's output, or follow it live with --follow")
    .argument('<job-id>')
    .option('-f, --follow', 'stream the output as it is produced until the job ends')
    .option('--json', 'print JSON (with --follow: one frame per line)')
    .action(
      act(EXIT_RUNTIME, async (cmd, args) => {
        const o = cmd.opts<ConnectionFlags & { follow?: boolean; json?: boolean }>();
        const id = args[0] as string;
        return withClient(o, async (c) => {
          if (o.follow !== true) {
            const s = await c.status(id);
            if (o.json === true) io.stdout.write(`${JSON.stringify({ job_id: s.job_id, status: s.status, stdout: s.result?.stdout ?? null, stderr: s.result?.stderr ?? null })}\n`);
            else if (s.result !== null) {
              io.stdout.write(s.result.stdout);
              io.stderr.write(s.result.stderr);
            }
            if (s.result === null) io.stderr.write(`quickcmd: job ${id} is ${s.status}; use --follow to stream its output\n`);
            return 0;
          }
          const ac = new AbortController();
          const stop = (): void => ac.abort();
          signals.once('SIGINT', stop);
          outputGone.addEventListener('abort', stop, { once: true });
          try {
            const fin = await c.follow(id, {
              signal: ac.signal,
              onFrame: (f) => (o.json === true ? io.stdout.write(`${JSON.stringify(f)}\n`) : io[f.stream].write(f.data)),
            });
            if (o.json === true) io.stdout.write(`${JSON.stringify(fin)}\n`);
            return 0;
          } catch (e) {
            if (e instanceof FollowAborted) return outputGone.aborted ? EXIT_BROKEN_PIPE : EXIT_INTERRUPTED;
            throw e;
          } finally {
            signals.removeListener('SIGINT', stop);
            outputGone.removeEventListener('abort', stop);
          }
        });
      }),
    );

  withConnection(job.command('list'))
    .description("list the agent's jobs, newest first (your own; every job with scope jobs:read-all)")
    .option('--status <s[,s]>', 'only jobs in these states (pending, running, completed, failed, cancelled, rejected)')
    .option('--since <time|age>', 'only jobs created since: 2026-12-01, 2026-12-01T08:00:00Z, Unix seconds, or an age (90s, 15m, 2h, 7d)')
    .option('--controller <id>', "only this controller's jobs")
    .option('--limit <n>', 'at most this many (default 50, at most 500)', integer(1))
    .option('--json', "print the agent's answer as JSON")
    .action(
      act(EXIT_RUNTIME, async (cmd) => {
        const o = cmd.opts<ConnectionFlags & JobListFlags & { json?: boolean }>();
        const query = jobListQuery(o, Date.now());
        return withClient(o, async (c) => {
          const list = await c.listJobs(query);
          io.stdout.write(o.json === true ? `${JSON.stringify(list)}\n` : renderJobList(list, Date.now(), terminalWidth(env, rawIo.stdout as { isTTY?: boolean; columns?: number })));
          return 0;
        });
      }),
    );

  withConnection(job.command('cancel'))
    .description('stop a pending or running job')
    .argument('<job-id>')
    .option('--json', "print the agent's answer as JSON")
    .action(
      act(EXIT_RUNTIME, async (cmd, args) => {
        const o = cmd.opts<ConnectionFlags & { json?: boolean }>();
        return withClient(o, async (c) => {
          const r = await c.cancel(args[0] as string);
          io.stdout.write(o.json === true ? `${JSON.stringify({ job_id: r.jobId, status: r.status, cancel_requested: true })}\n` : `cancel requested: job ${r.jobId} (status now: ${r.status})\n`);
          return 0;
        });
      }),
    );
}
