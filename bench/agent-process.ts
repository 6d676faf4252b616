/**
 * The agent under bench: the built daemon (`dist/cmd/quickcmd-agent.js`) in its own
 * process, so its RSS and CPU are its own, on HTTPS with a throwaway CA, a real SQLite
 * file and the real engine. Logs go to a file at the configured level (default `info`, as
 * in production). Startup is timed from spawn to the first healthy `/health`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { pause } from './stats.js';

/** Controller id the bench signs as. */
export const BENCH_CONTROLLER = 'bench-controller';

/** Where the bench finds the daemon: dist/ next to the compiled or source bench directory. */
export function agentBinary(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
  return path.join(root, 'dist/cmd/quickcmd-agent.js');
}

/** TLS material of one bench run. */
export interface BenchPki {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A CA and a server certificate for 127.0.0.1 made with the real openssl. */
export function makeBenchPki(dir: string): BenchPki {
  fs.mkdirSync(dir, { recursive: true });
  const ssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=QuickCMD Bench CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  ssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
  fs.chmodSync(path.join(dir, 'server.key'), 0o600);
  return { caFile: path.join(dir, 'ca.crt'), certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') };
}

/** A free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in bytes (VmRSS), or NaN once it is gone. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? Number.NaN : Number(m[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSecondsOf(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return Number.NaN;
  }
}

/** GET `url` once over a fresh TLS connection; resolves with the status, 0 when unreachable. */
export function probeOnce(url: string, ca: Buffer, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * Daemons still running. If the bench dies on an error it did not catch, they get SIGTERM
 * as it exits (they then remove their idle warm containers themselves) instead of living
 * on as orphans holding containers.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGTERM');
});

/** Options of one bench agent. */
export interface BenchAgentOptions {
  /** Short name used for its temp directory and in progress lines. */
  readonly name: string;
  readonly image: string;
  /** Config keys over the bench defaults. */
  readonly config?: Record<string, unknown>;
  /** Write a V8 CPU profile into this directory when the agent exits. */
  readonly cpuProfDir?: string | null;
  /** Reuse a PKI (one per bench run). */
  readonly pki: BenchPki;
  /** Command and arguments to run instead of the daemon (the bare baseline server). */
  readonly command?: readonly string[];
}

/** A running daemon. */
export class BenchAgent {
  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly url: string,
    readonly caFile: string,
    readonly secret: string,
    readonly child: ChildProcess,
    /** Milliseconds from spawn to the first 200 from /health. */
    readonly startupMs: number,
    /** CPU milliseconds (user + system) the process used from spawn to healthy: what the start costs whatever the load. */
    readonly startupCpuMs: number,
    private readonly logFile: string,
    private readonly exited: Promise<void>,
  ) {}

  /** Controller id to sign as. */
  get controllerId(): string {
    return BENCH_CONTROLLER;
  }

  /** Process id of the daemon. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Write a config, spawn the daemon and wait until /health answers 200. */
  static async start(o: BenchAgentOptions): Promise<BenchAgent> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `quickcmd-bench-${o.name}-`));
    const secret = crypto.randomBytes(32).toString('hex');
    const secretFile = path.join(dir, 'hmac-secret');
    fs.writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    const port = await freePort();
    const config = {
      port,
      bind_address: '127.0.0.1',
      tls_cert_file: o.pki.certFile,
      tls_key_file: o.pki.keyFile,
      hmac_secret_file: secretFile,
      allowed_controllers: [BENCH_CONTROLLER],
      allowed_images: [o.image],
      default_image: o.image,
      run_as_user: 'root',
      run_as_group: 'root',
      audit_db_path: path.join(dir, 'agent-audit.db'),
      shutdown_grace_seconds: 2,
      log_level: 'info',
      ...o.config,
    };
    const configPath = path.join(dir, 'agent-config.yaml');
    fs.writeFileSync(configPath, stringify(config), { mode: 0o600 });
    const logFile = path.join(dir, 'agent.log');
    const log = fs.openSync(logFile, 'a');
    const prof = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`, `--cpu-prof-name=${o.name}-${Date.now()}.cpuprofile`] : [];
    const argv = o.command ?? [...prof, agentBinary(), '--config', configPath];
    const ca = fs.readFileSync(o.pki.caFile);
    const url = `https://127.0.0.1:${port}`;
    const t0 = performance.now();
    const child = spawn(process.execPath, [...argv], { stdio: ['ignore', log, log], env: { ...process.env, BENCH_CONFIG: configPath, QUICKCMD_CONFIG: configPath } });
    fs.closeSync(log);
    running.add(child);
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        running.delete(child);
        resolve();
      }),
    );
    let startupMs = Number.NaN;
    let startupCpuMs = Number.NaN;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${o.name} exited with ${child.exitCode}: ${tail(logFile)}`);
      if ((await probeOnce(`${url}/health`, ca, 500)) === 200) {
        startupMs = performance.now() - t0;
        startupCpuMs = cpuSecondsOf(child.pid ?? -1) * 1000;
        break;
      }
      if (performance.now() - t0 > 30_000) {
        child.kill('SIGKILL');
        throw new Error(`${o.name} did not become healthy: ${tail(logFile)}`);
      }
      await pause(5);
    }
    return new BenchAgent(o.name, dir, url, o.pki.caFile, secret, child, startupMs, startupCpuMs, logFile, exited);
  }

  /** The agent id from its "agent listening" log line (labels of its containers), or null. */
  agentId(): string | null {
    for (const line of fs.readFileSync(this.logFile, 'utf8').split('\n')) {
      if (!line.includes('agent listening')) continue;
      try {
        const v = (JSON.parse(line) as Record<string, unknown>)['agent_id'];
        if (typeof v === 'string') return v;
      } catch {
        // not JSON
      }
    }
    return null;
  }

  /** Current RSS in bytes. */
  rss(): number {
    return rssOf(this.pid);
  }

  /** CPU seconds used so far. */
  cpuSeconds(): number {
    return cpuSecondsOf(this.pid);
  }

  /** Last lines of its log (for errors). */
  logTail(): string {
    return tail(this.logFile);
  }

  /** SIGTERM (graceful; writes a CPU profile if asked), SIGKILL after 15 s; removes the temp directory. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}
