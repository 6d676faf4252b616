/**
 * Robustness of the door: 5,000 generated malformed submissions over real HTTPS with
 * keep-alive, from a seeded PRNG (QUICKCMD_FUZZ_SEED reproduces a run). Every answer must
 * be a 4xx with a JSON `code` (never a 5xx, never a dropped connection), every rejection
 * must be audited, and the agent's RSS must stay bounded. The agent runs in this process
 * so its memory is the one sampled.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { encodeJobBody } from '../../internal/agent/wire/signing.js';
import { startTestAgent } from '../helpers/agent.js';
import { payload, submit, waitForEnd, type ClientTarget } from '../helpers/client.js';

const TOTAL = 5000;
const WARMUP = 300;
const IN_FLIGHT = 16;
const RSS_GROWTH_LIMIT = 150 * 1024 * 1024;
const SEED = Number(process.env['QUICKCMD_FUZZ_SEED'] ?? 0x5eed1e);

/** mulberry32: small, fast, good enough to pick mutations reproducibly. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  readonly kind: string;
  readonly body: Buffer;
  readonly contentType: string | null;
}

const PAYLOAD_FIELDS = ['job_id', 'prompt', 'command', 'candidate_metadata', 'plugin_metadata', 'required_scopes', 'snapshot_metadata', 'ttl', 'timestamp', 'controller_id'];
const WRONG_VALUES = ['123', '-1', '1.5', 'true', 'false', '[]', '[1,"a"]', '{}', '{"x":{"y":[null]}}', '"str"', '""', '"\\u0000"', '1e999', '-0', '[[[[[]]]]]'];
const WEIRD_NUMBERS = ['1e999', '-1e999', '-0', 'NaN', 'Infinity', '-Infinity', '0x10', '01', '1.', '.5', '+1', '1e-999', '9007199254740993', '-1', '1E3', '123456789012345678901234567890', '1'.repeat(5000), '0.0', '--1', '1e', '١٢٣'];
const EXTRA_KEYS = ['"extra"', '"Job_ID"', '"JOB_ID"', '"Command"', '"__proto__"', '"constructor"', '"job_id "', '"job\\u005fid"', '"ttl"', '""', '"\\ud800"'];
const TOP_LEVEL = ['1', '"str"', 'null', 'true', 'false', '[]', '{}', '[{}]', '0', '-0', '1e999', '"\\u0000"', ' ', '\n\t ', '\ufeff{}'];
const BAD_UTF8 = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf4, 0x90, 0x80, 0x80]];
const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=iso-8859-1', 'application/jsonx', 'multipart/form-data; boundary=x'];

/** The generator: each call returns one malformed (never validly signed and well-formed) body. */
function generator(base: string, limit: number, rnd: () => number): () => Case {
  const int = (n: number): number => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const json = (kind: string, text: string): Case => ({ kind, body: Buffer.from(text, 'utf8'), contentType: 'application/json' });
  const baseParsed = JSON.stringify(JSON.parse(base));
  /** Replace the value of `"field":` in the payload (values in `base` have no nested commas except in maps). */
  const replaceField = (field: string, value: string): string => base.replace(new RegExp(`"${field}":(\\{[^}]*\\}|\\[[^\\]]*\\]|"(?:[^"\\\\]|\\\\.)*"|[^,}]*)`), `"${field}":${value}`);
  const gens: [string, () => Case][] = [
    ['truncated', () => json('truncated', base.slice(0, int(base.length)))],
    ['random-bytes', () => ({ kind: 'random-bytes', body: Buffer.from(Array.from({ length: int(2048) }, () => int(256))), contentType: 'application/json' })],
    [
      'invalid-utf8',
      () => {
        const b = Buffer.from(base, 'utf8');
        const at = int(b.length);
        return { kind: 'invalid-utf8', body: Buffer.concat([b.subarray(0, at), Buffer.from(pick(BAD_UTF8)), b.subarray(at + 1)]), contentType: 'application/json' };
      },
    ],
    [
      'deep-nesting',
      () =>
        json(
          'deep-nesting',
          pick([
            () => '['.repeat(100_000),
            () => '['.repeat(100_000) + ']'.repeat(100_000),
            () => '{"a":'.repeat(50_000),
            () => '[{"a":'.repeat(20_000),
            () => replaceField('candidate_metadata', '{"a":'.repeat(70) + '1' + '}'.repeat(70)),
            () => replaceField('plugin_metadata', '{"a":'.repeat(62) + '[]' + '}'.repeat(62)),
          ])(),
        ),
    ],
    [
      'huge-string',
      () => {
        // Around the limit: some just under (parsed in full), some just over (413).
        const target = limit - 2000 + int(4000);
        const pad = Math.max(0, target - base.length);
        return json('huge-string', replaceField(pick(['prompt', 'command', 'snapshot_metadata', 'job_id']), `"${pick(['a', 'é', '\\u00e9', '\\n'])}`.padEnd(pad, 'x') + '"'));
      },
    ],
    ['wrong-type', () => json('wrong-type', replaceField(pick(PAYLOAD_FIELDS), pick(WRONG_VALUES)))],
    [
      'wrong-type-envelope',
      () =>
        json(
          'wrong-type-envelope',
          pick([
            () => base.replace(/"signature":\{/, `"signature":${pick(WRONG_VALUES)},"x":{`),
            () => base.replace(/"payload":\{/, `"payload":${pick(WRONG_VALUES)},"x":{`),
            () => base.replace(/"signature":"[0-9a-f]{64}"/, `"signature":${pick(WRONG_VALUES)}`),
            () => base.replace(/"algorithm":"[^"]*"/, `"algorithm":${pick([...WRONG_VALUES, '"hmac-sha256"', '"HMAC-SHA512"', '"none"'])}`),
          ])(),
        ),
    ],
    [
      'extra-key',
      () => {
        const key = pick(EXTRA_KEYS);
        const where = pick(['{"payload":{', '{"payload":', '"signature":{']);
        return json('extra-key', base.replace(where, `${where}${key}:${pick(WRONG_VALUES)},`));
      },
    ],
    ['weird-number', () => json('weird-number', replaceField(pick(['ttl', 'timestamp']), pick(WEIRD_NUMBERS)))],
    ['missing-field', () => json('missing-field', base.replace(new RegExp(`"${pick(PAYLOAD_FIELDS)}":(\\{\\}|\\[\\]|"[^"]*"|[^,}]*),?`), ''))],
    ['empty', () => json('empty', pick(['', ' ', '\r\n']))],
    ['top-level', () => json('top-level', pick(TOP_LEVEL))],
    [
      'char-mutation',
      () => {
        const at = int(base.length);
        const op = int(3);
        const ch = pick(['"', '\\', '{', '}', '[', ']', ':', ',', '0', '9', 'a', '\u0001', '\u2028', '\ud800', '\u0000']);
        const text = op === 0 ? base.slice(0, at) + base.slice(at + 1) : op === 1 ? base.slice(0, at) + ch + base.slice(at) : base.slice(0, at) + ch + base.slice(at + 1);
        return json('char-mutation', text);
      },
    ],
    ['bad-signature', () => json('bad-signature', base.replace(/"signature":"[0-9a-f]{64}"/, `"signature":"${Array.from({ length: 64 }, () => '0123456789abcdef'[int(16)]).join('')}"`))],
    ['content-type', () => ({ kind: 'content-type', body: Buffer.from(base), contentType: pick([...CONTENT_TYPES, null]) })],
  ];
  return () => {
    for (;;) {
      const [, g] = rnd() < 0.01 ? (gens.find(([k]) => k === 'huge-string') as [string, () => Case]) : pick(gens.filter(([k]) => k !== 'huge-string'));
      const c = g();
      if (c.contentType === 'application/json') {
        // Never send the valid body itself (a no-op mutation): it would be accepted.
        try {
          if (JSON.stringify(JSON.parse(c.body.toString('utf8'))) === baseParsed) continue;
        } catch {
          // not JSON: certainly malformed
        }
      }
      return c;
    }
  };
}

interface Answer {
  readonly status: number;
  readonly code: unknown;
}

function post(agent: https.Agent, url: URL, ca: Buffer, c: Case): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-length': String(c.body.length) };
    if (c.contentType !== null) headers['content-type'] = c.contentType;
    const req = https.request({ method: 'POST', hostname: url.hostname, port: url.port, path: '/api/v1/jobs', ca, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let code: unknown;
        try {
          code = (JSON.parse(text) as Record<string, unknown>)['code'];
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

test(`${TOTAL} malformed submissions: every answer is a 4xx with a JSON code, every one audited, RSS bounded`, async (t) => {
  const a = await startTestAgent();
  const target: ClientTarget = { url: a.url, caFile: a.pki.caCert, secret: a.secret, controllerId: a.controllerId };
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 8 });
  const audit = new Database(a.dbPath, { readonly: true, fileMustExist: true });
  const rejectedCount = (): number => (audit.prepare("SELECT count(*) AS n FROM audit_events WHERE type = 'job.rejected'").get() as { n: number }).n;
  try {
    const base = encodeJobBody(
      payload(target, { prompt: 'fuzz <base> & "quotes"', command: 'echo base', candidateMetadata: { k: [1, 2.5, 'x'] }, pluginMetadata: { p: true }, requiredScopes: [], snapshotMetadata: 'snap' }),
      Buffer.from(a.secret),
    );
    const next = generator(base, a.config.max_request_bytes, prng(SEED));
    const url = new URL(a.url);
    const ca = fs.readFileSync(a.pki.caCert);
    const auditedBefore = rejectedCount();

    const failures: string[] = [];
    const byKind = new Map<string, Map<string, number>>();
    let sent = 0;
    let baseline = 0;
    let peak = 0;
    const sampler = setInterval(() => {
      if (baseline > 0) peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const worker = async (): Promise<void> => {
      while (sent < TOTAL) {
        const n = ++sent;
        if (n === WARMUP + 1) {
          baseline = process.memoryUsage().rss;
          peak = baseline;
        }
        const c = next();
        let answer: Answer;
        try {
          answer = await post(keepAlive, url, ca, c);
        } catch (e) {
          failures.push(`#${n} ${c.kind}: connection error ${(e as Error).message}`);
          continue;
        }
        const kinds = byKind.get(c.kind) ?? new Map<string, number>();
        byKind.set(c.kind, kinds);
        const key = `${answer.status} ${String(answer.code)}`;
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
        if (answer.status < 400 || answer.status >= 500 || typeof answer.code !== 'string') {
          failures.push(`#${n} ${c.kind}: ${key} for ${JSON.stringify(c.body.subarray(0, 200).toString('latin1'))}`);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);

    for (const [kind, answers] of [...byKind].sort()) t.diagnostic(`${kind}: ${[...answers].map(([k, v]) => `${k}×${v}`).join(', ')}`);
    t.diagnostic(`seed ${SEED}; rss baseline ${(baseline / 1048576).toFixed(0)} MiB, peak ${(peak / 1048576).toFixed(0)} MiB`);
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad answers (seed ${SEED})`);
    assert.equal([...byKind.values()].reduce((s, m) => s + [...m.values()].reduce((x, y) => x + y, 0), 0), TOTAL);
    assert.ok(byKind.size >= 14, `every generator ran: ${[...byKind.keys()].join(',')}`);
    assert.ok(peak - baseline < RSS_GROWTH_LIMIT, `RSS grew by ${((peak - baseline) / 1048576).toFixed(0)} MiB`);
    assert.equal(rejectedCount() - auditedBefore, TOTAL, 'every rejection is in the audit table');

    // The agent is still fully in service.
    const ok = await submit(target, { command: 'echo still-here' });
    assert.equal(ok.reply.status, 202, ok.reply.text);
    assert.equal(((await waitForEnd(target, ok.payload.jobId))['result'] as Record<string, unknown>)['stdout'], 'still-here\n');
  } finally {
    keepAlive.destroy();
    audit.close();
    await a.stop();
  }
});
