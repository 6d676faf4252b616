/**
 * The config at process level (SPEC §2, exit codes of SPEC §1), through the built
 * binaries: a bad config stops `quickcmd-agent` with exit 2 and a message naming the key,
 * in every flag spelling (`--config P`, `--config=P`, Go's `-config P` and `-config=P`) and
 * through QUICKCMD_CONFIG; `quickcmd agent check-config` exits 0/2; `agent gen-key` prints
 * a 32-byte hex secret; usage errors exit 2. (Run `npm run build` first.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { prepareAgentDir } from '../helpers/agent.js';
import { run, type RunResult } from '../helpers/exec.js';

const AGENT = path.resolve('dist/cmd/quickcmd-agent.js');
const CLI = path.resolve('dist/cmd/quickcmd.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-config-cli-'));
let good = '';
let bad = '';

before(() => {
  assert.ok(fs.existsSync(AGENT) && fs.existsSync(CLI), 'run `npm run build` before this test');
  const env = prepareAgentDir({}, undefined);
  good = env.configPath;
  bad = path.join(dir, 'bad.yaml');
  // A valid config plus one misspelt key.
  fs.writeFileSync(bad, `${env.configText}max_concurent_jobs: 3\n`, { mode: 0o600 });
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Run a binary with a clean environment (no QUICKCMD_* inherited) plus `env`. */
function node(bin: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUICKCMD_')));
  return run(process.execPath, [bin, ...args], { env: { ...base, ...env }, timeoutMs: 30_000 });
}

function exitsWithKey(r: RunResult, key: string): void {
  assert.equal(r.code, 2, `exit 2, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`config: ${key.replace(/\./g, '\\.')}: `), r.stderr);
  assert.equal(r.stdout.includes('agent listening'), false);
}

test('quickcmd-agent --config bad.yaml exits 2 naming the key', async () => {
  const r = await node(AGENT, ['--config', bad]);
  exitsWithKey(r, 'max_concurent_jobs');
  assert.match(r.stderr, /unknown key/);
});

test('every flag spelling reaches the loader: --config=P, -config P, -config=P, -c P', async () => {
  const runs = await Promise.all([[`--config=${bad}`], ['-config', bad], [`-config=${bad}`], ['-c', bad]].map((args) => node(AGENT, args)));
  for (const r of runs) exitsWithKey(r, 'max_concurent_jobs');
});

test('QUICKCMD_CONFIG names the file when no flag is given; the flag wins over it', async () => {
  exitsWithKey(await node(AGENT, [], { QUICKCMD_CONFIG: bad }), 'max_concurent_jobs');
  const other = path.join(dir, 'other-bad.yaml');
  fs.writeFileSync(other, 'hmac_secret: CHANGE_ME\ninsecure_http: true\n', { mode: 0o600 });
  exitsWithKey(await node(AGENT, ['--config', other], { QUICKCMD_CONFIG: bad }), 'hmac_secret');
});

test('a nested unknown key, a wrong type, a weak secret, missing TLS, a bad default_image, a missing file: exit 2 naming it', async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ insecure_http: true, controllers: [{ id: 'c', secretz: ['x'] }] }, 'controllers.0.secretz'],
    [{ insecure_http: true, hmac_secret: 'y'.repeat(32), port: 'eighty' }, 'port'],
    [{ insecure_http: true, hmac_secret: 'short' }, 'hmac_secret'],
    [{ hmac_secret: 'y'.repeat(32) }, 'tls_cert_file'],
    [{ insecure_http: true, hmac_secret: 'y'.repeat(32), default_image: 'debian:12' }, 'default_image'],
  ];
  // check-config runs the same loader as the daemon; the daemon itself is checked on the nested key.
  for (const [doc, key] of cases) {
    const f = path.join(dir, `case-${key}.yaml`);
    fs.writeFileSync(f, stringify(doc), { mode: 0o600 });
    exitsWithKey(await node(CLI, ['agent', 'check-config', '--config', f]), key);
  }
  exitsWithKey(await node(AGENT, ['--config', path.join(dir, 'case-controllers.0.secretz.yaml')]), 'controllers.0.secretz');
  const missing = await node(AGENT, ['--config', path.join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read .*nope\.yaml: ENOENT/);
});

test('QUICKCMD_HMAC_SECRET is honoured by check-config (and held to the same rules)', async () => {
  const f = path.join(dir, 'env-secret.yaml');
  fs.writeFileSync(f, stringify({ insecure_http: true, hmac_secret: 'CHANGE_ME' }), { mode: 0o600 });
  exitsWithKey(await node(CLI, ['agent', 'check-config', '--config', f]), 'hmac_secret');
  const ok = await node(CLI, ['agent', 'check-config', '--config', f], { QUICKCMD_HMAC_SECRET: 'z'.repeat(32) });
  assert.equal(ok.code, 0, ok.stderr);
  exitsWithKey(await node(CLI, ['agent', 'check-config', '--config', f], { QUICKCMD_HMAC_SECRET: 'CHANGE_ME' }), 'QUICKCMD_HMAC_SECRET');
});

test('quickcmd agent check-config exits 0 for a valid file and 2 for an invalid one', async () => {
  const ok = await node(CLI, ['agent', 'check-config', '--config', good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: .* is valid/);
  assert.equal(ok.stdout.includes(fs.readFileSync(path.join(path.dirname(good), 'hmac-secret'), 'utf8').trim()), false, 'no secret printed');
  exitsWithKey(await node(CLI, ['agent', 'check-config', '--config', bad]), 'max_concurent_jobs');
  const viaEnv = await node(CLI, ['agent', 'check-config'], { QUICKCMD_CONFIG: good });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
});

test('quickcmd agent gen-key prints a fresh 32-byte secret as 64 lowercase hex characters', async () => {
  const a = await node(CLI, ['agent', 'gen-key']);
  const b = await node(CLI, ['agent', 'gen-key']);
  assert.equal(a.code, 0);
  assert.match(a.stdout, /^[0-9a-f]{64}\n$/);
  assert.match(b.stdout, /^[0-9a-f]{64}\n$/);
  assert.notEqual(a.stdout, b.stdout);
  // A generated key is accepted as a secret.
  const f = path.join(dir, 'gen.yaml');
  fs.writeFileSync(f, stringify({ insecure_http: true, hmac_secret: a.stdout.trim() }), { mode: 0o600 });
  assert.equal((await node(CLI, ['agent', 'check-config', '--config', f])).code, 0);
});

test('usage errors exit 2', async () => {
  const cases = [
    [AGENT, ['--no-such-flag']],
    [AGENT, ['--config']],
    [CLI, ['agent', 'no-such-command']],
    [CLI, ['agent', 'check-config', '--bogus']],
    [CLI, ['agent', 'check-config', '--config']],
    [CLI, ['agent', 'gen-key', 'extra-arg']],
  ] as const;
  const results = await Promise.all(cases.map(([bin, args]) => node(bin, [...args])));
  results.forEach((r, i) => {
    const [bin, args] = cases[i] ?? [AGENT, []];
    assert.equal(r.code, 2, `${path.basename(bin)} ${args.join(' ')} → ${r.code}: ${r.stderr}`);
    assert.ok(r.stderr.length > 0, 'says why');
  });
  const help = await node(AGENT, ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--config/);
});
