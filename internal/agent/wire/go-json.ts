/**
 * Renders values byte-for-byte as Go's `encoding/json` `Marshal` does, because the
 * original Go controller signs `json.Marshal(payload)` rather than the bytes it sends
 * (SPEC §3 "Signed job"). Any deviation here is a signature mismatch on real traffic, so
 * each Go rule is written out next to the code that implements it. Checked against the
 * Go-made vectors in test/fixtures/signing-v1.json and the Go-rule vectors (with an oracle
 * of encode.go) in test/fixtures/go-json-rules.json. A generic encoder: the payload's own
 * field order is `goMarshalPayload` in payload.ts.
 */
/** Encoder variants that exist among deployed Go controllers. */
export interface GoJsonOptions {
  /**
   * Go < 1.22 wrote U+0008/U+000C as `\u0008`/`\u000c`; Go >= 1.22 writes `\b`/`\f`
   * (golang/go#47234). Both forms are in the field, so verification tries both.
   */
  legacyControlEscapes: boolean;
}

/** The encoder of current Go releases; what our own controllers emit. */
export const MODERN_GO: GoJsonOptions = Object.freeze({ legacyControlEscapes: false });
/** The encoder of Go before 1.22. */
export const LEGACY_GO: GoJsonOptions = Object.freeze({ legacyControlEscapes: true });

// Recursion guard for caller-built metadata (a cycle must be an error, not a stack overflow).
const MAX_VALUE_DEPTH = 1000;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Replaces lone UTF-16 surrogates with U+FFFD. Go strings are UTF-8; Go's decoder turns
 * a lone `\ud800` escape (and invalid UTF-8) into U+FFFD before the value is re-marshalled,
 * so the signed bytes always carry U+FFFD there.
 */
export function toWellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

