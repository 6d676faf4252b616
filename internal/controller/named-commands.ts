/**
 * Named commands on the controller side (SPEC §11): the agent's list
 * (`GET /api/v1/commands`) narrowed, `--param k=v` flags typed by the agent's own
 * definition (a wrong one fails here, before anything is sent), the table of
 * `quickcmd commands`, and the per-agent specs a run submits. Every run path (one agent,
 * fan-out, selectors) goes through `namedSpecs`.
 */
import { checkParamValue, compileParam, describeRule, type ParamDef } from '../agent/door/command-params.js';
import { RejectionError } from '../agent/errors.js';
import { ControllerError, SettingsError } from './controller-error.js';
import type { NamedCall, ParamValue, RunSpec } from './job-request.js';
import { formatTable } from './render.js';

/** A `--param` value its agent's definition refuses: one line and exit 2, without the usage text. */
export class ParamError extends SettingsError {
  constructor(message: string) {
    super(message);
    this.name = 'ParamError';
  }
}

/** One command as the agent lists it. */
export interface ListedCommand {
  readonly name: string;
  readonly description: string;
  readonly params: Readonly<Record<string, ParamDef>>;
  readonly scopes: readonly string[];
  /** SHA-256 of the agent's definition. */
  readonly sha256: string | null;
}

/** `GET /api/v1/commands`. */
export interface CommandList {
  readonly commands: readonly ListedCommand[];
  readonly shell: boolean;
}

const PARAM_FLAG = /^([a-z][a-z0-9_]{0,62})=([\s\S]*)$/;
const TYPES = new Set(['string', 'integer', 'boolean', 'enum']);

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function strings(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
}

function narrowParam(v: unknown): ParamDef | null {
  const p = record(v);
  if (p === null || typeof p['type'] !== 'string' || !TYPES.has(p['type'])) return null;
  if (p['type'] === 'enum' && strings(p['values']) === null) return null;
  if (p['type'] === 'string' && typeof p['max_length'] !== 'number') return null;
  return p as unknown as ParamDef;
}

/** Narrow the agent's answer; null when it is not a command list. */
export function parseCommandList(text: string): CommandList | null {
  let body: Record<string, unknown> | null;
  try {
    body = record(JSON.parse(text) as unknown);
  } catch {
    return null;
  }
  if (body === null || !Array.isArray(body['commands']) || typeof body['shell'] !== 'boolean') return null;
  const commands: ListedCommand[] = [];
  for (const item of body['commands'] as unknown[]) {
    const c = record(item);
    const params = record(c?.['params']);
    if (c === null || typeof c['name'] !== 'string' || params === null) return null;
    const typed: Record<string, ParamDef> = {};
    for (const [k, v] of Object.entries(params)) {
      const p = narrowParam(v);
      if (p === null) return null;
      typed[k] = p;
    }
    commands.push({ name: c['name'], description: typeof c['description'] === 'string' ? c['description'] : '', params: typed, scopes: strings(c['scopes']) ?? [], sha256: typeof c['sha256'] === 'string' ? c['sha256'] : null });
  }
  return { commands, shell: body['shell'] };
}

/** `--param k=v` flags (repeatable) as raw text; a flag given twice or without `=` is a usage error. */
export function parseParamFlags(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const m = PARAM_FLAG.exec(item);
    if (m === null) throw new SettingsError(`--param ${JSON.stringify(item)}: expected NAME=VALUE (NAME: lower-case letters, digits, _)`);
    const [, k, v] = m as unknown as [string, string, string];
    if (Object.hasOwn(out, k)) throw new SettingsError(`--param ${k} is given twice`);
    out[k] = v;
  }
  return out;
}

/** The text of a flag as the JSON value its type wants (a number for an integer, a boolean for a boolean). */
function typed(def: ParamDef, text: string): unknown {
  switch (def.type) {
    case 'integer':
      return /^-?\d{1,16}$/.test(text) ? Number(text) : text;
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text;
    case 'string':
    case 'enum':
      return text;
  }
}

/**
 * Type `raw` by `cmd`'s definition and check it as the agent will: an unknown parameter, a
 * missing required one or a value breaking its rule is a SettingsError naming it.
 */
