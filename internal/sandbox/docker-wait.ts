/**
 * `POST /containers/{id}/wait?condition=not-running` that settles when the engine dies.
 * The engine answers the wait's headers at once and the body (`{"StatusCode":n}`) only at
 * the exit. dockerode's `container.wait()` collects that body with `res.on('end')` alone:
 * when dockerd is killed (crash, SIGKILL, OOM killer) the connection closes without an
 * 'end', Node drops the response's 'error' because nobody listens, and the promise never
 * settles — the job stayed "running" for ever and held its slot. Here the body is read as
 * a stream, so a connection lost mid-answer rejects with ECONNRESET (a connection error:
 * "docker engine unavailable while waiting for the container").
 */
import type Dockerode from 'dockerode';
import { readableOf, waitStatus } from './docker-answers.js';

/** The part of docker-modem the wait needs (`Container.modem` is untyped). */
interface WaitModem {
  dial(options: object, callback: (err: unknown, data: unknown) => void): void;
}

/** Largest wait answer read (it is `{"StatusCode":n,"Error":...}`). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Resolves with the container's exit code once it is not running; rejects when the engine is lost. */
export async function waitNotRunning(container: Dockerode.Container, abortSignal: AbortSignal): Promise<number> {
  const modem: WaitModem = container.modem;
  const stream = await new Promise<unknown>((resolve, reject) => {
    modem.dial(
      {
        path: `/containers/${container.id}/wait?`,
        method: 'POST',
        options: { condition: 'not-running' },
        abortSignal,
        isStream: true,
        statusCodes: { 200: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error' },
      },
      (err, data) => (err ? reject(err) : resolve(data)),
    );
  });
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const c of readableOf(stream)) {
      const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
      bytes += b.length;
      if (bytes > MAX_ANSWER_BYTES) throw new TypeError('container wait answer is too large');
      chunks.push(b);
    }
  } catch (e) {
    if (abortSignal.aborted || e instanceof TypeError) throw e;
    // "aborted" / premature close: the engine went away before it answered.
    throw Object.assign(new Error(`connection to the docker engine lost while waiting (${e instanceof Error ? e.message : String(e)})`), { code: 'ECONNRESET', cause: e });
  }
  return waitStatus(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
}
