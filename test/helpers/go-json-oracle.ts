/**
 * An independent oracle of Go's `encoding/json` Marshal, for the property tests of
 * internal/agent/wire/go-json.ts. It is written from Go's own rules, not from the
 * encoder under test, and it works on Go strings (UTF-8 byte arrays) the way Go does:
 *
 * - Decoding (decode.go `unquote`): a `\uXXXX` lone surrogate becomes U+FFFD; a valid
 *   pair becomes one rune. `goStringFromDecoded` turns a JS string into those bytes with
 *   its own UTF-16 → UTF-8 loop (no Buffer, no TextEncoder).
 * - Strings (encode.go `encodeState.string`, escapeHTML=true): bytes < 0x80 outside
 *   `htmlSafeSet` get a backslash (`\\`, `\"`, `\n`, `\r`, `\t`; `\b`/`\f` since Go 1.22),
 *   other such bytes `\u00xx` lowercase; a byte that does not start a valid UTF-8
 *   sequence becomes the 6-byte escape `\ufffd`; U+2028/U+2029 become `\u2028`/`\u2029`;
 *   everything else is copied raw.
 * - Floats (`floatEncoder`, bits=64): format 'e' iff abs != 0 && (abs < 1e-6 || abs >= 1e21),
 *   else 'f'; `strconv.AppendFloat(f, fmt, -1, 64)` (shortest digits; 'e' pads the
 *   exponent to two digits); then "e-0X" is cleaned to "e-X" (only that case).
 *   The shortest digits come from `toExponential()` (the round-trip digit string); the
 *   layout, the exponent switch and the sign of -0 are this file's, not `String(f)`'s.
 * - Maps: keys sorted with Go's `<` on strings, i.e. bytewise on their UTF-8.
 */

const HEX = '0123456789abcdef';

/** What Go's decoder stores for a JSON string whose decoded UTF-16 content is `js`. */
export function goStringFromDecoded(js: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < js.length; i++) {
    let cp = js.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < js.length) {
      const lo = js.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // lone surrogate → unicode.ReplacementChar
    encodeRune(out, cp);
  }
  return Uint8Array.from(out);
}

function encodeRune(out: number[], cp: number): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

/** utf8.DecodeRune: [rune, size]; [0xfffd, 1] for an invalid or truncated sequence. */
function decodeRune(s: Uint8Array, i: number): [number, number] {
  const b0 = s[i];
  const cont = (k: number): number => (i + k < s.length && (s[i + k] & 0xc0) === 0x80 ? s[i + k] & 0x3f : -1);
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    if (c1 >= 0) return [((b0 & 0x1f) << 6) | c1, 2];
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = cont(1);
    const c2 = cont(2);
    const cp = ((b0 & 0x0f) << 12) | (c1 << 6) | c2;
    if (c1 >= 0 && c2 >= 0 && cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) return [cp, 3];
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    const [c1, c2, c3] = [cont(1), cont(2), cont(3)];
    const cp = ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
    if (c1 >= 0 && c2 >= 0 && c3 >= 0 && cp >= 0x10000 && cp <= 0x10ffff) return [cp, 4];
  }
  return [0xfffd, 1];
}

function htmlSafe(b: number): boolean {
  return b >= 0x20 && b !== 0x22 && b !== 0x5c && b !== 0x3c && b !== 0x3e && b !== 0x26;
}

function pushAscii(out: number[], text: string): void {
  for (let k = 0; k < text.length; k++) out.push(text.charCodeAt(k));
}

