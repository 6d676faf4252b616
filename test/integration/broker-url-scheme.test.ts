/**
 * `wss://` (and `ws://`) broker URLs, through the built binaries: the Node NATS client is
 * TCP only, so such a URL is refused when the configuration is loaded, exit 2 with a
 * message naming where it came from: the agent's `broker.url` (daemon and check-config),
 * the controller's `--broker`, `QUICKCMD_BROKER` and controller.yaml's `broker.url`; never
 * a connection attempt reported as BROKER_UNREACHABLE. (Run `npm run build` first.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { run, type RunResult } from '../helpers/exec.js';

const AGENT = path.resolve('dist/cmd/quickcmd-agent.js');
const CLI = path.resolve('dist/cmd/quickcmd.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-broker-url-'));
let secretFile = '';

before(() => {
  assert.ok(fs.existsSync(AGENT) && fs.existsSync(CLI), 'run `npm run build` before this test');
  secretFile = path.join(dir, 'secret');
  fs.writeFileSync(secretFile, `${'s'.repeat(32)}\n`, { mode: 0o600 });
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Run a binary with a clean environment (no QUICKCMD_* inherited, a HOME of its own) plus `env`. */
function node(bin: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUICKCMD_')));
  return run(process.execPath, [bin, ...args], { env: { ...base, HOME: dir, XDG_CONFIG_HOME: path.join(dir, '.config'), NO_COLOR: '1', ...env }, timeoutMs: 30_000 });
}

function refused(r: RunResult, key: RegExp): void {
  assert.equal(r.code, 2, `exit 2, got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, key, r.stderr);
  assert.match(r.stderr, /(wss|ws):\/\/ is not supported/, r.stderr);
  assert.doesNotMatch(r.stderr, /BROKER_UNREACHABLE/, r.stderr);
}

test('the agent refuses a wss:// or ws:// broker.url at load: exit 2 naming broker.url (daemon and check-config)', async () => {
  for (const url of ['wss://127.0.0.1:1', 'ws://127.0.0.1:1']) {
    const f = path.join(dir, `agent-${url.slice(0, url.indexOf(':'))}.yaml`);
    fs.writeFileSync(f, stringify({ insecure_http: true, hmac_secret: 'y'.repeat(32), broker: { url, insecure: true } }), { mode: 0o600 });
    const daemon = await node(AGENT, ['--config', f]);
    refused(daemon, /config: broker\.url: /);
    assert.equal(daemon.stdout.includes('agent listening'), false);
    refused(await node(CLI, ['agent', 'check-config', '--config', f]), /config: broker\.url: /);
  }
});

test('the controller refuses a wss:// broker from --broker, QUICKCMD_BROKER or controller.yaml: exit 2 naming it', async () => {
  const id = { QUICKCMD_CONTROLLER_ID: 'controller-1', QUICKCMD_SECRET_FILE: secretFile };
  refused(await node(CLI, ['agents', '--broker', 'wss://127.0.0.1:1'], id), /--broker: wss:\/\//);
  refused(await node(CLI, ['run', '--selector', 'role=web', '--broker', 'ws://127.0.0.1:1', '--', 'true'], id), /--broker: ws:\/\//);
  refused(await node(CLI, ['agents'], { ...id, QUICKCMD_BROKER: 'wss://127.0.0.1:1' }), /QUICKCMD_BROKER: wss:\/\//);
  const cfg = path.join(dir, 'controller.yaml');
  fs.writeFileSync(cfg, stringify({ controller_id: 'controller-1', secret_file: secretFile, broker: { url: 'wss://127.0.0.1:1' } }), { mode: 0o600 });
  refused(await node(CLI, ['agents', '--config', cfg]), new RegExp(`${cfg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: broker\\.url: wss://`));
  refused(await node(CLI, ['run', '--config', cfg, '--agent', 'web1', '--', 'true']), /broker\.url: wss:\/\//);
  // The flag wins over the file, so a good flag is not blamed on the file (here: nothing listens, 125).
  const ok = await node(CLI, ['agents', '--config', cfg, '--broker', 'tls://127.0.0.1:1']);
  assert.equal(ok.code, 125, ok.stderr);
  assert.match(ok.stderr, /BROKER_UNREACHABLE/);
});
