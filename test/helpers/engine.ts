/**
 * A private Docker engine for tests that must stop and restart the engine: a second
 * dockerd with its own socket, data root, exec root and pidfile under one temp dir, no
 * bridge and no iptables changes, so the shared engine other test files use is never
 * touched. The sandbox image is copied in from the shared engine (never pulled). The
 * engine can be stopped (SIGTERM, wait) and started again on the same dirs, and
 * destroy() removes every trace (processes, mounts, dirs) even after a failed test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';

/** A dockerd of our own. */
export interface PrivateEngine {
  /** Temp dir holding socket, data root, exec root, pidfile and log. */
  readonly dir: string;
  readonly socketPath: string;
  /** Client for this engine only. */
  readonly docker: Dockerode;
  /** Storage driver in use (overlay2, or vfs where overlay cannot be used). */
  readonly storageDriver: string;
  /** True while dockerd runs. */
  readonly running: boolean;
  /** The engine's log so far (for failure messages). */
  log(): string;
  /** Start dockerd on the same dirs and wait until it answers. No-op if running. */
  start(): Promise<void>;
  /** SIGTERM dockerd and wait for it to exit (its containers are stopped by dockerd). Idempotent. */
  stop(): Promise<void>;
  /**
   * SIGKILL dockerd alone and wait for it to exit, as a crash would: its containerd and
   * the containers' shims keep running; start() then restores (without live-restore:
   * kills) the containers. Idempotent.
   */
  kill(): Promise<void>;
  /** Stop (SIGKILL if it will not stop), unmount everything under the dir, remove the dir. Idempotent. */
  destroy(): Promise<void>;
}

/** Options of startPrivateEngine. */
export interface PrivateEngineOptions {
  /** Images copied from `source` into the new engine. */
  readonly images?: readonly string[];
  /** Engine to copy images from (default: the shared engine). */
  readonly source?: Dockerode;
  /** Force a storage driver (default: overlay2, falling back to vfs). */
  readonly storageDriver?: string;
  /** Time to wait for dockerd to answer. */
  readonly startTimeoutMs?: number;
  /** Contents of the engine's daemon.json (default: dockerd reads /etc/docker/daemon.json, with its runtimes). */
  readonly daemonConfig?: Readonly<Record<string, unknown>>;
}

