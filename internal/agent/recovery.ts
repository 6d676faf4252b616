/**
 * Restart recovery and periodic reconciliation, wiring the generic reconciler to the job
 * manager: a labelled container whose job is recorded as running is adopted, anything
 * else labelled with this agent's id is removed, and a running job with no container
 * left is failed with a clear error.
 */
import type { ManagedContainer, Sandbox } from '../sandbox/sandbox.js';
import { reconcile, type ContainerFate, type ReconcileReport } from '../sandbox/reconciler.js';
import type { JobManager } from './job-manager.js';
import type { JobStore } from './job-store.js';
import type { Logger } from './logger.js';

/** Run one reconciliation pass. */
export async function reconcileJobs(d: { sandbox: Sandbox; agentId: string; manager: JobManager; store: JobStore; logger: Logger }): Promise<ReconcileReport> {
  const active = d.manager.activeJobIds();
  const report = await reconcile(d.sandbox, d.agentId, {
    fate(c: ManagedContainer): ContainerFate {
      if (c.jobId === null) return 'remove';
      if (active.has(c.jobId)) return 'keep';
      const rec = d.store.get(c.jobId);
      return rec !== null && rec.status === 'running' ? 'adopt' : 'remove';
    },
    adopt(c) {
      const rec = d.store.get(c.jobId);
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
