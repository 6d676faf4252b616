/**
 * `quickcmd run`: one agent (raw output, the job's exit code) or many (prefixed lines, a
 * progress line on a terminal, a summary table, exit 0 only when every host succeeded).
 * Ctrl-C cancels the job(s) on the agent(s) and exits 130; a second Ctrl-C quits at once.
 */
import path from 'node:path';
import { AgentClient } from './client.js';
import type { JobClient } from './job-client.js';
import { fanOut } from './fanout.js';
import { downloadArtifacts } from './job-files.js';
import { ControllerError } from './controller-error.js';
import type { RunSpec } from './job-request.js';
import { namedSpecs } from './named-commands.js';
import { formatDuration, formatTable, PrefixedOutput, useColor, type OutStream } from './render.js';
import { EXIT_INTERRUPTED, exitCodeFor, runJob, skippedOutcome, succeeded, type JobOutcome } from './run-job.js';
import type { AgentTarget } from './transport.js';

/** Streams and environment of a CLI run. */
export interface ControllerIo {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
}

/** Where interrupts come from; `process` fits. */
export interface SignalSource {
  once(event: 'SIGINT' | 'SIGTERM', fn: () => void): unknown;
  removeListener(event: 'SIGINT' | 'SIGTERM', fn: () => void): unknown;
}

/** Context of a run command. */
export interface RunContext {
  readonly io: ControllerIo;
  /** Aborted when stdout's reader has gone: handled like Ctrl-C, exit 141. */
  readonly outputGone?: AbortSignal;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly signals: SignalSource;
}

/** Fan-out policy flags. */
export interface FanOutFlags {
  readonly parallel: number;
  readonly maxFailures: number | null;
  readonly json: boolean;
}

/** Exit code when stdout's reader went away (128 + SIGPIPE). */
export const EXIT_BROKEN_PIPE = 141;

/**
 * Abort `ac` on the first SIGINT/SIGTERM, or when the output's reader has gone. Our
 * listeners are then removed, so a second Ctrl-C gets Node's default and ends the process
 * at once. Returns a disposer and the exit code an interrupted run ends with.
 */
function interruptOn(ctx: RunContext, ac: AbortController, onFirst: (why: string) => void): { dispose: () => void; exitCode: () => number } {
  let code: number = EXIT_INTERRUPTED;
  const fire = (): void => {
    dispose();
    onFirst(code === EXIT_BROKEN_PIPE ? 'output closed' : 'interrupted');
    ac.abort();
  };
  const pipe = (): void => {
    code = EXIT_BROKEN_PIPE;
    fire();
  };
  const dispose = (): void => {
    ctx.signals.removeListener('SIGINT', fire);
    ctx.signals.removeListener('SIGTERM', fire);
    ctx.outputGone?.removeEventListener('abort', pipe);
  };
  ctx.signals.once('SIGINT', fire);
  ctx.signals.once('SIGTERM', fire);
  ctx.outputGone?.addEventListener('abort', pipe, { once: true });
  return { dispose, exitCode: () => code };
}

/** The JSON shape of one outcome (`--json`). */
export function outcomeJson(o: JobOutcome): Record<string, unknown> {
  return {
    agent: o.agent,
    job_id: o.jobId,
    status: o.status,
    exit_code: o.exitCode,
    duration_ms: o.durationMs,
    error: o.failure?.message ?? o.result?.error ?? null,
    code: o.failure?.code ?? null,
    result: o.result,
  };
}

/** One line saying why a job did not succeed, or null. */
function explain(o: JobOutcome): string | null {
  if (o.failure !== null) return o.failure.describe();
  if (o.status === 'cancelled') return `job ${o.jobId ?? ''} cancelled`;
  if (o.status === 'failed' || o.status === 'rejected') return `job ${o.jobId ?? ''} ${o.status}: ${o.result?.error ?? 'no reason given'}`;
  if (o.result?.output_truncated === true) return `job ${o.jobId ?? ''}: output truncated by the agent's max_output_bytes`;
  return null;
}

