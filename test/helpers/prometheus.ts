/**
 * A real Prometheus server (Debian package `prometheus`) for tests: installed if missing,
 * started on a loopback port with a scrape config, queried through its HTTP API.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './agent.js';

/** A running Prometheus. */
export interface PromServer {
  readonly url: string;
  readonly child: ChildProcess;
  /** Instant query; returns the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
  logs(): string;
}

/** Install the Debian package when the binary is missing; throws (never skips) if impossible. */
export function ensurePrometheus(): string {
  const bin = '/usr/bin/prometheus';
  if (!fs.existsSync(bin)) {
    execFileSync('bash', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus'], { stdio: 'inherit' });
  }
  if (!fs.existsSync(bin)) throw new Error('prometheus could not be installed');
  return bin;
}

/** Start Prometheus scraping `target` over TLS with `caFile` and a bearer token, every second. */
export async function startPrometheus(dir: string, target: string, caFile: string, bearer?: string): Promise<PromServer> {
  const bin = ensurePrometheus();
  const port = await freePort();
  fs.mkdirSync(path.join(dir, 'tsdb'), { recursive: true });
  const cfg = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: quickcmd-agent',
    '    scheme: https',
    '    tls_config:',
    `      ca_file: ${caFile}`,
    ...(bearer ? ['    authorization:', '      type: Bearer', `      credentials: ${bearer}`] : []),
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n');
  const cfgFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(cfgFile, cfg);
  const child = spawn(bin, [`--config.file=${cfgFile}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20000)));
  child.stderr?.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/-/ready`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`prometheus did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    logs: () => out,
    async query(expr) {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await r.json()) as { status: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success' || body.data === undefined) throw new Error(`query ${expr} failed: ${JSON.stringify(body)}`);
      return body.data.result;
    },
    stop() {
      return new Promise((res) => {
        if (child.exitCode !== null) return res();
        child.once('exit', () => res());
        child.kill('SIGTERM');
      });
    },
  };
}