/** encodeState.string(s, escapeHTML=true) on a Go string; `legacy` = Go before 1.22. */
export function goEncodeString(s: Uint8Array, legacy: boolean): number[] {
  const out: number[] = [0x22];
  for (let i = 0; i < s.length; ) {
    const b = s[i];
    if (b < 0x80) {
      i++;
      if (htmlSafe(b)) {
        out.push(b);
        continue;
      }
      out.push(0x5c);
      if (b === 0x5c || b === 0x22) out.push(b);
      else if (b === 0x0a) out.push(0x6e);
      else if (b === 0x0d) out.push(0x72);
      else if (b === 0x09) out.push(0x74);
      else if (b === 0x08 && !legacy) out.push(0x62);
      else if (b === 0x0c && !legacy) out.push(0x66);
      else pushAscii(out, `u00${HEX[b >> 4]}${HEX[b & 0xf]}`);
      continue;
    }
    const [c, size] = decodeRune(s, i);
    if (c === 0xfffd && size === 1) pushAscii(out, '\\ufffd');
    else if (c === 0x2028 || c === 0x2029) pushAscii(out, `\\u202${HEX[c & 0xf]}`);
    else for (let k = 0; k < size; k++) out.push(s[i + k]);
    i += size;
  }
  out.push(0x22);
  return out;
}

/** strconv.AppendFloat(f, fmt, -1, 64) for fmt 'e' or 'f', then floatEncoder's clean-up. */
export function goEncodeFloat(f: number): string {
  if (!Number.isFinite(f)) throw new TypeError('json: unsupported value');
  const neg = f < 0 || Object.is(f, -0);
  const abs = Math.abs(f);
  const fmt = abs !== 0 && (abs < 1e-6 || abs >= 1e21) ? 'e' : 'f';
  // Shortest round-trip digits and the decimal exponent: abs = 0.d1d2... × 10^dp.
  const [mant, expText] = abs.toExponential().split('e');
  const digits = mant.replace('.', '');
  const dp = Number(expText) + 1;
  let body: string;
  if (fmt === 'e') {
    const exp = dp - 1;
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const e = Math.abs(exp);
    body = `${digits[0]}${frac}e${exp < 0 ? '-' : '+'}${e < 10 ? `0${e}` : String(e)}`;
    if (/e-0\d$/.test(body)) body = body.slice(0, -2) + body.slice(-1); // "clean up e-09 to e-9"
  } else if (abs === 0) {
    body = '0';
  } else {
    let int = '';
    for (let k = 0; k < dp; k++) int += k < digits.length ? digits[k] : '0';
    let frac = '';
    const prec = Math.max(digits.length - dp, 0);
    for (let k = 0; k < prec; k++) frac += dp + k >= 0 && dp + k < digits.length ? digits[dp + k] : '0';
    body = (int === '' ? '0' : int) + (frac === '' ? '' : `.${frac}`);
  }
  return (neg ? '-' : '') + body;
}

/** Go's `a < b` on strings: bytewise, a proper prefix first. */
export function goStringLess(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return a.length < b.length;
}

/** json.Marshal of the interface{} Go's decoder made of `v` (a JSON.parse-like value). */
export function goOracleMarshal(v: unknown, legacy: boolean): Buffer {
  const out: number[] = [];
  const walk = (x: unknown): void => {
    if (x === null) pushAscii(out, 'null');
    else if (typeof x === 'boolean') pushAscii(out, x ? 'true' : 'false');
    else if (typeof x === 'number') pushAscii(out, goEncodeFloat(x));
    else if (typeof x === 'string') out.push(...goEncodeString(goStringFromDecoded(x), legacy));
    else if (Array.isArray(x)) {
      out.push(0x5b);
      x.forEach((item, i) => {
        if (i > 0) out.push(0x2c);
        walk(item);
      });
      out.push(0x5d);
    } else if (typeof x === 'object') {
      // A Go map: a later duplicate key (after U+FFFD replacement) overwrites an earlier one.
      const byKey = new Map<string, { key: Uint8Array; value: unknown }>();
      for (const [k, value] of Object.entries(x)) {
        const key = goStringFromDecoded(k);
        byKey.set(Array.from(key).join(','), { key, value });
      }
      const entries = [...byKey.values()].sort((a, b) => (goStringLess(a.key, b.key) ? -1 : goStringLess(b.key, a.key) ? 1 : 0));
      out.push(0x7b);
      entries.forEach((e, i) => {
        if (i > 0) out.push(0x2c);
        out.push(...goEncodeString(e.key, legacy), 0x3a);
        walk(e.value);
      });
      out.push(0x7d);
    } else throw new TypeError(`json: unsupported type ${typeof x}`);
  };
  walk(v);
  return Buffer.from(out);
}
