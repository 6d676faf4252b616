/**
 * The reconciler (Nomad's model): compares the containers labelled with this agent's id
 * against what the job manager tracks. A container whose job is recorded as running but
 * not followed is adopted (re-attached); one nothing wants is removed. Only this agent's
 * label is ever listed, so another agent on the same engine is never touched.
 */
import type { ManagedContainer, Sandbox } from './sandbox.js';

/** What the owner of job state decides for one labelled container. */
export type ContainerFate = 'keep' | 'adopt' | 'remove';

/** Callbacks into the owner of job state. */
export interface ReconcileOwner {
  /** Decide for a container (by its job id label; null when the label is missing). */
  fate(c: ManagedContainer): ContainerFate;
  /** Follow a container whose job is still running. */
  adopt(c: ManagedContainer & { jobId: string }): void;
  /** Called after listing with the job ids that have a container, so the owner can fail the rest. */
  seen(jobIds: ReadonlySet<string>): void;
}

/** Counts of one pass. */
export interface ReconcileReport {
  readonly adopted: number;
  readonly removed: number;
  readonly kept: number;
}

/** One reconciliation pass. Throws if the engine cannot be listed (the caller retries later). */
export async function reconcile(sandbox: Sandbox, agentId: string, owner: ReconcileOwner): Promise<ReconcileReport> {
  const containers = await sandbox.listManaged(agentId);
  const seen = new Set<string>();
  let adopted = 0;
  let removed = 0;
  let kept = 0;
  for (const c of containers) {
    if (c.jobId !== null) seen.add(c.jobId);
    const fate = owner.fate(c);
    switch (fate) {
      case 'keep':
        kept++;
        break;
      case 'adopt':
        if (c.jobId !== null) {
          owner.adopt({ ...c, jobId: c.jobId });
          adopted++;
        }
        break;
      case 'remove':
        await sandbox.remove(c.containerId);
        removed++;
        break;
    }
  }
  owner.seen(seen);
  return { adopted, removed, kept };
}
