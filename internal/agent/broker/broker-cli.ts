/**
 * `quickcmd broker add-agent NAME` / `add-controller ID` (SPEC §10): mint a broker
 * identity, write its nkey seed 0600 into --out (default: the current directory, never
 * overwriting), and print the nats-server user block with that identity's permissions,
 * ready to paste under `authorization { users: [...] }` (deployments/nats/).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import { mintCredentials, writeSeed } from './broker-credentials.js';

/** Output streams. */
interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** Register `quickcmd broker …`. */
export function registerBrokerCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  // The controller commands may have made `broker` already (its `init` subcommand).
  const broker = program.commands.find((c) => c.name() === 'broker') ?? program.command('broker');
  broker.description('broker (NATS) credentials for agents and controllers, and the offline inbox');
  const add = (role: 'agent' | 'controller', name: string, out: string | undefined): void => {
    let c;
    try {
      c = mintCredentials(role, name);
    } catch (e) {
      io.stderr.write(`quickcmd: ${(e as Error).message}\n`);
      setExit(EXIT.usage);
      return;
    }
    let file: string;
    try {
      file = writeSeed(path.resolve(out ?? '.'), c);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      io.stderr.write(`quickcmd: cannot write the seed: ${code === 'EEXIST' ? `${path.resolve(out ?? '.', `${role}-${name}.nk`)} exists (never overwritten)` : String(code ?? e)}\n`);
      setExit(EXIT.runtime);
      return;
    }
    const use = role === 'agent' ? `broker.nkey_seed_file: ${file}   (agent config)` : `--broker-creds ${file}   (or broker.creds_file in controller.yaml)`;
    io.stderr.write(`quickcmd: wrote the seed (secret, 0600) to ${file}\nquickcmd: use it as ${use}\nquickcmd: add this user to the broker's authorization.users and reload it (nats-server --signal reload):\n`);
    io.stdout.write(`${c.block}\n`);
    setExit(EXIT.ok);
  };
  broker
    .command('add-agent')
    .description("mint an agent's broker credentials; print its user block (subscribe: own submit/rpc/inbox and discovery; publish: quickcmd.v1.NAME.> and replies)")
    .argument('<name>', "the agent's agent_name")
    .option('--out <dir>', 'directory for the seed file (default: current directory)')
    .action((name: string, o: { out?: string }) => add('agent', name, o.out));
  broker
    .command('add-controller')
    .description("mint a controller's broker credentials; print its user block (publish: submit/rpc/inbox/discovery; subscribe: out, hb, own reply inbox)")
    .argument('<id>', 'the controller id (letters, digits, "_", "-")')
    .option('--out <dir>', 'directory for the seed file (default: current directory)')
    .action((id: string, o: { out?: string }) => add('controller', id, o.out));
}