/** A process's state letter from /proc (R, S, Z, ...), or null when there is no such process. */
function processState(pid: number): string | null {
  try {
    return /\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Start a private dockerd (fails loudly when dockerd is missing or will not start). */
export async function startPrivateEngine(opts: PrivateEngineOptions = {}): Promise<PrivateEngine> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-engine-'));
  const socketPath = path.join(dir, 'docker.sock');
  const docker = new Dockerode({ socketPath });
  const logFile = path.join(dir, 'dockerd.log');
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let driver = opts.storageDriver ?? 'overlay2';
  let destroyed = false;

  const args = (): string[] => [
    '--host', `unix://${socketPath}`,
    '--data-root', path.join(dir, 'data'),
    '--exec-root', path.join(dir, 'exec'),
    '--pidfile', path.join(dir, 'docker.pid'),
    '--bridge', 'none',
    '--iptables=false',
    '--ip-masq=false',
    '--ip-forward=false',
    '--storage-driver', driver,
    // Its own containerd namespace: never confused with the shared engine's containers.
    '--containerd-namespace', `qc-${path.basename(dir)}`,
    '--containerd-plugins-namespace', `qc-${path.basename(dir)}-plugins`,
    // Short, so a stop mid-job does not wait the default 15 s per container.
    '--shutdown-timeout', '2',
    ...(opts.daemonConfig === undefined ? [] : ['--config-file', path.join(dir, 'daemon.json')]),
  ];
  if (opts.daemonConfig !== undefined) fs.writeFileSync(path.join(dir, 'daemon.json'), JSON.stringify(opts.daemonConfig));

  const log = (): string => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };

  const ping = async (): Promise<boolean> => {
    try {
      await docker.ping();
      return true;
    } catch {
      return false;
    }
  };

  const launch = async (): Promise<void> => {
    const out = fs.openSync(logFile, 'a');
    const c = spawn('dockerd', args(), { detached: true, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    child = c;
    exited = new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) resolve();
      else c.once('exit', () => resolve());
    });
    c.once('error', () => undefined);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
    for (;;) {
      if (await ping()) return;
      if (c.exitCode !== null || c.signalCode !== null) {
        throw new Error(`private dockerd exited (${c.exitCode ?? c.signalCode}) with storage driver ${driver}:\n${log().slice(-3000)}`);
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`private dockerd did not answer within ${opts.startTimeoutMs ?? 60_000} ms:\n${log().slice(-3000)}`);
      }
      await sleep(100);
    }
  };

  const isRunning = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;

  const stop = async (): Promise<void> => {
    if (!isRunning() || child === null) return;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), 30_000);
    });
    const done = await Promise.race([exited.then(() => true), late]);
    clearTimeout(timer);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  /** Processes left by this engine (containerd, shims), found by the dir in their command line. */
  const leftovers = (): number[] => {
    const pids: number[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      try {
        const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        if (cmd.includes(dir)) pids.push(Number(entry));
      } catch {
        // The process ended while we looked.
      }
    }
    return pids;
  };

  const unmountAll = (): void => {
    const mounts = fs
      .readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
      .filter((m) => m === dir || m.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  };

  const engine: PrivateEngine = {
    dir,
    socketPath,
    docker,
    get storageDriver() {
      return driver;
    },
    get running() {
      return isRunning();
    },
    log,
    async start() {
      if (destroyed) throw new Error('private engine was destroyed');
      if (isRunning()) return;
      await launch();
    },
    stop,
    async kill() {
      if (!isRunning() || child === null) return;
      const containerdPid = path.join(dir, 'exec', 'containerd', 'containerd.pid');
      const pid = Number(fs.existsSync(containerdPid) ? fs.readFileSync(containerdPid, 'utf8').trim() : NaN);
      child.kill('SIGKILL');
      await exited;
      // dockerd's containerd dies with it (parent-death signal). Where PID 1 does not reap
      // orphans (this container) it stays a zombie, and a new dockerd reading the pidfile
      // would wait for that "still running" containerd forever; on a host it is reaped.
      // So wait for it to be dead or a zombie, and then drop the stale pidfile.
      const deadline = Date.now() + 15_000;
      while (Number.isInteger(pid) && pid > 0 && processState(pid) !== null && processState(pid) !== 'Z') {
        if (Date.now() > deadline) throw new Error(`containerd ${pid} of the killed private dockerd did not exit`);
        await sleep(50);
      }
      fs.rmSync(containerdPid, { force: true });
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop().catch(() => undefined);
      for (let i = 0; i < 3; i++) {
        const pids = leftovers();
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, i === 0 ? 'SIGTERM' : 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
        await sleep(500);
      }
      unmountAll();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    try {
      await launch();
    } catch (e) {
      // overlay2 cannot sit on an overlay filesystem (e.g. /tmp inside a container): use vfs.
      if (opts.storageDriver !== undefined || !/overlay/i.test(log())) throw e;
      await stop();
      unmountAll();
      fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });
      driver = 'vfs';
      await launch();
    }
    const source = opts.source ?? new Dockerode();
    for (const image of opts.images ?? []) {
      const tar = await source.getImage(image).get();
      const stream = await docker.loadImage(tar);
      await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
      await docker.getImage(image).inspect();
    }
  } catch (e) {
    await engine.destroy();
    throw e;
  }
  return engine;
}

/** A subscription to one engine event (see watchContainerEvent). */
export interface EventWatch {
  /** Resolves with the event's attributes once it happens; rejects after the timeout. */
  readonly happened: Promise<Record<string, string>>;
}

/**
 * Watch the engine's event stream for `action` on one container whose attributes pass
 * `match` (e.g. a `kill` with signal 15: the engine is stopping it). Resolves once the
 * subscription is live, so an action taken after it cannot be missed.
 */
export async function watchContainerEvent(
  docker: Dockerode,
  containerId: string,
  action: string,
  match: (attrs: Record<string, string>) => boolean,
  timeoutMs: number,
): Promise<EventWatch> {
  const stream = (await docker.getEvents({ filters: JSON.stringify({ container: [containerId], event: [action] }) } as unknown as Dockerode.GetEventsOptions)) as NodeJS.ReadableStream & { destroy(): void };
  const happened = new Promise<Record<string, string>>((resolve, reject) => {
    let buf = '';
    const done = (f: () => void): void => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.destroy();
      f();
    };
    const timer = setTimeout(() => done(() => reject(new Error(`no ${action} event for ${containerId} within ${timeoutMs} ms`))), timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        const ev = JSON.parse(line) as { Action?: string; Actor?: { Attributes?: Record<string, string> } };
        const attrs = ev.Actor?.Attributes ?? {};
        if (ev.Action === action && match(attrs)) return done(() => resolve(attrs));
      }
    });
    stream.on('error', (e: Error) => done(() => reject(e)));
  });
  return { happened };
}
