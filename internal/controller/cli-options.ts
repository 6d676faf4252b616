/**
 * The flags the controller commands share: the connection flags of every agent-facing
 * command, the flags that describe a job, and commander parsers that turn a throwing
 * parser into a usage error.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { parseCpus, parseJobId, parseMemory, parseTimeout } from './job-request.js';

/** commander argParser from a throwing parser: its message becomes the usage error. */
export function arg<T>(parse: (v: string) => T): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (e) {
      throw new InvalidArgumentError(e instanceof Error ? e.message.replace(/^--[a-z-]+ "[^"]*": /, '') : String(e));
    }
  };
}

/** commander argParser for a whole number of at least `min`. */
export function integer(min: number): (v: string) => number {
  return arg((v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new Error(`expected a whole number of at least ${min}`);
    return n;
  });
}

/** commander reducer of a repeatable option. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Add the connection flags shared by every agent-facing command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .option('--agent <url|name>', 'agent URL (port 8443 unless given) or a name from the controller config [env QUICKCMD_AGENT]')
    .option('--controller-id <id>', 'controller id to sign as [env QUICKCMD_CONTROLLER_ID]')
    .option('--secret-file <file>', 'file holding the shared HMAC secret [env QUICKCMD_SECRET_FILE]')
    .option('--ca-file <file>', "CA (or self-signed agent certificate) to verify the agent's TLS certificate [env QUICKCMD_CA_FILE]")
    .option('--cert <file>', 'client certificate for mTLS')
    .option('--key <file>', 'client key for mTLS')
    .option('--insecure', 'do NOT verify the agent TLS certificate (prints a warning)')
    .option('--config <file>', 'controller config file [env QUICKCMD_CONTROLLER_CONFIG, default ~/.config/quickcmd/controller.yaml]')
    .option('--broker <url>', 'reach agents by name through this NATS broker, tls://host:port [env QUICKCMD_BROKER]')
    .option('--broker-ca <file>', "CA that verifies the broker's certificate [env QUICKCMD_BROKER_CA]")
    .option('--broker-creds <file>', 'this controller\'s broker nkey seed or .creds file [env QUICKCMD_BROKER_CREDS]');
}

/** Add the flags that describe a job. */
export function withJob(cmd: Command): Command {
  return cmd
    .argument('[command...]', 'command to run, after -- (one word: a shell command line; several: an argv)')
    .option('--image <image>', "container image (default: the agent's default_image)")
    .option('--timeout <seconds>', 'kill the job after this long (90, 90s, 5m)', arg(parseTimeout))
    .option('--memory <size>', 'memory limit (268435456, 256m, 1g)', arg(parseMemory))
    .option('--cpus <n>', 'CPU limit, e.g. 0.5', arg(parseCpus))
    .option('--runtime <name>', "isolation runtime: runc or runsc (gVisor), if the agent allows it (default: the agent's choice)")
    .option('-e, --env <NAME=VALUE>', 'environment variable for the job (repeatable; NAME alone copies it from here)', collect, [])
    .option('--job-id <id>', 'job id to use instead of a fresh random one', arg(parseJobId))
    .option('--command <name>', "run the agent's named command NAME (no shell; see `quickcmd commands`) instead of a command after --")
    .option('-p, --param <name=value>', 'a parameter of --command (repeatable; typed by the agent\'s definition)', collect, [])
    .option('--file <local[:remote]>', 'put a local file in /workspace before the command (repeatable; REMOTE defaults to its name; executable → 0755)', collect, [])
    .option('--artifact <path>', 'collect this /workspace path (a file, or a directory\'s files) after the command (repeatable)', collect, [])
    .usage('[options] -- COMMAND [ARGS...]  |  [options] --command NAME [--param K=V]...');
}

/** The job flags as commander parses them. */
export interface JobFlags {
  image?: string;
  timeout?: number;
  memory?: number;
  cpus?: number;
  runtime?: string;
  env: string[];
  jobId?: string;
  command?: string;
  param: string[];
  file: string[];
  artifact: string[];
  download?: string;
}
