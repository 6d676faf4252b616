#!/usr/bin/env node
/**
 * quickcmd: the command-line controller (job, run), agent management and audit tools.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or config error; `run` exits with the
 * job's own code. The only process.exit of the CLI lives here.
 */
import { Command, CommanderError } from 'commander';
import { EXIT, registerAgentCommands } from '../internal/agent/agent-cli.js';
import { AGENT_VERSION } from '../internal/agent/version.js';
import { registerAuditCommands } from '../internal/audit/audit-cli.js';
import { registerControllerCommands } from '../internal/controller/cli.js';

const io = { stdout: process.stdout, stderr: process.stderr };
let exitCode: number = EXIT.ok;
const setExit = (code: number): void => {
  exitCode = code;
};

const program = new Command('quickcmd')
  .description('QuickCMD: run commands on your hosts through signed, audited, sandboxed jobs')
  .version(AGENT_VERSION)
  .exitOverride()
  .showHelpAfterError()
  .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

registerAgentCommands(program, io, setExit);
registerAuditCommands(program, io);
registerControllerCommands(program, io, setExit);

try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (e) {
  if (e instanceof CommanderError) {
    // --help and --version exit 0; every other parse error is a usage error.
    process.exit(e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage);
  }
  process.stderr.write(`quickcmd: ${(e as Error).message}\n`);
  process.exit(EXIT.runtime);
}
process.exit(Math.max(exitCode, typeof process.exitCode === 'number' ? process.exitCode : 0));
