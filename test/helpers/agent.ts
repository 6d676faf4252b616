/**
 * Starts a real agent for tests: real HTTPS on a loopback port, a real SQLite file, the
 * real Docker engine. In-process (`startTestAgent`) or as the built daemon in a child
 * process (`spawnAgent`, for kill/restart tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadConfig, type AgentConfig } from '../../internal/agent/config/config.js';
import { createAgent, type Agent, type AgentDeps } from '../../internal/agent/create-agent.js';
import { createLogger, silentLogger } from '../../internal/agent/logger.js';
import { makePki, type TestPki } from './tls.js';

/** Sandbox image built by scripts/docker-up.sh. */
export const TEST_IMAGE = process.env['QUICKCMD_SANDBOX_IMAGE'] ?? 'quickcmd-sandbox:latest';
/** Controller id allowed with the shared secret in test configs. */
export const TEST_CONTROLLER = 'controller-1';

/** Everything a test needs to talk to an agent. */
export interface TestAgentEnv {
  readonly dir: string;
  readonly pki: TestPki;
  readonly url: string;
  readonly port: number;
  readonly configPath: string;
  readonly dbPath: string;
  readonly secret: string;
  readonly secretFile: string;
  readonly controllerId: string;
}

/** An in-process agent. */
export interface TestAgent extends TestAgentEnv {
  readonly agent: Agent;
  readonly config: AgentConfig;
  /** Close the agent (fast; containers are left for the next start). */
  stop(): Promise<void>;
}

/** Config keys a test may set (YAML form). */
export type ConfigOverrides = Record<string, unknown>;

/** Make a temp dir with PKI, secret and a config file; returns the env (agent not started). */
export function prepareAgentDir(overrides: ConfigOverrides = {}, reuse?: { dir: string; pki: TestPki; secret: string }): Omit<TestAgentEnv, 'url' | 'port'> & { configText: string } {
  const dir = reuse?.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-test-'));
  const pki = reuse?.pki ?? makePki(path.join(dir, 'pki'));
  const secret = reuse?.secret ?? crypto.randomBytes(32).toString('hex');
  const secretFile = path.join(dir, 'hmac-secret');
  fs.writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  const dbPath = path.join(dir, 'agent-audit.db');
  const base: ConfigOverrides = {
    port: 0,
    bind_address: '127.0.0.1',
    tls_cert_file: pki.serverCert,
    tls_key_file: pki.serverKey,
    hmac_secret_file: secretFile,
    allowed_controllers: [TEST_CONTROLLER],
    allowed_images: [TEST_IMAGE],
    default_image: TEST_IMAGE,
    run_as_user: 'root',
    run_as_group: 'root',
    audit_db_path: dbPath,
    default_timeout_seconds: 60,
    max_timeout_seconds: 600,
    shutdown_grace_seconds: 5,
    log_level: 'warn',
    // Tests send many refusals from 127.0.0.1 and check each one's audit row; coalescing
    // has its own tests (audit-strangers, strangers-flood), which set a small burst.
    audit_stranger_burst: 1_000_000,
  };
  const merged = { ...base, ...overrides };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const configText = stringify(merged);
  const configPath = path.join(dir, 'agent-config.yaml');
  fs.writeFileSync(configPath, configText, { mode: 0o600 });
  return { dir, pki, configPath, dbPath, secret, secretFile, controllerId: TEST_CONTROLLER, configText };
}

/** Start an agent in this process. */
export async function startTestAgent(overrides: ConfigOverrides = {}, deps: AgentDeps = {}, reuse?: { dir: string; pki: TestPki; secret: string }): Promise<TestAgent> {
  const env = prepareAgentDir(overrides, reuse);
  const config = loadConfig(env.configPath, {});
  const logger = deps.logger ?? (process.env['QUICKCMD_TEST_LOGS'] ? createLogger('debug') : silentLogger());
  const agent = createAgent(config, { ...deps, logger });
  const addr = await agent.start();
  return {
    ...env,
    agent,
    config,
    port: addr.port,
    url: `https://127.0.0.1:${addr.port}`,
    stop: () => agent.close(),
  };
}

/** A daemon child process. */
export interface SpawnedAgent extends TestAgentEnv {
  readonly child: ChildProcess;
  /** stdout+stderr collected so far. */
  output(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

/** Start `dist/cmd/quickcmd-agent.js` (run `npm run build` first) and wait until it listens. */
export async function spawnAgent(env: Omit<TestAgentEnv, 'url' | 'port'>, port: number, extraEnv: Record<string, string> = {}): Promise<SpawnedAgent> {
  const bin = path.resolve('dist/cmd/quickcmd-agent.js');
  const child = spawn(process.execPath, [bin, '--config', env.configPath], { env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const deadline = Date.now() + 20_000;
  while (!/agent listening/.test(out)) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}: ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`agent did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ...env, port, url: `https://127.0.0.1:${port}`, child, output: () => out, exited };
}

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}
