/**
 * Docker label names the agent puts on every container it creates (SPEC §5). The
 * reconciler finds its containers by these, so they are part of the on-host contract.
 */

/** Label carrying the id of the agent that owns the container. */
export const LABEL_AGENT = 'io.quickcmd.agent';

/** Label carrying the id of the job the container runs. */
export const LABEL_JOB = 'io.quickcmd.job';
