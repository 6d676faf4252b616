/**
 * `quickcmd agent …` and the `quickcmd-agent` daemon: run, gen-key, check-config. The
 * daemon loop lives in runDaemon; cmd/ files only map its result to an exit code.
 */
import { tlsOptions } from './http/server.js';
import crypto from 'node:crypto';
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath, type AgentConfig, type ConfigEnv } from './config/config.js';
import { createAgent } from './create-agent.js';
import { ConfigError } from './errors.js';
import { EXIT } from './exit-codes.js';
import { createLogger } from './logger.js';
import { dropPrivileges } from './privileges.js';
import { checkEngineRuntimes } from './engine/runtime-check.js';
import { dockerClient } from '../sandbox/docker-client.js';
import { DockerSandbox } from '../sandbox/docker-sandbox.js';
import type { Sandbox } from '../sandbox/sandbox.js';

/** Output streams of a CLI run. */
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** Exit codes (SPEC §1). */
export { EXIT } from './exit-codes.js';

/** A new 32-byte secret as 64 lowercase hex characters. */
export function generateKey(): string {
  return crypto.randomBytes(32).toString('hex');
}

function envOf(): ConfigEnv {
  return { QUICKCMD_CONFIG: process.env['QUICKCMD_CONFIG'], QUICKCMD_HMAC_SECRET: process.env['QUICKCMD_HMAC_SECRET'] };
}

/** What check-config asks besides the file (default: the Docker engine at the default socket or DOCKER_HOST). */
export interface CheckConfigDeps {
  readonly sandbox?: Pick<Sandbox, 'runtimes'>;
}

/**
 * Validate a config file exactly as a start does: the file, the TLS files it names, and
 * (SPEC §14) every `allowed_runtimes` entry listed by the engine's `docker info`. Prints
 * ok or the error naming the key (exit 2). An engine that does not answer is reported on
 * stderr and not an error, as at a start (which starts and checks each container).
 */
export async function checkConfig(flag: string | undefined, io: CliIo, deps: CheckConfigDeps = {}): Promise<number> {
  const path = resolveConfigPath(flag, envOf());
  try {
    const cfg = loadConfig(path, envOf());
    // What a start reads besides the file: the TLS certificate, key and client CA.
    if (!cfg.insecure_http) tlsOptions(cfg);
    const engine = await checkEngineRuntimes(deps.sandbox ?? new DockerSandbox({ docker: dockerClient() }), cfg);
    const runtimes =
      engine.kind === 'ok'
        ? `runtimes ${cfg.allowed_runtimes.join(', ')} listed by the Docker engine`
        : 'runtimes not checked: the Docker engine did not answer';
    if (engine.kind === 'engine-down') io.stderr.write(`warning: cannot ask the Docker engine for its runtimes (${engine.error}); a start checks again\n`);
    io.stdout.write(`ok: ${path} is valid (${cfg.controller_keys.size} per-controller keys, shared secret ${cfg.shared_secret ? 'set' : 'not set'}, ${cfg.insecure_http ? 'plain HTTP' : 'TLS'} on ${cfg.bind_address}:${cfg.port}; ${runtimes})\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof ConfigError) {
      io.stderr.write(`${e.message}\n`);
      return EXIT.usage;
    }
    throw e;
  }
}

/** Run the daemon until SIGTERM/SIGINT; SIGHUP reloads. Resolves with the exit code. */
export async function runDaemon(flag: string | undefined, io: CliIo): Promise<number> {
  const path = resolveConfigPath(flag, envOf());
  let cfg: AgentConfig;
  try {
    cfg = loadConfig(path, envOf());
  } catch (e) {
    if (e instanceof ConfigError) {
      io.stderr.write(`quickcmd-agent: ${e.message}\n`);
      return EXIT.usage;
    }
    throw e;
  }
  const logger = createLogger(cfg.log_level);
  let agent;
  try {
    agent = createAgent(cfg, { logger });
    await agent.start();
    const dropped = dropPrivileges(cfg.run_as_user, cfg.run_as_group);
    if (dropped === 'kept-root') logger.warn('running as root (run_as_user: root); use a dedicated user in production');
    else if (dropped === 'dropped') logger.info({ user: cfg.run_as_user, group: cfg.run_as_group }, 'dropped privileges');
  } catch (e) {
    if (agent !== undefined) await agent.close();
    if (e instanceof ConfigError) {
      io.stderr.write(`quickcmd-agent: ${e.message}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`quickcmd-agent: cannot start: ${(e as Error).message}\n`);
    logger.flush?.();
    return EXIT.runtime;
  }
  const running = agent;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      running.shutdown().then(
        () => resolve(EXIT.ok),
        (e: unknown) => {
          logger.error({ err: e }, 'shutdown failed');
          resolve(EXIT.runtime);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Reloads run one after another: the engine is asked (SPEC §14) before a config is applied.
    let reloading: Promise<void> = Promise.resolve();
    process.on('SIGHUP', () => {
      reloading = reloading.then(async () => {
        try {
          const next = loadConfig(path, envOf());
          await running.verifyRuntimes(next);
          running.reload(next);
        } catch (e) {
          logger.error({ error: e instanceof ConfigError ? e.message : String(e) }, 'config reload refused; keeping the old config');
        }
      });
    });
  });
}

/** Add `agent run|gen-key|check-config` to a commander program. */
export function registerAgentCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const agent = program.command('agent').description('run and manage the agent on this host');
  agent
    .command('run')
    .description('run the agent daemon (same as quickcmd-agent)')
    .option('-c, --config <path>', 'config file (default $QUICKCMD_CONFIG or /etc/quickcmd/agent-config.yaml)')
    .action(async (opts: { config?: string }) => setExit(await runDaemon(opts.config, io)));
  agent
    .command('gen-key')
    .description('print a new 32-byte secret as 64 hex characters')
    .action(() => {
      io.stdout.write(`${generateKey()}\n`);
      setExit(EXIT.ok);
    });
  agent
    .command('check-config')
    .description('validate a config file as a start does (files, TLS, engine runtimes) and exit 0, or name the bad key and exit 2')
    .option('-c, --config <path>', 'config file (default $QUICKCMD_CONFIG or /etc/quickcmd/agent-config.yaml)')
    .action(async (opts: { config?: string }) => setExit(await checkConfig(opts.config, io)));
}
