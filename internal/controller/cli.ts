/**
 * The controller commands of `quickcmd`: run, job (job-cli.ts), agents, commands, schedules,
 * broker init, completion.
 * Every command that talks to an agent takes the same connection flags. Exit codes:
 * 0 ok, 1 runtime failure, 2 usage or config error; `run` exits with the job's own code
 * (125 when it could not run, 124 on timeout, 130 after Ctrl-C).
 */
import { parseArtifacts, parseFiles } from './job-files.js';
import { Command } from 'commander';
import { arg, integer, withConnection, withJob, type JobFlags } from './cli-options.js';
import { BrokerAgentClient } from './broker-client.js';
import { initInbox, parseQueueMode, QueueingClient, withInboxLimits, withQueue, type InboxInitFlags, type QueueFlags, type QueueMode } from './inbox-cli.js';
import { AgentClient } from './client.js';
import { brokerAgentNames, listAgents, runViaBroker } from './broker-cli.js';
import { brokerSettings, openBrokerSession, type BrokerFlags, type BrokerSession } from './broker-session.js';
import type { ControllerConfig } from './controller-config.js';
import { registerCompletion } from './completion.js';
import { registerJobCommands } from './job-cli.js';
import { ControllerError, SettingsError } from './controller-error.js';
import { renderScheduleList } from './schedules.js';
import { commandLine, parseEnv, type RunSpec } from './job-request.js';
import { namedRunSpec, ParamError, renderCommandList } from './named-commands.js';
import { guardOutput } from './render.js';
import { EXIT_COULD_NOT_RUN } from './run-job.js';
import { runFanOut, runSingle, type ControllerIo, type SignalSource } from './run-cli.js';
import { resolveTargets, type ConnectionFlags } from './settings.js';
import type { AgentTarget } from './transport.js';

/** What the commands read from outside; defaults are the process's own. */
export interface ControllerCliDeps {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly home?: string;
  readonly cwd?: string;
  readonly signals?: SignalSource;
}

const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

