/**
 * Narrowing of the engine's JSON answers (typed `any` by @types/dockerode) into the few
 * fields the sandbox uses. Everything Docker says passes through here, so the rest of the
 * package works with checked values only.
 */
import { Readable } from 'node:stream';
import { LABEL_AGENT, LABEL_JOB } from './labels.js';
import type { ExitResult, ManagedContainer } from './sandbox.js';

/** The part of `GET /containers/{id}/json` the sandbox reads. */
export interface ContainerState {
  readonly running: boolean;
  readonly exitCode: number;
  readonly oomKilled: boolean;
}

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** Narrows a container inspect answer; throws if it has no usable State. */
export function containerState(answer: unknown): ContainerState {
  const state = record(record(answer)?.State);
  if (state === null) throw new TypeError('container inspect answer has no State');
  const exitCode = state.ExitCode;
  return {
    running: state.Running === true || state.Restarting === true || state.Paused === true,
    exitCode: typeof exitCode === 'number' && Number.isInteger(exitCode) ? exitCode : -1,
    oomKilled: state.OOMKilled === true,
  };
}

/** `HostConfig.Runtime` of a container inspect answer ('' when the engine left it unset). */
export function containerRuntime(answer: unknown): string {
  const runtime = record(record(answer)?.HostConfig)?.Runtime;
  return typeof runtime === 'string' ? runtime : '';
}

/** Status code of a `POST /containers/{id}/wait` answer; throws if absent. */
export function waitStatus(answer: unknown): number {
  const code = record(answer)?.StatusCode;
  if (typeof code !== 'number' || !Number.isInteger(code)) throw new TypeError('container wait answer has no StatusCode');
  return code;
}

/** Signal that killed the process when the exit code is 128+n with n a real signal number (1–64). */
export function signalOf(exitCode: number): number | null {
  return exitCode > 128 && exitCode <= 128 + 64 ? exitCode - 128 : null;
}

/** ExitResult of an exited container. */
export function exitResult(state: Pick<ContainerState, 'exitCode' | 'oomKilled'>): ExitResult {
  return { exitCode: state.exitCode, signal: signalOf(state.exitCode), oomKilled: state.oomKilled, error: null };
}

/** ExitResult for a container that could not be waited on. */
export function failedResult(error: string): ExitResult {
  return { exitCode: -1, signal: null, oomKilled: false, error };
}

/** Narrows `GET /containers/json` into managed containers; entries without an Id are skipped. */
export function managedContainers(answer: unknown): ManagedContainer[] {
  if (!Array.isArray(answer)) throw new TypeError('container list answer is not an array');
  const out: ManagedContainer[] = [];
  for (const item of answer as unknown[]) {
    const c = record(item);
    if (c === null || typeof c.Id !== 'string') continue;
    const labels = record(c.Labels);
    const job = labels?.[LABEL_JOB];
    const state = c.State;
    out.push({
      containerId: c.Id,
      jobId: typeof job === 'string' ? job : null,
      running: state === 'running' || state === 'paused' || state === 'restarting',
    });
  }
  return out;
}

/** The agent label filter for a container list. */
export function agentFilter(agentId: string): string {
  return JSON.stringify({ label: [`${LABEL_AGENT}=${agentId}`] });
}

/** Narrows a streamed answer (hijacked socket or HTTP response) to a Readable. */
export function readableOf(answer: unknown): Readable {
  if (answer instanceof Readable) return answer;
  throw new TypeError('docker answered with something that is not a stream');
}

/** What the engine's event log says about one container's death. */
export interface EngineEvents {
  /** Signal of the last `kill` event (the engine signalled the container), or null. */
  readonly killSignal: number | null;
  /** The engine logged an `oom` event (the kernel's OOM killer struck inside the container). */
  readonly oom: boolean;
}

/** Narrows a `GET /events` answer (one JSON object a line) into the kill and oom facts. */
export function parseEngineEvents(text: string): EngineEvents {
  let killSignal: number | null = null;
  let oom = false;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const ev = record(JSON.parse(line));
    const action = ev?.Action ?? ev?.status;
    if (action === 'oom') oom = true;
    if (action !== 'kill') continue;
    const n = Number(record(record(ev?.Actor)?.Attributes)?.signal);
    if (Number.isInteger(n) && n > 0) killSignal = n;
  }
  return { killSignal, oom };
}
