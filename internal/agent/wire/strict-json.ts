/**
 * A strict RFC 8259 JSON parser for request bodies that will be signature-checked.
 *
 * Why not JSON.parse: it silently keeps the last of duplicate keys (a signer and a
 * verifier could then read different documents), turns `__proto__` into a prototype
 * hazard for naive consumers, loses the literal text of numbers (so `1.0` and `1` look
 * the same, and `ttl` must be an integer literal), and recurses natively (deep nesting
 * can exhaust the stack). This parser is iterative, depth-limited, refuses duplicates
 * and keeps each number's raw text next to its float64 value.
 */

/** A JSON number: `raw` is the literal text exactly as sent, `value` its float64 (never ±Infinity). */
export class JsonNumber {
  constructor(
    readonly raw: string,
    readonly value: number,
  ) {}
}

/** A JSON object; a Map so that keys such as `__proto__` are ordinary data. Insertion-ordered. */
export type JsonObject = Map<string, JsonValue>;

/** Any parsed JSON value. */
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

/** Thrown for anything that is not a single, unambiguous, depth-bounded JSON text. */
export class JsonSyntaxError extends Error {
  /** Offset (UTF-16 code units) in the input where the problem was found. */
  readonly position: number;
  constructor(message: string, position: number) {
    super(`${message} at position ${position}`);
    this.name = 'JsonSyntaxError';
    this.position = position;
  }
}

/** Parser limits. */
export interface StrictJsonOptions {
  /** Most containers (objects + arrays) that may be open at once; deeper input is refused. */
  maxDepth: number;
}

// Sticky so it matches only at the current offset; the grammar is RFC 8259 §6 verbatim.
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/**
 * Key used for duplicate detection: lone surrogates become U+FFFD, because that is what
 * the canonical (Go) form turns them into — two keys that differ only there would collide
 * after canonicalisation, which is exactly the ambiguity duplicates are refused for.
 */
function dedupeKey(key: string): string {
  return key.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

type Frame =
  | { kind: 'array'; value: JsonValue[] }
  | { kind: 'object'; value: JsonObject; seen: Set<string>; key: string };

/** Parses one JSON text strictly; throws JsonSyntaxError on any deviation (see file comment). */
export function parseStrictJson(text: string, opts: StrictJsonOptions): JsonValue {
  const len = text.length;
  let pos = 0;
  const stack: Frame[] = [];

  function fail(message: string, at: number = pos): never {
    throw new JsonSyntaxError(message, at);
  }

  const skipWs = (): void => {
    // RFC 8259 whitespace only: no BOM, no NBSP, no other Unicode spaces.
    while (pos < len) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };

  const parseString = (): string => {
    // Caller guarantees text[pos] === '"'.
    pos++;
    let out = '';
    let chunkStart = pos;
    for (;;) {
      if (pos >= len) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(chunkStart, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(chunkStart, pos);
      const e = text[pos + 1];
      if (e === undefined) fail('unterminated escape');
      if (e === 'u') {
        const hex = text.slice(pos + 2, pos + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) fail('invalid \\u escape');
        // Lone surrogates stay as the lone code unit; the canonical encoder replaces them.
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
      } else {
        const decoded = SIMPLE_ESCAPES[e];
        if (decoded === undefined) fail('invalid escape');
        out += decoded;
        pos += 2;
      }
      chunkStart = pos;
    }
  };

  const parseNumber = (): JsonNumber => {
    NUMBER_RE.lastIndex = pos;
    const m = NUMBER_RE.exec(text);
    if (m === null) return fail('invalid number');
    const raw = m[0];
    const value = Number(raw);
    // Go's decoder refuses numbers that overflow float64 (strconv.ErrRange); so do we.
    if (!Number.isFinite(value)) fail('number out of range');
    pos += raw.length;
    return new JsonNumber(raw, value);
  };

  const parseLiteral = (word: string, value: boolean | null): boolean | null => {
    if (text.startsWith(word, pos)) {
      pos += word.length;
      return value;
    }
    return fail('invalid literal');
  };

  const push = (frame: Frame): void => {
    if (stack.length >= opts.maxDepth) fail(`nesting deeper than ${opts.maxDepth}`);
    stack.push(frame);
  };

  /** Reads `"key" :` inside an object and records the key on the frame. */
  const readKey = (frame: Extract<Frame, { kind: 'object' }>): void => {
    if (text.charCodeAt(pos) !== 0x22) fail('expected string key');
    const keyPos = pos;
    const key = parseString();
    const norm = dedupeKey(key);
    if (frame.seen.has(norm)) fail('duplicate object key', keyPos);
    frame.seen.add(norm);
    frame.key = key;
    skipWs();
    if (text.charCodeAt(pos) !== 0x3a) fail("expected ':'");
    pos++;
  };

  // Iterative descent: `value` holds the last completed value; containers live on `stack`.
  for (;;) {
    skipWs();
    if (pos >= len) fail('unexpected end of input');
    let value: JsonValue;
    const c = text.charCodeAt(pos);
    if (c === 0x7b) {
      pos++;
      const frame: Frame = { kind: 'object', value: new Map(), seen: new Set(), key: '' };
      push(frame);
      skipWs();
      if (text.charCodeAt(pos) === 0x7d) {
        pos++;
        stack.pop();
        value = frame.value;
      } else {
        readKey(frame);
        continue;
      }
    } else if (c === 0x5b) {
      pos++;
      const frame: Frame = { kind: 'array', value: [] };
      push(frame);
      skipWs();
      if (text.charCodeAt(pos) === 0x5d) {
        pos++;
        stack.pop();
        value = frame.value;
      } else {
        continue;
      }
    } else if (c === 0x22) {
      value = parseString();
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      value = parseNumber();
    } else if (c === 0x74) {
      value = parseLiteral('true', true);
    } else if (c === 0x66) {
      value = parseLiteral('false', false);
    } else if (c === 0x6e) {
      value = parseLiteral('null', null);
    } else {
      return fail('unexpected character');
    }

    // Attach the completed value to its parent, closing as many containers as end here.
    for (;;) {
      const top = stack[stack.length - 1];
      if (top === undefined) {
        skipWs();
        if (pos !== len) fail('trailing data after JSON value');
        return value;
      }
      if (top.kind === 'array') top.value.push(value);
      else top.value.set(top.key, value);
      skipWs();
      const d = text.charCodeAt(pos);
      if (d === 0x2c) {
        pos++;
        if (top.kind === 'object') {
          skipWs();
          readKey(top);
        }
        break;
      }
      if ((top.kind === 'array' && d === 0x5d) || (top.kind === 'object' && d === 0x7d)) {
        pos++;
        stack.pop();
        value = top.value;
        continue;
      }
      return fail(top.kind === 'array' ? "expected ',' or ']'" : "expected ',' or '}'");
    }
  }
}
