/** Whole-process timing for the bench: spawn → exit, with a bounded copy of stderr. */
import { spawn } from 'node:child_process';

/** How a timed process ended. */
export interface TimedExit {
  readonly ms: number;
  readonly code: number | null;
  /** Its stderr, the first `maxErr` characters. */
  readonly stderr: string;
}

/** Spawn `argv` with empty stdin and discarded stdout; resolves with the wall time from spawn to close. */
export function timedSpawn(argv: readonly string[], env: NodeJS.ProcessEnv, maxErr: number): Promise<TimedExit> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < maxErr) stderr += s;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms: performance.now() - t0, code, stderr }));
  });
}
