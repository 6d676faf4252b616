/**
 * One run of the collector exec (supervisor.ts): its stdout is the tar stream, parsed by
 * readArtifacts with the job's bounds; its stderr carries `ready` and the `skip` lines.
 * A run that ends without `ready` was killed before PID 1 was READY (normal for the run
 * started with the job) and is simply started again by the caller.
 */
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { readArtifacts } from './artifact-reader.js';
import { Demuxer } from './demux.js';
import { readableOf } from './docker-answers.js';
import type { ArtifactCollection, SkippedArtifact } from './sandbox.js';
import { collectorExecOptions, type CollectPlan } from './supervisor.js';

/** Bytes of collector stderr kept (ready and skip lines, tar's own complaints). */
const MAX_STDERR_BYTES = 64 * 1024;

/** The outcome of one collector run. */
export type CollectorRun =
  | { readonly ready: false }
  | { readonly ready: true; readonly collection: ArtifactCollection };

/** Skip reasons the collector may report. */
const SKIP_REASONS = new Set(['parent-not-directory', 'missing']);

/** The `skip` lines of the collector's stderr, mapped back to the asked paths. */
function skipsOf(stderr: string, plan: CollectPlan): SkippedArtifact[] {
  const out: SkippedArtifact[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^skip (\d{1,4}) ([a-z-]+)$/.exec(line);
    if (m === null) continue;
    const path = plan.paths[Number(m[1]) - 1];
    const reason = m[2] as string;
    if (path !== undefined && SKIP_REASONS.has(reason)) out.push({ path, reason });
  }
  return out;
}

/**
 * Runs the collector once. `deadlineMs` bounds the time from `ready` to the end of the
 * stream; past it the stream is cut and the collection reports it. Rejects only when the
 * exec cannot be created or started (container gone, engine down).
 */
export async function runCollector(container: Dockerode.Container, plan: CollectPlan, deadlineMs: number, abort: AbortSignal): Promise<CollectorRun> {
  const exec = await container.exec(collectorExecOptions(plan));
  const socket = readableOf(await exec.start({ hijack: true, stdin: false }));
  const tarStream = new PassThrough();
  const demux = new Demuxer();
  let stderr = '';
  // Whatever the container sends, no more than the reader could ever accept is held.
  const stdoutCap = plan.maxBytes + (plan.maxFiles + 512) * 4096;
  let stdoutBytes = 0;
  let ready = false;
  let onReady: () => void = () => {};
  const readyP = new Promise<void>((resolve) => (onReady = resolve));
  const ended = new Promise<void>((resolve) => {
    const finish = (): void => {
      tarStream.end();
      resolve();
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const piece of demux.push(chunk)) {
          // stdout and stderr reach us through separate pipes, in no fixed order: tar bytes
          // may arrive before the `ready` line, so stdout is kept whatever came first (the
          // collector writes nothing on stdout before it is ready).
          if (piece.stream === 'stdout') {
            stdoutBytes += piece.data.length;
            if (stdoutBytes > stdoutCap) throw new Error('collector output past every bound');
            tarStream.write(piece.data);
            continue;
          }
          if (stderr.length < MAX_STDERR_BYTES) stderr += piece.data.toString('utf8');
          if (!ready && /(^|\n)ready\n/.test(stderr)) {
            ready = true;
            onReady();
          }
        }
      } catch {
        socket.destroy();
      }
    });
    socket.once('end', finish);
    socket.once('close', finish);
    socket.once('error', finish);
  });
  const stop = (): void => {
    socket.destroy();
  };
  abort.addEventListener('abort', stop, { once: true });
  try {
    await Promise.race([readyP, ended]);
    if (!ready) return { ready: false };
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        late = true;
        socket.destroy();
        resolve();
      }, deadlineMs);
      timer.unref();
    });
    const collection = await readArtifacts(tarStream, { maxFiles: plan.maxFiles, maxBytes: plan.maxBytes }, plan.paths);
    // Past a cap the collector may still be writing: cut it. Otherwise let the exec end, so
    // every `skip` line (stderr, ordered freely against stdout) has arrived.
    if (collection.truncated) socket.destroy();
    await Promise.race([ended, deadline]);
    clearTimeout(timer);
    const skipped = [...skipsOf(stderr, plan), ...collection.skipped];
    const error = late ? `artifact collection passed its ${Math.round(deadlineMs / 1000)} s deadline` : abort.aborted ? 'artifact collection was interrupted' : collection.error;
    return { ready: true, collection: { ...collection, skipped, error } };
  } finally {
    abort.removeEventListener('abort', stop);
    socket.destroy();
  }
}
