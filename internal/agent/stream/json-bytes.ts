/**
 * A JSON document with one string field, straight from the field's UTF-8 bytes. Byte for
 * byte what `Buffer.from(JSON.stringify(...data.toString('utf8')...))` gives, without the
 * UTF-16 round trip: Node 20's JSON.stringify was the largest single cost per output frame
 * in the streaming profile (and slower still for non-ASCII text). Valid UTF-8 is viewed as
 * latin1 (one char per byte, no decoding); only `"`, `\` and C0 controls are escaped, as
 * JSON.stringify escapes them (\b \t \n \f \r, else \u00xx in lower case); bytes of
 * multi-byte characters are ≥ 0x80 and pass through. Invalid UTF-8 (which decoding turns
 * into U+FFFD) takes JSON.stringify's path.
 */
import { isUtf8 } from 'node:buffer';

const NEEDS_ESCAPE = /[\u0000-\u001f"\\]/;
const NEEDS_ESCAPE_ALL = /[\u0000-\u001f"\\]/g;
const ESCAPES = new Map<string, string>();
for (let b = 0; b < 0x20; b++) ESCAPES.set(String.fromCharCode(b), JSON.stringify(String.fromCharCode(b)).slice(1, -1));
ESCAPES.set('"', '\\"');
ESCAPES.set('\\', '\\\\');
const escape = (c: string): string => ESCAPES.get(c) ?? c;

/**
 * `head` + the JSON string literal of `data` (quotes included) + `tail`, where `head` and
 * `tail` are JSON text (the caller's JSON.stringify of the other fields), written as UTF-8.
 */
export function jsonWithStringField(head: string, data: Buffer, tail: string): Buffer {
  if (!isUtf8(data)) return Buffer.from(`${head}${JSON.stringify(data.toString('utf8'))}${tail}`, 'utf8');
  const bytes = data.toString('latin1');
  const body = NEEDS_ESCAPE.test(bytes) ? Buffer.from(bytes.replace(NEEDS_ESCAPE_ALL, escape), 'latin1') : data;
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + body.length + Buffer.byteLength(tail, 'utf8') + 2);
  let o = out.write(head, 0, 'utf8');
  out[o++] = 0x22;
  o += body.copy(out, o);
  out[o++] = 0x22;
  out.write(tail, o, 'utf8');
  return out;
}
