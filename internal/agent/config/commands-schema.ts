/**
 * Config keys of command policies (SPEC §11): `shell` and `commands`, spread into the main
 * schema. Each command is checked and compiled at load (argv template, parameter rules,
 * definition hash), so a placeholder without a parameter, a parameter never used, a
 * pattern that does not compile, a default failing its own rule or `max_length` above 4096
 * stops the agent with exit 2 naming the key. `checkCommandLimits` holds the cross-key
 * rules (image in allowed_images, limits within the maxima), run by config.ts.
 */
import { z } from 'zod';
import { RUNTIMES } from '../../sandbox/runtimes.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_STRING_PARAM_LENGTH, MAX_STRING_PARAM_LENGTH } from '../door/command-params.js';
import { CommandDefinitionError, compileCommand, type NamedCommand } from '../door/named-command.js';
import { MIN_MEMORY_BYTES } from './limits.js';

/** Name of a command: `[a-z0-9][a-z0-9._-]{0,62}`. */
export const COMMAND_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Name of a parameter (also its placeholder `{name}`). */
export const PARAM_NAME_RE = /^[a-z][a-z0-9_]{0,62}$/;
/** Most commands one agent may define. */
export const MAX_COMMANDS = 256;
/** Most argv elements of one template. */
export const MAX_ARGV_ELEMENTS = 256;

const description = z.string().max(512);
const safeInt = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const positiveInt = z.number().int().positive();

/** One typed parameter. */
export const paramSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('string'),
    description: description.optional(),
    /** Regular expression the whole value must match (the agent anchors it). */
    pattern: z.string().min(1).max(1024).optional(),
    /** Longest value in characters (at most 4096). */
    max_length: z.number().int().min(1).max(MAX_STRING_PARAM_LENGTH).default(DEFAULT_STRING_PARAM_LENGTH),
    default: z.string().optional(),
  }),
  z.strictObject({ type: z.literal('integer'), description: description.optional(), min: safeInt.optional(), max: safeInt.optional(), default: safeInt.optional() }),
  z.strictObject({ type: z.literal('boolean'), description: description.optional(), default: z.boolean().optional() }),
  z.strictObject({ type: z.literal('enum'), description: description.optional(), values: z.array(z.string().min(1).max(256)).min(1).max(256), default: z.string().optional() }),
]);

/** One named command, compiled at load (the parsed value is a NamedCommand). */
export const commandSchema = z
  .strictObject({
    /** How controllers call it. */
    name: z.string().regex(COMMAND_NAME_RE, 'must match [a-z0-9][a-z0-9._-]{0,62}'),
    /** One line shown by `quickcmd commands`. */
    description: description.default(''),
    /** The program and its arguments; no shell. `{p}` fills an element or ends a literal prefix. */
    argv: z.array(z.string().max(MAX_STRING_PARAM_LENGTH)).min(1).max(MAX_ARGV_ELEMENTS),
    /** Typed parameters by name. */
    params: z.record(z.string().regex(PARAM_NAME_RE, 'parameter names must match [a-z][a-z0-9_]{0,62}'), paramSchema).default({}),
    /** Scopes the controller must all hold. */
    scopes: z.array(z.string().min(1)).default([]),
    /** Image the command runs in (must be in allowed_images); default: default_image. */
    image: z.string().min(1).optional(),
    /** Timeout of the command's jobs; default: default_timeout_seconds. */
    timeout_seconds: positiveInt.optional(),
    /** CPUs of the command's jobs; default: default_cpu_limit. */
    cpu_limit: z.number().positive().max(1024).optional(),
    /** Memory bytes of the command's jobs; default: default_memory_limit. */
    memory_limit: positiveInt.min(MIN_MEMORY_BYTES).optional(),
    /** Runtime of the command's jobs (SPEC §14; a job may raise it, never lower it); default: default_runtime. */
    runtime: z.enum(RUNTIMES).optional(),
  })
  .transform((def, ctx): NamedCommand => {
    try {
      return compileCommand(def);
    } catch (e) {
      if (!(e instanceof CommandDefinitionError)) throw e;
      ctx.addIssue({ code: 'custom', message: e.message, path: [...e.path] });
      return z.NEVER;
    }
  });

/** `shell` and `commands`, to spread into the config file schema. */
export const commandsConfigShape = {
  /** Shell commands (`command`): allow (the original's behaviour), scoped (needs scope "shell"), deny. */
  shell: z.enum(['allow', 'scoped', 'deny']).default('allow'),
  /** Named commands controllers may call (compiled at load). */
  commands: z
    .array(commandSchema)
    .max(MAX_COMMANDS)
    .default([])
    .superRefine((cmds, ctx) => {
      const seen = new Set<string>();
      cmds.forEach((c, i) => {
        // zod runs this refinement even when an element failed (its value is then not compiled).
        if ((c as Partial<NamedCommand>).definition === undefined) return;
        if (seen.has(c.definition.name)) ctx.addIssue({ code: 'custom', message: `duplicate command name ${JSON.stringify(c.definition.name)}`, path: [i, 'name'] });
        seen.add(c.definition.name);
      });
    }),
};

/** The scope a controller needs for shell commands under `shell: scoped`. */
export const SHELL_SCOPE = 'shell';

/** The ceilings a command's own image and limits must respect. */
export interface CommandCeilings {
  readonly allowed_images: readonly string[];
  readonly max_cpu_limit: number;
  readonly max_memory_limit: number;
  readonly max_timeout_seconds: number;
}

/** Cross-key rules: a command's image must be allowed, its limits within the maxima. Throws ConfigError naming the key. */
export function checkCommandLimits(commands: readonly NamedCommand[], c: CommandCeilings): void {
  commands.forEach((cmd, i) => {
    const d = cmd.definition;
    if (d.image !== undefined && !c.allowed_images.includes(d.image)) throw new ConfigError(`commands.${i}.image`, `${d.image} is not in allowed_images`);
    if (d.cpu_limit !== undefined && d.cpu_limit > c.max_cpu_limit) throw new ConfigError(`commands.${i}.cpu_limit`, `is above max_cpu_limit (${c.max_cpu_limit})`);
    if (d.memory_limit !== undefined && d.memory_limit > c.max_memory_limit) throw new ConfigError(`commands.${i}.memory_limit`, `is above max_memory_limit (${c.max_memory_limit})`);
    if (d.timeout_seconds !== undefined && d.timeout_seconds > c.max_timeout_seconds) throw new ConfigError(`commands.${i}.timeout_seconds`, `is above max_timeout_seconds (${c.max_timeout_seconds})`);
  });
}
