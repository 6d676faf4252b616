#!/usr/bin/env node
/**
 * quickcmd-agent: the daemon. Accepts `--config PATH`, `--config=PATH` and Go-style
 * `-config PATH`. The only process.exit of the daemon lives here.
 */
// First: the young generation must be capped before the daemon allocates much.
import '../internal/agent/daemon/heap-tuning.js';
import { Command, CommanderError } from 'commander';
import { EXIT, runDaemon } from '../internal/agent/agent-cli.js';
import { warmUpConfig } from '../internal/agent/daemon/cache-warmup.js';
import { installLastResort } from '../internal/agent/daemon/last-resort.js';
import { AGENT_VERSION } from '../internal/agent/version.js';

/** Go's flag package accepts single-dash long flags; map them to commander's form. */
function normalize(argv: string[]): string[] {
  return argv.map((a) => (a === '-config' ? '--config' : a.startsWith('-config=') ? `-${a}` : a));
}

const program = new Command('quickcmd-agent')
  .description('QuickCMD agent: runs signed jobs in locked-down Docker containers')
  .version(AGENT_VERSION)
  .option('-c, --config <path>', 'config file (default $QUICKCMD_CONFIG or /etc/quickcmd/agent-config.yaml)')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

try {
  program.parse(normalize(process.argv.slice(2)), { from: 'user' });
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
  throw e;
}
installLastResort(process);
if (process.env['QUICKCMD_CODE_CACHE_WRITE'] === '1') {
  // The build's code-cache run: parse the config as a start would, then exit; never start.
  warmUpConfig(program.opts<{ config?: string }>().config ?? '');
  process.exit(EXIT.ok);
}
// No top-level await: the build bundles this file as CommonJS (scripts/bundle.mjs) to run it from V8's code cache.
void runDaemon(program.opts<{ config?: string }>().config, { stdout: process.stdout, stderr: process.stderr }).then((code) => process.exit(code));