// Characters that leave Go's "safe" fast path: C0 controls, `"`, `\`, the HTML-significant
// `<`, `>`, `&` (Marshal always uses escapeHTML=true), U+2028/2029 and any surrogate.
const NEEDS_WORK = /[\u0000-\u001f"\\<>&\u2028\u2029\uD800-\uDFFF]/;
const HEX = '0123456789abcdef';

/**
 * Quotes a string as Go's `encodeState.string` with escapeHTML=true:
 * - `"` and `\` get a backslash; `\n`, `\r`, `\t` use their short forms;
 * - `\b`, `\f`: short forms since Go 1.22, `\u0008`/`\u000c` before (see GoJsonOptions);
 * - every other byte < 0x20 becomes `\u00XX` with lowercase hex;
 * - `<`, `>`, `&` become `\u003c`, `\u003e`, `\u0026` (HTML-safe output);
 * - U+2028/U+2029 become `\u2028`/`\u2029` (JSONP safety);
 * - DEL, `/` and all other characters, astral included, are written raw as UTF-8;
 * - lone surrogates become U+FFFD written raw (what Go's decoder produced; see toWellFormed).
 */
export function goQuote(s: string, opts: GoJsonOptions): string {
  if (!NEEDS_WORK.test(s)) return `"${s}"`;
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | null = null;
    if (c < 0x20) {
      switch (c) {
        case 0x0a:
          rep = '\\n';
          break;
        case 0x0d:
          rep = '\\r';
          break;
        case 0x09:
          rep = '\\t';
          break;
        case 0x08:
          rep = opts.legacyControlEscapes ? '\\u0008' : '\\b';
          break;
        case 0x0c:
          rep = opts.legacyControlEscapes ? '\\u000c' : '\\f';
          break;
        default:
          rep = `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`;
      }
    } else if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = '\\\\';
    else if (c === 0x3c) rep = '\\u003c';
    else if (c === 0x3e) rep = '\\u003e';
    else if (c === 0x26) rep = '\\u0026';
    else if (c === 0x2028) rep = '\\u2028';
    else if (c === 0x2029) rep = '\\u2029';
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++; // a valid pair: raw
      else rep = '\uFFFD';
    } else if (c >= 0xdc00 && c <= 0xdfff) rep = '\uFFFD';
    if (rep !== null) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

/**
 * Formats a float64 as Go's `floatEncoder` (bits=64): `strconv.FormatFloat(f, 'f', -1, 64)`
 * when f == 0 or 1e-6 <= |f| < 1e21, else the 'e' form with a two-digit exponent whose
 * leading zero Go then strips (`1e-07` → `1e-7`; `1e+21` stays). Both use the shortest
 * digits that round-trip, as does JS `Number#toString`, which also switches to exponent
 * form at exactly the same thresholds — so the JS text is reused, with two fixes: Go keeps
 * the sign of negative zero (`-0`), and the exponent is normalised defensively.
 */
export function goFormatFloat(f: number): string {
  if (!Number.isFinite(f)) {
    // Go's Marshal fails with UnsupportedValueError; there is no JSON for these.
    throw new TypeError(`cannot encode ${f} as JSON`);
  }
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const s = String(f);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const mantissa = s.slice(0, e);
  const sign = s[e + 1] === '-' ? '-' : '+';
  const digits = s.slice(e + 2).replace(/^0+(?=\d)/, '');
  return `${mantissa}e${sign}${digits}`;
}

/** Formats a Go int64 field (ttl, timestamp) as `strconv.FormatInt`. */
export function goFormatInt(n: number): string {
  if (!Number.isSafeInteger(n)) throw new TypeError(`not an integer: ${n}`);
  return n === 0 ? '0' : String(n); // no "-0" for integers
}

function compareUtf8(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

/**
 * Marshals a metadata value as Go marshals the `interface{}` its decoder produced:
 * null → `null`; bool; number → float64 (goFormatFloat); string → goQuote;
 * array → `[...]`; object (`map[string]interface{}`) → `{...}` with keys sorted by their
 * UTF-8 bytes (Go sorts map keys with `strings.Compare`, i.e. bytewise — NOT UTF-16 order,
 * which differs for astral vs U+E000..U+FFFF). Keys are made well-formed before sorting,
 * as Go's decoder already did. Anything else (undefined, bigint, functions, class
 * instances, cycles) is a TypeError: it has no Go counterpart and could not be signed.
 */
export function goMarshalValue(v: unknown, opts: GoJsonOptions, depth = 0): string {
  if (depth > MAX_VALUE_DEPTH) throw new TypeError('value nested too deeply (cycle?)');
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return goFormatFloat(v);
    case 'string':
      return goQuote(v, opts);
    case 'object':
      break;
    default:
      throw new TypeError(`cannot encode a ${typeof v} as JSON`);
  }
  if (Array.isArray(v)) {
    const items: string[] = [];
    for (const item of v as unknown[]) items.push(goMarshalValue(item, opts, depth + 1));
    return `[${items.join(',')}]`;
  }
  return goMarshalMap(v, opts, depth);
}

/** Marshals a plain object as a Go map (see goMarshalValue); refuses non-plain objects. */
export function goMarshalMap(v: object, opts: GoJsonOptions, depth: number): string {
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw new TypeError('cannot encode a non-plain object as JSON');
  const record = v as Record<string, unknown>;
  const entries: { key: string; bytes: Buffer; raw: string }[] = [];
  const seen = new Set<string>();
  for (const raw of Object.keys(record)) {
    const key = toWellFormed(raw);
    // Two keys that collapse to one after U+FFFD replacement would be a silent overwrite in Go.
    if (seen.has(key)) throw new TypeError('object keys collide after U+FFFD replacement');
    seen.add(key);
    entries.push({ key, bytes: Buffer.from(key, 'utf8'), raw });
  }
  entries.sort((a, b) => compareUtf8(a.bytes, b.bytes));
  const parts = entries.map((e) => `${goQuote(e.key, opts)}:${goMarshalValue(record[e.raw], opts, depth + 1)}`);
  return `{${parts.join(',')}}`;
}
