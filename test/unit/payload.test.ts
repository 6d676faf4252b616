/**
 * Every way a submission body is refused before signature checking (SPEC §3): INVALID_JSON
 * for anything that is not one unambiguous JSON text, INVALID_PAYLOAD naming the field for
 * anything outside the closed envelope.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RejectionError, type ErrorCode } from '../../internal/agent/errors.js';
import { parseJobPayload, parseSignedJob } from '../../internal/agent/wire/payload.js';
import { JsonSyntaxError, parseStrictJson } from '../../internal/agent/wire/strict-json.js';
import { canonicalPayload, encodeJobBody, verifyJobSignature } from '../../internal/agent/wire/signing.js';

const SIG = 'a'.repeat(64);
const BASE: Record<string, string> = {
  job_id: '"job-1"',
  prompt: '"p"',
  command: '"ls"',
  candidate_metadata: '{}',
  plugin_metadata: 'null',
  required_scopes: '[]',
  snapshot_metadata: '""',
  ttl: '1767225900',
  timestamp: '1767225600',
  controller_id: '"controller-1"',
};

/** A body whose payload has BASE's fields with `over` applied (undefined removes a field). */
function body(over: Record<string, string | undefined> = {}, sig = `{"signature":"${SIG}","algorithm":"HMAC-SHA256"}`): string {
  const fields = { ...BASE, ...over };
  const payload = Object.entries(fields)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(',');
  return `{"payload":{${payload}},"signature":${sig}}`;
}

