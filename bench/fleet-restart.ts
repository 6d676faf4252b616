/**
 * Broker restart under the fleet: jobs accepted through the broker on some of the agents,
 * each followed by a controller-side follower; once every job has printed its first line,
 * nats-server is killed (SIGKILL: no goodbye to any client) and started again on the same
 * port. Measured: from the kill until discovery (asked on a new connection each time, as
 * `quickcmd agents` does) lists every agent again; and whether every
 * accepted job still reached its final state with the controller seeing its final frame
 * (the follower's gap filler and the agents' republished final frames), or, failing that,
 * a final status through rpc. A job with neither is lost.
 */
import crypto from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { DISCOVER_SUBJECT } from '../internal/agent/broker/subjects.js';
import type { BrokerAgentClient } from '../internal/controller/broker-client.js';
import type { TestNats } from '../test/helpers/nats.js';
import { pause } from './stats.js';

/** What the restart found. */
export interface RestartResult {
  /** Kill → every agent back in discovery. */
  readonly rediscoveredMs: number;
  /** Kill → the server listening again. */
  readonly serverBackMs: number;
  readonly jobs: number;
  /** Jobs whose follower received the final frame (exit 0) and both lines of output. */
  readonly finalFrames: number;
  /** Jobs without a final frame whose status rpc said completed, exit 0. */
  readonly finalByStatus: number;
  readonly lost: number;
  readonly agentsBack: number;
}

/**
 * Names that answer discovery now, asked as a new `quickcmd agents` would: on a connection
 * of its own, opened for the question (null when the broker refuses it).
 */
async function online(connect: () => Promise<NatsConnection>): Promise<Set<string> | null> {
  let nc: NatsConnection;
  try {
    nc = await connect();
  } catch {
    return null;
  }
  const seen = new Set<string>();
  try {
    const it = await nc.requestMany(DISCOVER_SUBJECT, '', { strategy: 'stall', stall: 300, maxWait: 2000 });
    for await (const m of it) {
      try {
        seen.add((JSON.parse(Buffer.from(m.data).toString()) as { agent: string }).agent);
      } catch {
        // not a presence document
      }
    }
  } catch {
    // No responders (yet).
  } finally {
    await nc.close().catch(() => undefined);
  }
  return seen;
}

/** Run the restart on `names` (all connected), with jobs on `clients` (one job each). */
export async function brokerRestart(nats: TestNats, connect: () => Promise<NatsConnection>, names: readonly string[], clients: readonly BrokerAgentClient[], image: string, log: (l: string) => void): Promise<RestartResult> {
  const accepted: { client: BrokerAgentClient; jobId: string }[] = [];
  for (const c of clients) {
    const { jobId } = await c.submit({ command: 'echo before; sleep 3; echo after', image, jobId: `bench-restart-${crypto.randomUUID()}` });
    accepted.push({ client: c, jobId });
  }
  const started = accepted.map(() => {
    let r: () => void = () => undefined;
    const p = new Promise<void>((resolve) => (r = resolve));
    return { p, r };
  });
  const follows = accepted.map(({ client, jobId }, i) => {
    let text = '';
    const onFrame = (f: { data: string }): void => {
      text += f.data;
      if (text.includes('before')) started[i]?.r();
    };
    return client.follow(jobId, { onFrame }).then(
      (fin) => ({ ok: fin.exit_code === 0 && text.includes('before') && text.includes('after'), err: fin.exit_code === 0 ? 'output incomplete' : `exit ${fin.exit_code}` }),
      (e: unknown) => ({ ok: false, err: e instanceof Error ? e.message : String(e) }),
    );
  });
  await Promise.all(started.map((s) => s.p));
  log(`fleet: ${accepted.length} jobs accepted and running; killing nats-server`);
  const pid = nats.pid();
  if (pid === null) throw new Error('nats-server is not running');
  const t0 = performance.now();
  process.kill(pid, 'SIGKILL');
  await nats.stop();
  await nats.restart();
  const serverBackMs = performance.now() - t0;
  let back = new Set<string>();
  let said = t0;
  for (;;) {
    back = (await online(connect)) ?? new Set();
    if (names.every((n) => back.has(n)) || performance.now() - t0 > 90_000) break;
    if (performance.now() - said > 5000) {
      said = performance.now();
      log(`fleet: ${names.filter((n) => back.has(n)).length}/${names.length} agents in discovery ${((said - t0) / 1000).toFixed(0)} s after the kill`);
    }
    await pause(100);
  }
  const rediscoveredMs = performance.now() - t0;
  log(`fleet: nats-server back in ${serverBackMs.toFixed(0)} ms; ${names.filter((n) => back.has(n)).length}/${names.length} agents in discovery after ${rediscoveredMs.toFixed(0)} ms`);
  const outcomes = await Promise.all(follows.map((f) => Promise.race([f, pause(90_000).then(() => ({ ok: false, err: 'no final frame within 90 s' }))])));
  let finalFrames = 0;
  let finalByStatus = 0;
  for (const [i, o] of outcomes.entries()) {
    if (o.ok) {
      finalFrames++;
      continue;
    }
    const a = accepted[i];
    if (a === undefined) continue;
    const s = await a.client.status(a.jobId).catch(() => null);
    log(`fleet: job ${a.jobId}: follow ended without a final frame (${o.err}); status ${s?.status ?? 'unknown'}`);
    if (s?.status === 'completed' && s.result?.exit_code === 0) finalByStatus++;
  }
  return { rediscoveredMs, serverBackMs, jobs: accepted.length, finalFrames, finalByStatus, lost: accepted.length - finalFrames - finalByStatus, agentsBack: names.filter((n) => back.has(n)).length };
}