export function typeParams(cmd: ListedCommand, raw: Readonly<Record<string, string>>, agent: string): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [k, text] of Object.entries(raw)) {
    const def = cmd.params[k];
    if (def === undefined) {
      const known = Object.keys(cmd.params);
      throw new ParamError(`agent ${agent}: command ${cmd.name}: --param ${k}: no such parameter (${known.length > 0 ? `it takes ${known.join(', ')}` : 'it takes none'})`);
    }
    const value = typed(def, text);
    try {
      checkParamValue(compileParam(k, def), value);
    } catch (e) {
      if (e instanceof RejectionError) throw new ParamError(`agent ${agent}: command ${cmd.name}: --param ${k}: ${e.message.replace(/^parameter [^:]+: /, '')}`);
      throw e;
    }
    out[k] = value as ParamValue;
  }
  for (const [k, def] of Object.entries(cmd.params)) {
    if (!Object.hasOwn(out, k) && def.default === undefined) throw new ParamError(`agent ${agent}: command ${cmd.name}: --param ${k}: is required (${describeRule(def)})`);
  }
  return out;
}

/** The spec of `run|job submit --command NAME [--param K=V]...`; throws SettingsError on a wrong combination. */
export function namedRunSpec(name: string, words: readonly string[], f: { param: readonly string[]; env: readonly string[]; image?: string; timeout?: number; memory?: number; cpus?: number; runtime?: string; jobId?: string }): RunSpec {
  if (words.length > 0) throw new SettingsError('give either --command NAME or a command after --, not both');
  if (f.env.length > 0) throw new SettingsError('--env cannot be used with --command: a named command runs with the environment its definition gives it');
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name)) throw new SettingsError(`--command ${JSON.stringify(name)}: a command name is [a-z0-9][a-z0-9._-]{0,62}`);
  return { command: '', named: { name, params: parseParamFlags(f.param), untyped: true }, image: f.image, timeoutSeconds: f.timeout, memoryBytes: f.memory, cpus: f.cpus, runtime: f.runtime, jobId: f.jobId };
}

/** Where a run reads an agent's command list (an AgentClient, or a broker client). */
export interface CommandSource {
  readonly name: string;
  commands(): Promise<CommandList>;
}

/**
 * The spec each agent gets for a named run whose params are command-line text
 * (`untyped`): its `--param` values typed by that agent's
 * definition, fetched from every agent first, so a wrong one fails before anything is
 * sent. An agent whose list cannot be read (an older agent, a network error) or that does
 * not list the command gets the values as text and answers for itself. A shell run is
 * returned as it is for every agent.
 */
export async function namedSpecs(clients: readonly CommandSource[], spec: RunSpec): Promise<(agent: string) => RunSpec> {
  const call = spec.named;
  if (call?.untyped !== true) return () => spec;
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.params)) raw[k] = String(v);
  const lists = await Promise.all(clients.map((c) => c.commands().catch((e: unknown) => (e instanceof ControllerError ? null : Promise.reject(e)))));
  const specs = new Map<string, RunSpec>();
  clients.forEach((c, i) => {
    const def = lists[i]?.commands.find((x) => x.name === call.name);
    const params = def === undefined ? raw : typeParams(def, raw, c.name);
    specs.set(c.name, { ...spec, named: { name: call.name, params } satisfies NamedCall });
  });
  return (agent) => specs.get(agent) ?? spec;
}

function paramSummary(name: string, def: ParamDef): string {
  const dflt = def.default === undefined ? '' : `=${String(def.default)}`;
  switch (def.type) {
    case 'string':
      return `${name}:string${def.pattern !== undefined ? `(${def.pattern})` : ''}${dflt}`;
    case 'integer':
      return `${name}:integer${def.min !== undefined || def.max !== undefined ? `[${def.min ?? ''}..${def.max ?? ''}]` : ''}${dflt}`;
    case 'boolean':
      return `${name}:boolean${dflt}`;
    case 'enum':
      return `${name}:enum(${def.values.join('|')})${dflt}`;
  }
}

/** The table of `quickcmd commands`: NAME, PARAMS (name:type, `=default`), DESCRIPTION, then the shell line. */
export function renderCommandList(list: CommandList): string {
  const rows = [['NAME', 'PARAMS', 'DESCRIPTION']];
  for (const c of list.commands) {
    const params = Object.entries(c.params).map(([k, d]) => paramSummary(k, d)).join(' ');
    rows.push([c.name, params === '' ? '-' : params, c.description === '' ? '-' : c.description]);
  }
  const table = list.commands.length === 0 ? 'no named commands for this controller\n' : formatTable(rows);
  return `${table}shell commands: ${list.shell ? 'allowed' : 'not allowed'}\n`;
}