/** Register the controller commands on `program`; `setExit` receives each command's exit code. */
export function registerControllerCommands(program: Command, rawIo: ControllerIo, setExit: (code: number) => void, deps: ControllerCliDeps = {}): void {
  const env = deps.env ?? process.env;
  const signals = deps.signals ?? process;
  // Guarded only once a controller command runs, so other commands keep their own handling.
  const outputGone = new AbortController();
  let guarded: ControllerIo | null = null;
  const io: ControllerIo = {
    stdout: { isTTY: rawIo.stdout.isTTY, write: (s: string) => (guarded ?? rawIo).stdout.write(s) },
    stderr: { isTTY: rawIo.stderr.isTTY, write: (s: string) => (guarded ?? rawIo).stderr.write(s) },
  };
  const guard = (): void => {
    guarded ??= { stdout: guardOutput(rawIo.stdout, () => outputGone.abort()), stderr: guardOutput(rawIo.stderr, () => undefined) };
  };

  const targets = (flags: ConnectionFlags, many: boolean): AgentTarget[] => {
    const r = resolveTargets(flags, { env, home: deps.home, cwd: deps.cwd }, { many });
    for (const w of r.warnings) io.stderr.write(`quickcmd: ${w}\n`);
    return r.targets;
  };
  const spec = (words: readonly string[], f: JobFlags): RunSpec => {
    const files = { files: parseFiles(f.file, deps.cwd), artifacts: parseArtifacts(f.artifact), download: f.download };
    if (f.download !== undefined && files.artifacts.length === 0) throw new SettingsError('--download needs at least one --artifact PATH');
    if (f.command !== undefined) return { ...namedRunSpec(f.command, words, f), ...files };
    if (f.param.length > 0) throw new SettingsError('--param needs --command NAME');
    if (words.length === 0) throw new SettingsError('missing the command to run (put it after --, or call a named command with --command)');
    return { command: commandLine(words), image: f.image, timeoutSeconds: f.timeout, memoryBytes: f.memory, cpus: f.cpus, runtime: f.runtime, env: parseEnv(f.env, env), jobId: f.jobId, ...files };
  };
  /** Runs a command body; usage errors exit 2 with the usage, agent errors print one line. */
  const act = (runtimeExit: number, body: (cmd: Command, args: unknown[]) => Promise<number>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      guard();
      try {
        setExit(await body(cmd, args));
      } catch (e) {
        if (e instanceof ParamError) {
          io.stderr.write(`quickcmd: ${e.message} (INVALID_PARAMETER)\n`);
          setExit(EXIT_USAGE);
          return;
        }
        if (e instanceof SettingsError) cmd.error(`error: ${e.message}`, { exitCode: EXIT_USAGE, code: 'quickcmd.usage' });
        if (e instanceof ControllerError) {
          io.stderr.write(`quickcmd: ${e.describe()}\n`);
          // No broker, or no such agent online: the job could not run (like docker run's 125).
          setExit(e.code === 'BROKER_UNREACHABLE' || e.code === 'AGENT_OFFLINE' || e.code === 'INBOX_UNAVAILABLE' ? EXIT_COULD_NOT_RUN : runtimeExit);
          return;
        }
        throw e;
      }
    };
  /** The broker session when one is configured (flag, env or controller.yaml), else null. */
  const brokerFor = async (flags: ConnectionFlags & BrokerFlags): Promise<{ session: BrokerSession; cfg: ControllerConfig } | null> => {
    const sdeps = { env, home: deps.home, cwd: deps.cwd };
    const b = brokerSettings(flags, sdeps);
    if (b === null) return null;
    const { session, warnings } = await openBrokerSession(flags, sdeps, b.settings);
    for (const w of warnings) io.stderr.write(`quickcmd: ${w}\n`);
    return { session, cfg: b.cfg };
  };
  /** With --queue: a client that falls back to (or always uses) the agent's offline inbox. */
  const queueing = (mode: QueueMode | null, wait: { run: boolean; waitMs: number | null }) =>
    mode === null ? undefined : (c: BrokerAgentClient) => new QueueingClient(c, { mode, waitForDelivery: wait.run, waitMs: wait.waitMs, note: (l) => io.stderr.write(`quickcmd: ${l}\n`) });
  const noBrokerForQueue = (): never => {
    throw new SettingsError('--queue needs a broker: pass --broker URL, set QUICKCMD_BROKER, or set broker: in the controller config');
  };
  const withClient = async (flags: ConnectionFlags & BrokerFlags, use: (c: AgentClient) => Promise<number>): Promise<number> => {
    const b = await brokerFor(flags);
    if (b !== null) {
      try {
        const { names } = await brokerAgentNames(b.session, flags, b.cfg, env);
        return await use(b.session.client(names[0] as string));
      } finally {
        await b.session.close();
      }
    }
    const client = new AgentClient(targets(flags, false)[0] as AgentTarget);
    try {
      return await use(client);
    } finally {
      client.close();
    }
  };

  withQueue(withJob(withConnection(program.command('run'))), arg, true)
    .description('run a command on one agent (or many), stream its output live, exit with its exit code')
    .option('--agents <names|urls>', 'run on these agents at once (comma-separated names or URLs)')
    .option('--group <name>', 'run on every agent of this group from the controller config')
    .option('--selector <k=v,...>', 'through the broker: run on every online agent whose labels match')
    .option('--parallel <n>', 'with --agents/--group: hosts running at once', integer(1), 10)
    .option('--max-failures <k>', 'with --agents/--group: start no new host once more than K failed', integer(0))
    .option('--json', 'print the result as JSON at the end instead of streaming')
    .option('--download <dir>', 'write the collected artifacts under DIR (fan-out: DIR/<agent>/), each checked against its SHA-256')
    .action(
      act(EXIT_COULD_NOT_RUN, async (cmd, args) => {
        const o = cmd.opts<ConnectionFlags & BrokerFlags & JobFlags & QueueFlags & { parallel: number; maxFailures?: number; json?: boolean; selector?: string }>();
        const s: RunSpec = { ...spec(args[0] as string[], o), ...(o.ttl !== undefined ? { ttlSeconds: o.ttl } : {}) };
        const queue = parseQueueMode(o.queue);
        const ctx = { io, env, signals, outputGone: outputGone.signal };
        const fan = { parallel: o.parallel, maxFailures: o.maxFailures ?? null, json: o.json === true };
        const b = await brokerFor(o);
        if (b !== null) {
          try {
            const { names, many } = await brokerAgentNames(b.session, o, b.cfg, env);
            return await runViaBroker(b.session, names, many, s, ctx, fan, queueing(queue, { run: true, waitMs: o.wait === undefined ? null : o.wait * 1000 }));
          } finally {
            await b.session.close();
          }
        }
        if (queue !== null) noBrokerForQueue();
        if (o.selector !== undefined) throw new SettingsError('--selector needs a broker: pass --broker URL, set QUICKCMD_BROKER, or set broker: in the controller config');
        const ts = targets(o, true);
        const many = o.agents !== undefined || o.group !== undefined;
        if (!many) return runSingle(ts[0] as AgentTarget, s, ctx, o.json === true);
        return runFanOut(ts, s, ctx, { parallel: o.parallel, maxFailures: o.maxFailures ?? null, json: o.json === true });
      }),
    );

  registerJobCommands(program, { io, rawIo, env, signals, outputGone: outputGone.signal, act, spec, withClient, queueing, noBrokerForQueue });

  withConnection(program.command('agents'))
    .description('list the agents online on the broker (NAME, LABELS, VERSION, RUNNING, QUEUED, LAST SEEN), collected within 2 s')
    .option('--selector <k=v,...>', 'only agents whose labels match')
    .option('--json', 'print the agents as JSON')
    .action(
      act(EXIT_RUNTIME, async (cmd) => {
        const o = cmd.opts<ConnectionFlags & BrokerFlags & { selector?: string; json?: boolean }>();
        const b = await brokerFor(o);
        if (b === null) throw new SettingsError('`quickcmd agents` needs a broker: pass --broker URL, set QUICKCMD_BROKER, or set broker: in the controller config');
        try {
          return await listAgents(b.session, o.selector, o.json === true, io);
        } finally {
          await b.session.close();
        }
      }),
    );

  withConnection(program.command('commands'))
    .description('list the named commands this controller may run on the agent, and whether it may use the shell')
    .option('--json', "print the agent's answer as JSON")
    .action(
      act(EXIT_RUNTIME, async (cmd) => {
        const o = cmd.opts<ConnectionFlags & { json?: boolean }>();
        return withClient(o, async (c) => {
          const list = await c.commands();
          io.stdout.write(o.json === true ? `${JSON.stringify(list)}\n` : renderCommandList(list));
          return 0;
        });
      }),
    );

  withConnection(program.command('schedules'))
    .description("list the agent's schedules: cron, time zone, next fire, last run, skipped fires (needs scope jobs:read-all)")
    .option('--json', "print the agent's answer as JSON")
    .action(
      act(EXIT_RUNTIME, async (cmd) => {
        const o = cmd.opts<ConnectionFlags & { json?: boolean }>();
        return withClient(o, async (c) => {
          const list = await c.schedules();
          io.stdout.write(o.json === true ? `${JSON.stringify(list)}\n` : renderScheduleList(list));
          return 0;
        });
      }),
    );

  // `quickcmd broker init` (the offline inbox's stream) joins the `broker` group of broker-cli.ts.
  const broker = program.commands.find((c) => c.name() === 'broker') ?? program.command('broker').description('broker (NATS) credentials for agents and controllers, and the offline inbox');
  withInboxLimits(withConnection(broker.command('init')), integer)
    .description('create the offline inbox (JetStream stream QUICKCMD_INBOX) with its limits; an existing one is left as it is')
    .action(
      act(EXIT_RUNTIME, async (cmd) => {
        const o = cmd.opts<ConnectionFlags & BrokerFlags & InboxInitFlags>();
        const b = await brokerFor(o);
        if (b === null) throw new SettingsError('`quickcmd broker init` needs a broker: pass --broker URL, set QUICKCMD_BROKER, or set broker: in the controller config');
        try {
          return await initInbox(b.session.nc, o, io.stdout);
        } finally {
          await b.session.close();
        }
      }),
    );

  registerCompletion(program, io, setExit, env);
}
