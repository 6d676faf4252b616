#!/usr/bin/env node
/**
 * quickcmd: the command-line controller (job, run), agent management and audit tools.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or config error; `run` exits with the
 * job's own code. The only process.exit of the CLI lives here.
 *
 * Start-up time is what a user feels on every command, so each group of subcommands is
 * imported only when the command line names it: `quickcmd run` never loads the agent
 * (koa, pino, dockerode, SQLite), `quickcmd agent …` never loads the WebSocket client.
 * Help, completion and anything unrecognised load every group, so they see the whole tree.
 */
import type { Command } from 'commander';
import { EXIT } from '../internal/agent/exit-codes.js';
import { AGENT_VERSION } from '../internal/agent/version.js';

const io = { stdout: process.stdout, stderr: process.stderr };
let exitCode: number = EXIT.ok;
const setExit = (code: number): void => {
  exitCode = code;
};

/** One group of subcommands: the top-level names it registers and how to load it. */
interface CommandGroup {
  readonly names: readonly string[];
  readonly register: (program: Command) => Promise<unknown>;
}

/** In help order; a new group is one more entry. */
const GROUPS: readonly CommandGroup[] = [
  { names: ['agent'], register: async (p) => (await import('../internal/agent/agent-cli.js')).registerAgentCommands(p, io, setExit) },
  { names: ['audit'], register: async (p) => (await import('../internal/audit/audit-cli.js')).registerAuditCommands(p, io) },
  { names: ['run', 'job', 'commands', 'schedules', 'agents', 'broker'], register: async (p) => (await import('../internal/controller/cli.js')).registerControllerCommands(p, io, setExit) },
  { names: ['broker'], register: async (p) => (await import('../internal/agent/broker/broker-cli.js')).registerBrokerCommands(p, io, setExit) },
];

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // What commander prints for .version(), without building the command tree.
  process.stdout.write(`${AGENT_VERSION}\n`);
  process.exit(EXIT.ok);
}

/** Everything after the --version shortcut. No top-level await: the build bundles this file as CommonJS (scripts/bundle.mjs). */
async function main(): Promise<never> {
  const { Command: CommandClass, CommanderError } = await import('commander');
  const program = new CommandClass('quickcmd')
    .description('QuickCMD: run commands on your hosts through signed, audited, sandboxed jobs')
    .version(AGENT_VERSION)
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  const first = args.find((a) => !a.startsWith('-'));
  const named = GROUPS.filter((g) => first !== undefined && g.names.includes(first));
  for (const g of named.length > 0 ? named : GROUPS) await g.register(program);

  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every other parse error is a usage error.
      process.exit(e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage);
    }
    process.stderr.write(`quickcmd: ${(e as Error).message}\n`);
    process.exit(EXIT.runtime);
  }
  process.exit(Math.max(exitCode, typeof process.exitCode === 'number' ? process.exitCode : 0));
}

void main();
