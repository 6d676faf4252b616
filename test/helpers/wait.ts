/**
 * The one bounded polling loop of the tests: ask `probe` every `everyMs` until it answers
 * something other than undefined, and fail naming `what` after `timeoutMs`. client.ts
 * `waitForStatus` is built on it; `waitForEnd` waits for the job's final frame instead.
 */

/** The first value `probe` answers other than undefined; throws `timed out waiting for <what>` after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
