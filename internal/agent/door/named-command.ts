/**
 * Named commands (SPEC §11), pure: a definition from the config compiled once at load
 * (argv template, parameter rules, SHA-256 of the definition), and the call of one with a
 * controller's parameters: every parameter checked, defaults applied, then one
 * substitution pass. What a call yields is stored with the job, so a queued job runs what
 * it was accepted with even after a reload changes the definition.
 */
import crypto from 'node:crypto';
import { RejectionError } from '../errors.js';
import type { RuntimeName } from '../../sandbox/runtimes.js';
import { compileTemplate, substitute, TemplateError, type CompiledTemplate } from './argv-template.js';
import { checkParamValue, compileParam, definitionProblem, type CompiledParam, type ParamDef } from './command-params.js';

/** A command as the config defines it (defaults applied). */
export interface CommandDefinition {
  readonly name: string;
  readonly description: string;
  readonly argv: readonly string[];
  readonly params: Readonly<Record<string, ParamDef>>;
  /** Scopes the controller must all hold. */
  readonly scopes: readonly string[];
  readonly image?: string | undefined;
  readonly timeout_seconds?: number | undefined;
  readonly cpu_limit?: number | undefined;
  readonly memory_limit?: number | undefined;
  /** Runtime of the command's jobs (SPEC §14). */
  readonly runtime?: RuntimeName | undefined;
}

/** A definition compiled at load. */
export interface NamedCommand {
  readonly definition: CommandDefinition;
  readonly template: CompiledTemplate;
  /** In declaration order. */
  readonly params: ReadonlyMap<string, CompiledParam>;
  /** SHA-256 (hex) of the definition's canonical JSON (keys sorted, defaults applied). */
  readonly sha256: string;
}

/** A parameter value as it travels (JSON). */
export type ParamValue = string | number | boolean;

/** What a call resolves to: the argv to run and the parameters it ran with (defaults filled in). */
export interface ResolvedCall {
  readonly name: string;
  readonly argv: readonly string[];
  readonly params: Readonly<Record<string, ParamValue>>;
  /** SHA-256 of the definition the call was resolved against. */
  readonly sha256: string;
  /** The definition's own image and limits (each undefined when it sets none). */
  readonly overrides: Pick<CommandDefinition, 'image' | 'timeout_seconds' | 'cpu_limit' | 'memory_limit' | 'runtime'>;
}

/** A definition problem at load; `path` is relative to the command (e.g. ['argv', 2]). */
export class CommandDefinitionError extends Error {
  constructor(
    readonly path: readonly (string | number)[],
    message: string,
  ) {
    super(message);
    this.name = 'CommandDefinitionError';
  }
}

/** JSON with object keys sorted at every level: the bytes the definition hash covers. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** SHA-256 (hex) of a definition. */
export function definitionSha256(def: CommandDefinition): string {
  return crypto.createHash('sha256').update(canonicalJson(def), 'utf8').digest('hex');
}

/** Compile and check a definition; throws CommandDefinitionError naming the part at fault. */
export function compileCommand(def: CommandDefinition): NamedCommand {
  const params = new Map<string, CompiledParam>();
  for (const [name, p] of Object.entries(def.params)) {
    let compiled: CompiledParam;
    try {
      compiled = compileParam(name, p);
    } catch (e) {
      throw new CommandDefinitionError(['params', name, 'pattern'], `does not compile: ${e instanceof Error ? e.message : String(e)}`);
    }
    const problem = definitionProblem(compiled);
    if (problem !== null) throw new CommandDefinitionError(['params', name], problem);
    params.set(name, compiled);
  }
  let template: CompiledTemplate;
  try {
    template = compileTemplate(def.argv, new Set(params.keys()));
  } catch (e) {
    if (e instanceof TemplateError) throw new CommandDefinitionError(e.index < 0 ? ['argv'] : ['argv', e.index], e.message);
    throw e;
  }
  for (const name of params.keys()) {
    if (!template.params.has(name)) throw new CommandDefinitionError(['params', name], `is never used in argv (add {${name}} or remove it)`);
  }
  return { definition: def, template, params, sha256: definitionSha256(def) };
}

function invalid(msg: string): RejectionError {
  return new RejectionError('INVALID_PARAMETER', msg, msg);
}

/**
 * Check `given` against `cmd` and build the argv: an unknown parameter, a missing one
 * without a default, a mistyped or non-matching value is RejectionError INVALID_PARAMETER
 * naming the parameter and the rule.
 */
export function resolveCall(cmd: NamedCommand, given: Readonly<Record<string, unknown>>): ResolvedCall {
  const name = cmd.definition.name;
  for (const key of Object.keys(given)) {
    if (!cmd.params.has(key)) {
      const shown = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
      throw invalid(`parameter ${shown}: command ${name} has no such parameter${cmd.params.size > 0 ? ` (it takes ${[...cmd.params.keys()].join(', ')})` : ' (it takes none)'}`);
    }
  }
  const values = new Map<string, string>();
  const used: Record<string, ParamValue> = {};
  for (const [key, p] of cmd.params) {
    const v = Object.hasOwn(given, key) ? given[key] : p.def.default;
    if (v === undefined) throw invalid(`parameter ${key}: is required by command ${name}`);
    values.set(key, checkParamValue(p, v));
    used[key] = v as ParamValue;
  }
  const d = cmd.definition;
  const overrides = { image: d.image, timeout_seconds: d.timeout_seconds, cpu_limit: d.cpu_limit, memory_limit: d.memory_limit, runtime: d.runtime };
  return { name, argv: substitute(cmd.template, values), params: used, sha256: cmd.sha256, overrides };
}

const indexes = new WeakMap<readonly NamedCommand[], ReadonlyMap<string, NamedCommand>>();

/** The command called `name` under `cfg`, or undefined. */
export function findCommand(cfg: { readonly commands: readonly NamedCommand[] }, name: string): NamedCommand | undefined {
  let index = indexes.get(cfg.commands);
  if (index === undefined) {
    index = new Map(cfg.commands.map((c) => [c.definition.name, c]));
    indexes.set(cfg.commands, index);
  }
  return index.get(name);
}
