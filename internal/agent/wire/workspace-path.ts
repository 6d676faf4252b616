/**
 * The path rule of input files and artifact requests (SPEC §12), one definition for the
 * agent's door and the controller's `--file` / `--artifact`: relative to /workspace, each
 * component `[A-Za-z0-9._-]{1,100}` and not `.` or `..`, at most 8 components.
 */

const COMPONENT = /^[A-Za-z0-9._-]{1,100}$/;
/** Deepest path, in components. */
export const MAX_PATH_DEPTH = 8;

/** Why `path` breaks the rule, or null when it is fine. */
export function pathProblem(path: string): string | null {
  if (path === '') return 'is empty';
  if (path.startsWith('/')) return 'is absolute (paths are relative to /workspace)';
  const parts = path.split('/');
  if (parts.length > MAX_PATH_DEPTH) return `is deeper than ${MAX_PATH_DEPTH} components`;
  for (const p of parts) {
    if (p === '') return 'has an empty component';
    if (p === '.' || p === '..') return `has a "${p}" component`;
    if (!COMPONENT.test(p)) return 'has a component outside [A-Za-z0-9._-]{1,100}';
  }
  return null;
}
