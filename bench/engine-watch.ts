/**
 * What the engine holds for one bench agent, read by its labels: used between samples so
 * one sample's container removal never overlaps the next sample, and to wait for a warm
 * pool to be full again. Only containers of the given agent id are ever looked at (other
 * work on the same engine is left alone).
 */
import type Dockerode from 'dockerode';
import { until } from './stats.js';

/** A labelled container, narrowed. */
export interface AgentContainer {
  readonly id: string;
  readonly job: string | null;
  readonly running: boolean;
}

/** Containers labelled `io.quickcmd.agent=<agentId>` (and `io.quickcmd.job=<jobId>` when given). */
export async function containersOf(docker: Dockerode, agentId: string, jobId?: string): Promise<AgentContainer[]> {
  const label = [`io.quickcmd.agent=${agentId}`, ...(jobId === undefined ? [] : [`io.quickcmd.job=${jobId}`])];
  const list = await docker.listContainers({ all: true, filters: { label } });
  return list.map((c) => ({ id: c.Id, job: typeof c.Labels?.['io.quickcmd.job'] === 'string' ? c.Labels['io.quickcmd.job'] : null, running: c.State === 'running' }));
}

/** Resolves once the agent holds no container for `jobId` (or none at all without a job id). */
export function untilGone(docker: Dockerode, agentId: string, jobId?: string, timeoutMs = 60_000): Promise<void> {
  return until(`containers of ${jobId ?? agentId} to be removed`, async () => (await containersOf(docker, agentId, jobId)).length === 0, timeoutMs, 10);
}

/** Resolves once the agent holds exactly `size` containers, all running (a full, idle warm pool). */
export function untilPoolFull(docker: Dockerode, agentId: string, size: number, timeoutMs = 60_000): Promise<void> {
  return until('the warm pool to refill', async () => {
    const cs = await containersOf(docker, agentId);
    return cs.length === size && cs.every((c) => c.running && c.job === 'warm');
  }, timeoutMs, 10);
}

/** Force-remove every container of the agent (end of a bench section, whatever happened). */
export async function removeAll(docker: Dockerode, agentId: string): Promise<void> {
  const cs = await containersOf(docker, agentId);
  await Promise.all(cs.map((c) => docker.getContainer(c.id).remove({ force: true, v: true }).catch(() => undefined)));
}
