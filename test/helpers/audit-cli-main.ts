/**
 * Test-local entry for the audit CLI: a bare commander program with only the audit
 * commands, so the CLI tests can spawn it without depending on cmd/quickcmd.ts.
 */
import { Command } from 'commander';
import { registerAuditCommands } from '../../internal/audit/audit-cli.js';

const program = new Command('quickcmd');
registerAuditCommands(program, { stdout: process.stdout, stderr: process.stderr });
await program.parseAsync(process.argv);