function rejects(text: string, code: ErrorCode, messageIncludes?: string): RejectionError {
  let caught: unknown;
  try {
    parseSignedJob(text);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof RejectionError, `expected RejectionError for ${text.slice(0, 120)}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.status, 400);
  if (messageIncludes !== undefined) assert.ok(caught.message.includes(messageIncludes), `"${caught.message}" lacks "${messageIncludes}"`);
  return caught;
}

test('a well-formed body parses into the typed envelope', () => {
  const job = parseSignedJob(body());
  assert.equal(job.payload.jobId, 'job-1');
  assert.equal(job.payload.ttl, 1767225900);
  assert.deepEqual(job.payload.requiredScopes, []);
  assert.equal(job.payload.pluginMetadata, null);
  assert.equal(job.signatureHex, SIG);
  assert.equal(job.algorithm, 'HMAC-SHA256');
  assert.ok(job.canonical.modern.equals(job.canonical.legacy));
  // Nulls for optional fields become "" / null, as Go leaves zero values.
  const nulls = parseSignedJob(body({ prompt: 'null', snapshot_metadata: 'null', required_scopes: 'null', candidate_metadata: 'null' }));
  assert.equal(nulls.payload.prompt, '');
  assert.equal(nulls.payload.snapshotMetadata, '');
  assert.equal(nulls.payload.requiredScopes, null);
  assert.equal(nulls.payload.candidateMetadata, null);
});

test('syntax problems are INVALID_JSON with a generic message', () => {
  for (const text of ['', '   ', '{', 'null', '{"payload":1,}', body() + 'x', body() + '{}', '\ufeff' + body(), "{'a':1}", '[1,2', '{"a":01}', '{"a":NaN}']) {
    const e = rejects(text, text === 'null' ? 'INVALID_PAYLOAD' : 'INVALID_JSON');
    if (e.code === 'INVALID_JSON') {
      assert.equal(e.message, 'request body is not valid JSON');
      assert.notEqual(e.reason, e.message); // the precise cause is kept for the audit log
    }
  }
});

test('100,000 levels of nesting are refused without exhausting the stack', () => {
  rejects('['.repeat(100_000), 'INVALID_JSON');
  rejects('{"a":'.repeat(100_000), 'INVALID_JSON');
  rejects(body({ candidate_metadata: '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000) }), 'INVALID_JSON');
  // The parser itself is iterative: even an enormous limit does not recurse.
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  assert.ok(Array.isArray(parseStrictJson(deep, { maxDepth: 1_000_000 })));
  assert.throws(() => parseStrictJson(deep, { maxDepth: 100 }), JsonSyntaxError);
});

test('duplicate keys at any depth are refused, including __proto__', () => {
  rejects(body().replace('"command":"ls"', '"command":"ls","command":"rm -rf /"'), 'INVALID_JSON');
  rejects(body({ candidate_metadata: '{"a":{"b":1,"b":2}}' }), 'INVALID_JSON');
  rejects(body({ candidate_metadata: '{"__proto__":1,"__proto__":2}' }), 'INVALID_JSON');
  rejects(body({ candidate_metadata: '{"l":[{"x":1,"x":1}]}' }), 'INVALID_JSON');
  rejects(body({ candidate_metadata: '{"\\ud800":1,"\\udc00":2}' }), 'INVALID_JSON'); // collide after U+FFFD
  rejects(body({}, `{"signature":"${SIG}","signature":"${SIG}","algorithm":"HMAC-SHA256"}`), 'INVALID_JSON');
  rejects(body().replace('{"payload"', '{"payload":{},"payload"'), 'INVALID_JSON');
});

test('__proto__ is an unknown field in the payload but ordinary data in metadata', () => {
  // A computed key: `{ __proto__: x }` in a literal would set the prototype instead.
  rejects(body({ ['__proto__']: '{}' }), 'INVALID_PAYLOAD', 'payload."__proto__"');
  rejects(body().replace('{"payload"', '{"__proto__":{},"payload"'), 'INVALID_PAYLOAD', '"__proto__"');
  const job = parseSignedJob(body({ candidate_metadata: '{"__proto__":{"polluted":true}}' }));
  const meta = job.payload.candidateMetadata;
  assert.ok(meta !== null);
  assert.ok(Object.hasOwn(meta, '__proto__'));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(job.canonical.modern.toString().includes('"candidate_metadata":{"__proto__":{"polluted":true}}'));
});

test('unknown and case-variant keys are refused, naming the key', () => {
  rejects(body({ extra: '1' }), 'INVALID_PAYLOAD', 'payload."extra"');
  rejects(body({ command: undefined, Command: '"ls"' }), 'INVALID_PAYLOAD', '"Command"');
  rejects(body({ Command: '"rm -rf /"' }), 'INVALID_PAYLOAD', '"Command"');
  rejects(body({ TTL: '1' }), 'INVALID_PAYLOAD', '"TTL"');
  rejects(body().replace('{"payload"', '{"extra":1,"payload"'), 'INVALID_PAYLOAD', '"extra"');
  rejects(body().replace('{"payload"', '{"Payload"'), 'INVALID_PAYLOAD', '"Payload"');
  rejects(body({}, `{"signature":"${SIG}","algorithm":"HMAC-SHA256","keyid":"x"}`), 'INVALID_PAYLOAD', 'signature."keyid"');
  rejects(body({}, `{"Signature":"${SIG}","algorithm":"HMAC-SHA256"}`), 'INVALID_PAYLOAD', '"Signature"');
  // Hostile key text is quoted and truncated in the message.
  const e = rejects(body({ ['x'.repeat(500) + '\n']: '1' }), 'INVALID_PAYLOAD');
  assert.ok(e.message.length < 150);
});

test('missing required fields are refused, naming the field', () => {
  for (const field of ['job_id', 'command', 'controller_id', 'ttl', 'timestamp']) {
    rejects(body({ [field]: undefined }), 'INVALID_PAYLOAD', `payload.${field} is required`);
  }
  rejects('{"signature":{"signature":"' + SIG + '","algorithm":"HMAC-SHA256"}}', 'INVALID_PAYLOAD', 'payload is required');
  rejects(body().replace(/,"signature":.*\}$/, '}'), 'INVALID_PAYLOAD', 'signature is required');
  rejects(body({}, `{"signature":"${SIG}"}`), 'INVALID_PAYLOAD', 'signature.algorithm');
  rejects(body({}, '{"algorithm":"HMAC-SHA256"}'), 'INVALID_PAYLOAD', 'signature.signature');
});

test('ttl and timestamp must be integer literals', () => {
  for (const bad of ['1.0', '1e3', '1E3', '1767225900.5', '"1767225900"', 'null', 'true', '9007199254740993', '-9007199254740993']) {
    rejects(body({ ttl: bad }), 'INVALID_PAYLOAD', 'payload.ttl');
    rejects(body({ timestamp: bad }), 'INVALID_PAYLOAD', 'payload.timestamp');
  }
  rejects(body({ ttl: '+1' }), 'INVALID_JSON');
  rejects(body({ ttl: '01' }), 'INVALID_JSON');
  assert.equal(parseSignedJob(body({ ttl: '-0' })).payload.ttl, 0);
  assert.ok(Object.is(parseSignedJob(body({ ttl: '-0' })).payload.ttl, 0));
});

test('wrong types are refused, naming the field', () => {
  const cases: [string, string, string][] = [
    ['job_id', '1', 'payload.job_id'],
    ['job_id', 'null', 'payload.job_id'],
    ['job_id', '""', 'payload.job_id'],
    ['job_id', '"a/b"', 'payload.job_id'],
    ['job_id', '"a b"', 'payload.job_id'],
    ['job_id', '".."', 'payload.job_id'],
    ['job_id', `"${'a'.repeat(257)}"`, 'payload.job_id'],
    ['command', '""', 'payload.command'],
    ['command', '["ls"]', 'payload.command'],
    ['controller_id', '""', 'payload.controller_id'],
    ['controller_id', '"a\\nb"', 'payload.controller_id'],
    ['controller_id', `"${'c'.repeat(257)}"`, 'payload.controller_id'],
    ['prompt', '1', 'payload.prompt'],
    ['snapshot_metadata', '{}', 'payload.snapshot_metadata'],
    ['candidate_metadata', '[]', 'payload.candidate_metadata'],
    ['plugin_metadata', '"x"', 'payload.plugin_metadata'],
    ['required_scopes', '"a"', 'payload.required_scopes'],
    ['required_scopes', '["a",1]', 'payload.required_scopes[1]'],
    ['required_scopes', '["a",null]', 'payload.required_scopes[1]'],
  ];
  for (const [field, value, name] of cases) rejects(body({ [field]: value }), 'INVALID_PAYLOAD', name);
  rejects('{"payload":[],"signature":{}}', 'INVALID_PAYLOAD', 'payload must be an object');
  rejects('[]', 'INVALID_PAYLOAD');
  // The safe id charset and 256-character limit still accept the boundary.
  assert.equal(parseSignedJob(body({ job_id: `"${'a'.repeat(256)}"` })).payload.jobId.length, 256);
  assert.equal(parseSignedJob(body({ job_id: '"A.z_0:9-"' })).payload.jobId, 'A.z_0:9-');
});

test('algorithm must be HMAC-SHA256 and the signature 64 lowercase hex', () => {
  for (const alg of ['"hmac-sha256"', '"HMAC-SHA512"', '""', 'null', '1']) {
    rejects(body({}, `{"signature":"${SIG}","algorithm":${alg}}`), 'INVALID_PAYLOAD', 'signature.algorithm');
  }
  for (const sig of ['"' + 'A'.repeat(64) + '"', '"' + 'a'.repeat(63) + '"', '"' + 'a'.repeat(65) + '"', '"' + 'g'.repeat(64) + '"', '""', 'null', '1']) {
    rejects(body({}, `{"signature":${sig},"algorithm":"HMAC-SHA256"}`), 'INVALID_PAYLOAD', 'signature.signature');
  }
});

test('numbers that overflow float64 are refused, like Go', () => {
  rejects(body({ candidate_metadata: '{"x":1e400}' }), 'INVALID_JSON');
  rejects(body({ candidate_metadata: '{"x":[-1e309]}' }), 'INVALID_JSON');
  // Underflow is not an error in Go either: it rounds to (signed) zero.
  const job = parseSignedJob(body({ candidate_metadata: '{"x":-1e-400,"y":1.7976931348623157e308}' }));
  assert.ok(job.canonical.modern.toString().includes('{"x":-0,"y":1.7976931348623157e+308}'));
});

test('lone surrogates become U+FFFD in the payload itself, so what runs is what was signed', () => {
  const job = parseSignedJob(body({ command: '"echo \\ud800"' }));
  assert.equal(job.payload.command, 'echo \ufffd');
  assert.ok(job.canonical.modern.toString('utf8').includes('"command":"echo \ufffd"'));
});

test('a bare payload parses with parseJobPayload, and a signed body verifies end to end', () => {
  const text = body();
  const payloadText = text.slice('{"payload":'.length, text.indexOf(',"signature":{'));
  const p = parseJobPayload(payloadText);
  const secret = Buffer.from('0123456789abcdef0123456789abcdef');
  const job = parseSignedJob(encodeJobBody(p, secret));
  assert.equal(verifyJobSignature(job, [secret]), true);
  assert.ok(canonicalPayload(p).equals(job.canonical.modern));
});
