/**
 * A real nats-server per test file: generated config with TLS from a throwaway openssl
 * CA, nkey users with the per-identity permissions of SPEC §10 (the same builder as
 * `quickcmd broker add-*`), a random loopback port, and clean-up. A server that cannot
 * start fails the test loudly; it is never skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { mintCredentials } from '../../internal/agent/broker/broker-credentials.js';
import { makePki, type TestPki } from './tls.js';

/** One broker user with its seed on disk. */
export interface NatsIdentity {
  readonly name: string;
  readonly seed: string;
  readonly seedFile: string;
  readonly publicKey: string;
}

/** A running server. */
export interface TestNats {
  readonly dir: string;
  readonly pki: TestPki;
  readonly caCert: string;
  readonly port: number;
  /** `tls://127.0.0.1:PORT`. */
  readonly url: string;
  readonly agents: ReadonlyMap<string, NatsIdentity>;
  readonly controllers: ReadonlyMap<string, NatsIdentity>;
  /** A user with no restrictions at all (to watch everything on `quickcmd.v1.>`). */
  readonly spy: NatsIdentity;
  output(): string;
  /** Process id of the running server, or null when stopped. */
  pid(): number | null;
  /** Stop (SIGTERM, then SIGKILL). Idempotent. */
  stop(): Promise<void>;
  /** Start again on the same port (after stop). */
  restart(): Promise<void>;
}

/** Options of a test server. */
export interface NatsOptions {
  readonly agents?: readonly string[];
  readonly controllers?: readonly string[];
  readonly maxPayload?: number;
  /** Address to listen on (default 127.0.0.1; a netns test uses its veth address). */
  readonly host?: string;
  /** Enable JetStream (the offline inbox) with a store directory of its own. */
  readonly jetstream?: boolean;
}

/** Path of nats-server (Debian's package); fails loudly when missing. */
export function natsServerBin(): string {
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) if (fs.existsSync(p)) return p;
  throw new Error('nats-server is not installed: run scripts/nats-up.sh (installs Debian\'s nats-server)');
}

function identity(dir: string, role: 'agent' | 'controller', name: string): NatsIdentity & { block: string } {
  const c = mintCredentials(role, name);
  const seedFile = path.join(dir, `${role}-${name}.nk`);
  fs.writeFileSync(seedFile, `${c.seed}\n`, { mode: 0o600 });
  return { name, seed: c.seed, seedFile, publicKey: c.publicKey, block: c.block.replace(/^#.*\n/, '') };
}

/** Start a nats-server for this test file. */
export async function startNats(opts: NatsOptions = {}): Promise<TestNats> {
  const bin = natsServerBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-nats-'));
  const host = opts.host ?? '127.0.0.1';
  const pki = makePki(path.join(dir, 'pki'), host === '127.0.0.1' ? [] : [host]);
  const agents = new Map((opts.agents ?? []).map((n) => [n, identity(dir, 'agent', n)]));
  const controllers = new Map((opts.controllers ?? []).map((n) => [n, identity(dir, 'controller', n)]));
  const spyKp = createUser();
  const spySeed = Buffer.from(spyKp.getSeed()).toString();
  const spyFile = path.join(dir, 'spy.nk');
  fs.writeFileSync(spyFile, `${spySeed}\n`, { mode: 0o600 });
  const spy: NatsIdentity = { name: 'spy', seed: spySeed, seedFile: spyFile, publicKey: spyKp.getPublicKey() };
  const users = [...agents.values(), ...controllers.values()].map((i) => i.block);
  users.push(JSON.stringify({ nkey: spy.publicKey }));
  const confFile = path.join(dir, 'nats-server.conf');
  let port = -1;
  const writeConf = (): void => {
    fs.writeFileSync(confFile, [
      `listen: "${host}:${port}"`,
      `max_payload: ${opts.maxPayload ?? 1048576}`,
      `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}", timeout: 5 }`,
      ...(opts.jetstream === true ? [`jetstream { store_dir: "${path.join(dir, 'js')}", max_memory_store: 64MB, max_file_store: 1GB }`] : []),
      `authorization { users: [\n${users.join(',\n')}\n] }`,
    ].join('\n'));
  };
  let child: ChildProcess | null = null;
  let out = '';
  const launch = async (): Promise<void> => {
    writeConf();
    const c = spawn(bin, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const deadline = Date.now() + 15_000;
    const from = out.length;
    for (;;) {
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(out.slice(from));
      if (m !== null) {
        port = Number(m[1]);
        return;
      }
      if (c.exitCode !== null) throw new Error(`nats-server exited with ${c.exitCode}: ${out}`);
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`nats-server did not start: ${out}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  };
  await launch();
  const h = host.includes(':') ? `[${host}]` : host;
  return {
    dir,
    pki,
    caCert: pki.caCert,
    get port() {
      return port;
    },
    get url() {
      return `tls://${h}:${port}`;
    },
    agents,
    controllers,
    spy,
    output: () => out,
    pid: () => {
      const c = child as ChildProcess | null;
      return c === null || c.exitCode !== null ? null : (c.pid ?? null);
    },
    stop,
    restart: launch,
  };
}
