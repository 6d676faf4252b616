/**
 * Argv templates of named commands (SPEC §11), pure. A template is a list of elements
 * fixed at load time; `{name}` is a placeholder for parameter `name`. A placeholder fills a
 * whole element (`"{path}"`) or the rest of one after a literal prefix (`"--path={path}"`);
 * `{{name}}` is a literal `{name}`. A placeholder anywhere else is refused at load, so a value can never sit between two literal parts
 * that a reader of the config would take for separate words.
 *
 * Substitution is one pass over the compiled elements: a value is appended to its
 * element's literal prefix and never looked at again, so a value containing `{other}`,
 * spaces, quotes or newlines stays inside its element. No value can add, remove or split
 * an element, and no literal part can change (test/unit/argv-template.test.ts proves it
 * with fast-check).
 */

/**
 * `{{name}}` (group 1) is the escape for a literal `{name}`; `{name}` (group 2) is a
 * placeholder. Any other brace is a literal character (`awk '{print $1}'` needs no escape).
 */
const TOKEN = /\{\{([a-z][a-z0-9_]{0,62})\}\}|\{([a-z][a-z0-9_]{0,62})\}/g;

/** One element of a compiled template: a literal, optionally followed by one parameter's value. */
export interface TemplateElement {
  /** The literal text (the whole element when `param` is null, else the prefix before the value). */
  readonly literal: string;
  /** The parameter that fills the rest of the element, or null for a pure literal. */
  readonly param: string | null;
}

/** A template checked and compiled at load. */
export interface CompiledTemplate {
  readonly elements: readonly TemplateElement[];
  /** Parameters the template uses. */
  readonly params: ReadonlySet<string>;
}

/** A template problem found at load: `index` is the argv element at fault (or -1 for the whole). */
export class TemplateError extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Compile `argv` against the declared parameter names; throws TemplateError. */
export function compileTemplate(argv: readonly string[], declared: ReadonlySet<string>): CompiledTemplate {
  if (argv.length === 0) throw new TemplateError(-1, 'must have at least one element');
  const used = new Set<string>();
  const elements = argv.map((el, i): TemplateElement => {
    if (el.includes('\0')) throw new TemplateError(i, 'must not contain NUL');
    let literal = '';
    let at = 0;
    for (const m of el.matchAll(TOKEN)) {
      literal += el.slice(at, m.index);
      at = m.index + m[0].length;
      if (m[1] !== undefined) {
        literal += `{${m[1]}}`;
        continue;
      }
      const name = m[2] as string;
      if (at !== el.length) {
        throw new TemplateError(i, `${JSON.stringify(el)}: a placeholder must fill the whole element or end it after a literal prefix (at most one per element; write {{${name}}} for a literal {${name}})`);
      }
      if (!declared.has(name)) throw new TemplateError(i, `placeholder {${name}} has no parameter of that name in params (write {{${name}}} for a literal {${name}})`);
      // The program is the operator's choice, never a caller's (not even part of its path).
      if (i === 0) throw new TemplateError(i, 'the program (first element) cannot contain a placeholder');
      used.add(name);
      return { literal, param: name };
    }
    return { literal: literal + el.slice(at), param: null };
  });
  return { elements, params: used };
}

/**
 * The argv of `t` with `values` (parameter name → its text, already checked). One pass;
 * throws if a used parameter has no value or a value holds NUL (the caller checks both
 * first; this is the last line of defence before Docker).
 */
export function substitute(t: CompiledTemplate, values: ReadonlyMap<string, string>): string[] {
  return t.elements.map((e) => {
    if (e.param === null) return e.literal;
    const v = values.get(e.param);
    if (v === undefined) throw new TypeError(`no value for parameter ${e.param}`);
    if (v.includes('\0')) throw new TypeError(`the value of parameter ${e.param} contains NUL`);
    return e.literal + v;
  });
}
