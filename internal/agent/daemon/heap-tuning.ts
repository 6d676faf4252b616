/**
 * Keeps V8's young generation at its initial size in the daemon (imported first by
 * cmd/quickcmd-agent.ts, before anything allocates much). V8 doubles the semi-spaces
 * whenever many objects survive a scavenge, up to 16 MiB each, and never gives the
 * memory back: that doubling was most of the daemon's RSS growth after its first hundred
 * jobs (heap snapshots before and after 300 more jobs: live objects unchanged; the new
 * space had gone from 8 to 16 MiB). `--max-semi-space-size` would bound it but is only
 * read when the heap is created; the growth factor is read at each growth, so setting it
 * here works. An operator who sets a semi-space size on the command line (or in
 * NODE_OPTIONS) keeps V8's own behaviour.
 */
import v8 from 'node:v8';

/** Whether the node command line already decides the young generation's size. */
export function youngGenerationChosen(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => /^--(max|min)[-_]semi[-_]space[-_]size/.test(a) || /^--semi[-_]space[-_]growth[-_]factor/.test(a));
}

if (!youngGenerationChosen(process.execArgv, process.env['NODE_OPTIONS'])) v8.setFlagsFromString('--semi-space-growth-factor=1');