/** A directory name for an agent's artifacts under --download DIR (a URL becomes host_port). */
export function agentDir(name: string): string {
  const d = name.replace(/^[a-z]+:\/\//i, '').replace(/[^A-Za-z0-9._-]/g, '_');
  return d === '' || d === '.' || d === '..' ? '_' : d;
}

/**
 * `--download DIR`: writes the job's artifacts under `dir` and says what was skipped or
 * truncated. Returns an error line, or null when everything listed was written.
 */
async function fetchArtifacts(client: JobClient, o: JobOutcome, dir: string, stderr: OutStream): Promise<string | null> {
  const r = o.result;
  if (r === null || o.jobId === null) return null;
  for (const s of r.artifacts_skipped ?? []) stderr.write(`quickcmd: ${client.name}: artifact ${s.path} skipped (${s.reason})\n`);
  if (r.artifacts_truncated === true) stderr.write(`quickcmd: ${client.name}: artifacts truncated by the agent's max_artifact_files/max_artifact_bytes\n`);
  if (typeof r.artifacts_error === 'string') stderr.write(`quickcmd: ${client.name}: ${r.artifacts_error}\n`);
  try {
    await downloadArtifacts(client, o.jobId, r.artifacts ?? [], dir, stderr);
    return null;
  } catch (e) {
    return e instanceof ControllerError ? e.describe() : String(e);
  }
}

/** Run on one agent; resolves with the exit code (the job's own). */
export function runSingle(target: AgentTarget, asked: RunSpec, ctx: RunContext, json: boolean): Promise<number> {
  return runSingleOn(new AgentClient(target), asked, ctx, json);
}

/** Run on one agent through `client` (any transport; closed at the end). */
export async function runSingleOn(client: JobClient, asked: RunSpec, ctx: RunContext, json: boolean): Promise<number> {
  const { io } = ctx;
  const target = client;
  let spec: RunSpec;
  try {
    spec = (await namedSpecs([client], asked))(client.name);
  } catch (e) {
    client.close();
    throw e;
  }
  const ac = new AbortController();
  let jobId: string | null = null;
  const { dispose, exitCode } = interruptOn(ctx, ac, (why) => {
    io.stderr.write(`quickcmd: ${why}: cancelling job ${jobId ?? '(being submitted)'} on ${target.name} (Ctrl-C again to quit now)\n`);
  });
  try {
    const outcome = await runJob(client, spec, {
      signal: ac.signal,
      onSubmitted: (id) => (jobId = id),
      onFrame: (f) => {
        if (!json) io[f.stream].write(f.data);
      },
    });
    if (json) io.stdout.write(`${JSON.stringify(outcomeJson(outcome))}\n`);
    const why = explain(outcome);
    if (why !== null) io.stderr.write(`quickcmd: ${why}\n`);
    const failedDownload = spec.download === undefined ? null : await fetchArtifacts(client, outcome, spec.download, io.stderr);
    if (failedDownload !== null) io.stderr.write(`quickcmd: ${failedDownload}\n`);
    if (outcome.cancelRequested) return exitCode();
    const code = exitCodeFor(outcome);
    return failedDownload !== null && code === 0 ? 1 : code;
  } finally {
    dispose();
    client.close();
  }
}

/** Run on many agents; resolves with 0 only when every host succeeded (130 after Ctrl-C). */
export function runFanOut(targets: readonly AgentTarget[], spec: RunSpec, ctx: RunContext, flags: FanOutFlags): Promise<number> {
  return runFanOutOn(targets.map((t) => new AgentClient(t)), spec, ctx, flags);
}

/** Run on many agents through `clients` (any transport; closed at the end). */
export async function runFanOutOn(clients: readonly JobClient[], spec: RunSpec, ctx: RunContext, flags: FanOutFlags): Promise<number> {
  const { io } = ctx;
  let specFor: (agent: string) => RunSpec;
  try {
    // Named commands: every agent's definition is read first, so a wrong --param fails before anything is sent.
    specFor = await namedSpecs(clients, spec);
  } catch (e) {
    for (const c of clients) c.close();
    throw e;
  }
  const out = new PrefixedOutput(io, clients.map((c) => c.name), useColor(io.stdout, ctx.env), io.stderr.isTTY === true && !flags.json);
  const ac = new AbortController();
  let interrupted = false;
  const { dispose, exitCode } = interruptOn(ctx, ac, (why) => {
    interrupted = true;
    out.clearProgress();
    io.stderr.write(`quickcmd: ${why}: cancelling running jobs, starting no more (Ctrl-C again to quit now)\n`);
  });
  try {
    const results = await fanOut(
      clients,
      {
        run: async (client, signal) => {
          const o = await runJob(client, specFor(client.name), {
            signal,
            onFrame: (f) => {
              if (!flags.json) out.write(client.name, f.stream, f.data);
            },
          });
          const dir = specFor(client.name).download;
          const failedDownload = dir === undefined ? null : await fetchArtifacts(client, o, path.join(dir, agentDir(client.name)), io.stderr);
          if (failedDownload !== null) out.note(client.name, failedDownload);
          out.end(client.name);
          const why = explain(o);
          if (why !== null && !flags.json) out.note(client.name, why.startsWith(`agent ${client.name}: `) ? why.slice(client.name.length + 8) : why);
          return o;
        },
        ok: succeeded,
        skipped: (client) => skippedOutcome(client.name),
      },
      {
        parallel: flags.parallel,
        maxFailures: flags.maxFailures,
        signal: ac.signal,
        onProgress: (p) => {
          if (interrupted) return;
          const stop = p.halted ? ', failure limit reached: starting no more' : '';
          out.setProgress(`[${p.done}/${p.total} done] ${p.running} running, ${p.failed} failed${stop}`);
        },
      },
    );
    out.clearProgress();
    if (flags.json) io.stdout.write(`${JSON.stringify(results.map(outcomeJson))}\n`);
    else io.stderr.write(summary(results, interrupted ? 'interrupted' : `more than ${flags.maxFailures ?? 0} failed`));
    if (interrupted) return exitCode();
    return results.every(succeeded) ? 0 : 1;
  } finally {
    dispose();
    for (const c of clients) c.close();
  }
}

/** The end-of-run table: agent, status, exit code, duration, job id. */
export function summary(results: readonly JobOutcome[], skipReason: string): string {
  const rows = [['AGENT', 'STATUS', 'EXIT', 'DURATION', 'JOB']];
  for (const r of results) {
    const status = r.status === 'error' && r.failure !== null ? `error ${r.failure.code}` : r.status;
    rows.push([r.agent, status, r.exitCode === null ? '-' : String(r.exitCode), formatDuration(r.durationMs), r.jobId ?? '-']);
  }
  const ok = results.filter(succeeded).length;
  const skipped = results.filter((r) => r.status === 'skipped').length;
  const why = skipped > 0 ? ` (${skipped} skipped: ${skipReason})` : '';
  return `\n${formatTable(rows)}${ok} of ${results.length} hosts succeeded${why}\n`;
}
