/**
 * Restart recovery and periodic reconciliation, wiring the generic reconciler to the job
 * manager: a labelled container whose job is recorded as running is adopted, anything
 * else labelled with this agent's id is removed, and a running job with no container
 * left is failed with a clear error.
 */
import type { ManagedContainer, Sandbox } from '../../sandbox/sandbox.js';
import { reconcile, type ContainerFate, type ReconcileReport } from '../../sandbox/reconciler.js';
import { WARM_JOB_LABEL } from '../../sandbox/warm-pool-protocol.js';
import type { JobManager } from './job-manager.js';
import type { JobStore } from './job-store.js';
import type { Logger } from '../logger.js';

/** Run one reconciliation pass. */
export async function reconcileJobs(d: { sandbox: Sandbox; agentId: string; manager: JobManager; store: JobStore; logger: Logger }): Promise<ReconcileReport> {
  const active = d.manager.activeJobIds();
  // A warm-pool container is labelled io.quickcmd.job=warm (its job was unknown at create);
  // the job that took it is the running job whose stored sandbox_id is its id. The live
  // pool hides its own idle containers, so an unclaimed warm one is a previous process's.
  let warmOwners: Map<string, string> | null = null;
  const jobOf = (c: ManagedContainer): string | null => {
    if (c.jobId !== WARM_JOB_LABEL) return c.jobId;
    warmOwners ??= new Map(d.store.listByStatus('running').flatMap((r) => (r.sandboxId === null ? [] : [[r.sandboxId, r.jobId] as const])));
    return warmOwners.get(c.containerId) ?? null;
  };
  const report = await reconcile(d.sandbox, d.agentId, {
    fate(c: ManagedContainer): ContainerFate {
      const jobId = jobOf(c);
      if (jobId === null) return 'remove';
      if (active.has(jobId)) return 'keep';
      const rec = d.store.get(jobId);
      return rec !== null && rec.status === 'running' ? 'adopt' : 'remove';
    },
    adopt(c) {
      const jobId = jobOf(c);
      const rec = jobId === null ? null : d.store.get(jobId);
      if (rec !== null) d.manager.adopt(rec, c.containerId);
    },
    seen(jobIds) {
      for (const rec of d.store.listByStatus('running')) {
        if (!jobIds.has(rec.jobId) && !active.has(rec.jobId)) {
          d.manager.failVanished(rec, 'container vanished: it was removed while the agent was not following it');
        }
      }
    },
  });
  if (report.adopted + report.removed > 0) d.logger.info({ ...report }, 'reconciled sandbox containers');
  return report;
}
