/**
 * Typed parameters of named commands (SPEC §11), pure: the rule of each type, the check of
 * a submitted value against it (400 INVALID_PARAMETER naming the parameter and the rule),
 * and the load-time check that a default obeys its own rule. A checked value becomes the
 * text substituted into the argv: strings and enum values as they are, integers in
 * decimal, booleans as `true` / `false`.
 */
import vm from 'node:vm';
import { RejectionError } from '../errors.js';

/** Longest `max_length` a string parameter may declare. */
export const MAX_STRING_PARAM_LENGTH = 4096;
/** `max_length` of a string parameter that declares none. */
export const DEFAULT_STRING_PARAM_LENGTH = 256;

/** A string: optional pattern (anchored full match), length in characters (code points). */
export interface StringParam {
  readonly type: 'string';
  readonly description?: string | undefined;
  readonly pattern?: string | undefined;
  readonly max_length: number;
  readonly default?: string | undefined;
}

/** A safe integer within [min, max]. */
export interface IntegerParam {
  readonly type: 'integer';
  readonly description?: string | undefined;
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  readonly default?: number | undefined;
}

/** true or false. */
export interface BooleanParam {
  readonly type: 'boolean';
  readonly description?: string | undefined;
  readonly default?: boolean | undefined;
}

/** One of a fixed list of strings. */
export interface EnumParam {
  readonly type: 'enum';
  readonly description?: string | undefined;
  readonly values: readonly string[];
  readonly default?: string | undefined;
}

/** A parameter definition as the config declares it. */
export type ParamDef = StringParam | IntegerParam | BooleanParam | EnumParam;

/** Longest a pattern may run on one value; past it the value is refused. */
export const PATTERN_BUDGET_MS = 100;

const MATCH = new vm.Script('re.test(s)');

/**
 * A pattern run under a time budget. JavaScript regular expressions backtrack, and a
 * pattern with nested repetition (`(a+)+b`) takes exponential time on some values; the
 * pattern is the operator's, but the value is a controller's and a match runs on the
 * agent's only thread. V8 interrupts a match run through `vm` with a timeout, so a value
 * costs at most PATTERN_BUDGET_MS (and about 0.2 ms when it matches normally). The
 * budget is CPU, not wall time: on a loaded host the thread can sit descheduled past the
 * timeout while the match itself is cheap, so a timeout that used less than half the
 * budget in CPU is tried again (at most DESCHEDULED_RETRIES times) before the value is
 * refused. The context is made on first use and holds nothing between calls.
 */
export class BoundedPattern {
  private context: vm.Context | null = null;

  constructor(readonly regex: RegExp) {}

  /** True or false, or null when the match ran out of time. */
  test(value: string): boolean | null {
    this.context ??= vm.createContext(Object.create(null) as object);
    const ctx = this.context as { re?: RegExp; s?: string };
    ctx.re = this.regex;
    ctx.s = value;
    try {
      for (let attempt = 0; ; attempt++) {
        const cpu = process.cpuUsage();
        try {
          return MATCH.runInContext(this.context, { timeout: PATTERN_BUDGET_MS }) === true;
        } catch (e) {
          if ((e as { code?: string }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw e;
          const used = process.cpuUsage(cpu);
          const usedMs = (used.user + used.system) / 1000;
          if (usedMs >= PATTERN_BUDGET_MS / 2 || attempt >= DESCHEDULED_RETRIES) return null;
        }
      }
    } finally {
      ctx.s = '';
    }
  }
}

/** Tries of a match that timed out while using little CPU (the host was busy, not the pattern). */
const DESCHEDULED_RETRIES = 2;

/** A parameter with its pattern compiled once, at load. */
export interface CompiledParam {
  readonly name: string;
  readonly def: ParamDef;
  /** The pattern as the agent applies it (`^(?:pattern)$`, unicode, time-bounded), or null. */
  readonly pattern: BoundedPattern | null;
}

/** The agent's anchoring of an author's pattern: always a full match, whatever the author wrote. */
export function compilePattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`, 'u');
}

/** Compile one definition; throws Error (with the reason) on a pattern that does not compile. */
export function compileParam(name: string, def: ParamDef): CompiledParam {
  return { name, def, pattern: def.type === 'string' && def.pattern !== undefined ? new BoundedPattern(compilePattern(def.pattern)) : null };
}

/** The rule of a parameter in words, for messages and `quickcmd commands`. */
export function describeRule(def: ParamDef): string {
  switch (def.type) {
    case 'string':
      return `a string of at most ${def.max_length} characters${def.pattern !== undefined ? ` matching ${def.pattern}` : ''}`;
    case 'integer':
      return `an integer${def.min !== undefined ? ` >= ${def.min}` : ''}${def.min !== undefined && def.max !== undefined ? ' and' : ''}${def.max !== undefined ? ` <= ${def.max}` : ''}`;
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${def.values.join(', ')}`;
  }
}

function invalid(name: string, def: ParamDef, why: string): RejectionError {
  const msg = `parameter ${name}: ${why}; must be ${describeRule(def)}`;
  return new RejectionError('INVALID_PARAMETER', msg, msg);
}

/** Short, safe rendering of a caller's value for a message. */
function shown(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

/**
 * The argv text of `value` for parameter `p`, or RejectionError INVALID_PARAMETER naming
 * it and its rule. NUL is refused for every type, pattern or not.
 */
export function checkParamValue(p: CompiledParam, value: unknown): string {
  const { name, def } = p;
  switch (def.type) {
    case 'string': {
      if (typeof value !== 'string') throw invalid(name, def, `got ${typeof value === 'object' ? (value === null ? 'null' : 'an object') : `a ${typeof value}`}`);
      if (value.includes('\0')) throw invalid(name, def, 'contains NUL');
      const length = [...value].length;
      if (length > def.max_length) throw invalid(name, def, `is ${length} characters long`);
      if (p.pattern !== null) {
        const ok = p.pattern.test(value);
        if (ok === null) throw invalid(name, def, `the pattern did not finish within ${PATTERN_BUDGET_MS} ms on ${shown(value)}`);
        if (!ok) throw invalid(name, def, `${shown(value)} does not match`);
      }
      return value;
    }
    case 'integer': {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(name, def, `got ${shown(value)}`);
      if (def.min !== undefined && value < def.min) throw invalid(name, def, `${value} is below the minimum`);
      if (def.max !== undefined && value > def.max) throw invalid(name, def, `${value} is above the maximum`);
      return String(value === 0 ? 0 : value);
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw invalid(name, def, `got ${shown(value)}`);
      return value ? 'true' : 'false';
    case 'enum':
      if (typeof value !== 'string' || !def.values.includes(value)) throw invalid(name, def, `got ${shown(value)}`);
      return value;
  }
}

/** Why a definition is unusable (min above max, a default failing its own rule), or null. Load time. */
export function definitionProblem(p: CompiledParam): string | null {
  const { def } = p;
  if (def.type === 'integer' && def.min !== undefined && def.max !== undefined && def.min > def.max) return 'min is above max';
  if (def.type === 'enum' && new Set(def.values).size !== def.values.length) return 'values lists a value twice';
  if (def.default === undefined) return null;
  try {
    checkParamValue(p, def.default);
    return null;
  } catch (e) {
    return `default ${e instanceof RejectionError ? e.message.replace(/^parameter [^:]+: /, '') : String(e)}`;
  }
}
