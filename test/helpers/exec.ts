/**
 * Runs a real program the way a user would and collects its exit code and output. Used by
 * tests that drive scripts and CLIs end to end (setup-agent.sh, systemd-analyze, quickcmd).
 */
import { spawn } from 'node:child_process';

/** What a finished program left behind. */
export interface RunResult {
  /** Exit code; null when the program was killed by a signal. */
  readonly code: number | null;
  /** Signal that ended the program, if any. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  readonly cwd?: string;
  /** Replaces the environment entirely when given (merge with process.env yourself). */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to standard input, which is then closed; stdin is empty otherwise. */
  readonly input?: string;
  /** Kill the program (SIGKILL) after this many milliseconds; 0 or absent: no limit. */
  readonly timeoutMs?: number;
}

/**
 * Spawn `cmd` with `args` (no shell) and resolve when it exits. Never rejects on a non-zero
 * exit: callers assert on `code`. Rejects only when the program cannot be started at all.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.on('error', (e) => {
      if (timer !== undefined) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    // A program that exits without reading stdin makes the write fail with EPIPE; that is not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Like {@link run}, but rejects with the program's output when it does not exit 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return r;
}

/** True when `cmd` is found on PATH (checked with the shell's `command -v`). */
export async function hasCommand(cmd: string): Promise<boolean> {
  const r = await run('sh', ['-c', 'command -v "$1" >/dev/null 2>&1', 'sh', cmd]);
  return r.code === 0;
}

/**
 * Make sure `cmd` is on PATH, installing Debian package `pkg` with apt-get when it is not.
 * Rejects when that fails: tests that need the command fail rather than skip.
 */
export async function ensureCommand(cmd: string, pkg: string): Promise<void> {
  if (await hasCommand(cmd)) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runOk('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
  await runOk('apt-get', ['install', '-y', '-qq', pkg], { env, timeoutMs: 300_000 });
  if (!(await hasCommand(cmd))) throw new Error(`${cmd} is still missing after installing ${pkg}`);
}
