/**
 * scripts/setup-agent.sh run as an operator would, with `--root DIR` so every file it makes
 * can be checked: paths, modes (owners are the caller's under --root), the certificate's
 * SANs, idempotence over a second run, that the installed program accepts the installed
 * config (`quickcmd agent check-config`), and --uninstall / --purge.
 *
 * The config under DIR names host paths (/etc/quickcmd/...), exactly as a real host gets
 * it. To check it, the test rewrites only those path prefixes to point into DIR and feeds
 * the result to the installed CLI and to loadConfig(); nothing else is changed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../internal/agent/config/config.js';
import { run, runOk, type RunResult } from '../helpers/exec.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const script = path.join(repo, 'scripts/setup-agent.sh');
const HOST = 'agent1.example.test';

/** Mode bits (permissions only) of a path. */
function mode(p: string): number {
  return fs.statSync(p).mode & 0o7777;
}

function sha256(p: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** The paths the script owns, with the mode each must have. */
const expected: ReadonlyArray<readonly [string, number, 'dir' | 'file']> = [
  ['/etc/quickcmd', 0o750, 'dir'],
  ['/etc/quickcmd/agent-config.yaml', 0o640, 'file'],
  ['/etc/quickcmd/hmac-secret', 0o640, 'file'],
  ['/etc/quickcmd/agent.key', 0o640, 'file'],
  ['/etc/quickcmd/agent.crt', 0o644, 'file'],
  ['/var/lib/quickcmd', 0o700, 'dir'],
  ['/opt/quickcmd', 0o755, 'dir'],
  ['/opt/quickcmd/package.json', 0o644, 'file'],
  ['/opt/quickcmd/package-lock.json', 0o644, 'file'],
  ['/opt/quickcmd/dist/cmd/quickcmd-agent.js', 0o644, 'file'],
  ['/opt/quickcmd/dist/cmd/quickcmd.js', 0o644, 'file'],
  ['/opt/quickcmd/node_modules', 0o755, 'dir'],
  ['/usr/local/bin/quickcmd-agent', 0o755, 'file'],
  ['/usr/local/bin/quickcmd', 0o755, 'file'],
  ['/etc/systemd/system/quickcmd-agent.service', 0o644, 'file'],
];

/** Files an operator owns once written: a re-run must leave their bytes alone. */
const kept = ['/etc/quickcmd/agent-config.yaml', '/etc/quickcmd/hmac-secret', '/etc/quickcmd/agent.key', '/etc/quickcmd/agent.crt'];

describe('setup-agent.sh --root', { timeout: 600_000 }, () => {
  let tmp = '';
  let root = '';
  let first: RunResult;
  let second: RunResult;
  const at = (p: string): string => path.join(root, p);

  before(async () => {
    // The script installs the built program; `npm test` builds first, a lone run may not have.
    if (!fs.existsSync(path.join(repo, 'dist/cmd/quickcmd.js')) || !fs.existsSync(path.join(repo, 'dist/cmd/quickcmd-agent.js'))) {
      await runOk('npm', ['run', '--silent', 'build'], { cwd: repo, timeoutMs: 300_000 });
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-setup-'));
    root = path.join(tmp, 'root');
    first = await run('bash', [script, '--root', root, '--hostname', HOST], { timeoutMs: 300_000 });
  });

  after(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('first run installs every path with its mode', () => {
    assert.equal(first.code, 0, `setup-agent.sh failed:\n${first.stdout}\n${first.stderr}`);
    for (const [p, m, kind] of expected) {
      const st = fs.lstatSync(at(p));
      assert.equal(kind === 'dir' ? st.isDirectory() : st.isFile(), true, `${p} is not a ${kind}`);
      assert.equal(mode(at(p)).toString(8), m.toString(8), `mode of ${p}`);
    }
    // What needs the real host is skipped, and says so.
    assert.match(first.stdout, /skipped \(--root\):.*user quickcmd/);
    assert.match(first.stdout, /skipped \(--root\):.*docker/);
    assert.match(first.stdout, /skipped \(--root\): systemctl daemon-reload/);
  });

  test('the config is the example, the secret is fresh, the unit is the shipped one', () => {
    assert.equal(fs.readFileSync(at('/etc/quickcmd/agent-config.yaml'), 'utf8'), fs.readFileSync(path.join(repo, 'examples/agent-config.yaml'), 'utf8'));
    assert.match(fs.readFileSync(at('/etc/quickcmd/hmac-secret'), 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.equal(sha256(at('/etc/systemd/system/quickcmd-agent.service')), sha256(path.join(repo, 'deployments/systemd/quickcmd-agent.service')));
  });

  test('the program is installed with production dependencies only, behind two wrappers', () => {
    for (const dep of Object.keys((JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies)) {
      assert.ok(fs.existsSync(at(`/opt/quickcmd/node_modules/${dep}/package.json`)), `dependency ${dep} missing`);
    }
    assert.equal(fs.existsSync(at('/opt/quickcmd/node_modules/typescript')), false, 'dev dependency typescript was installed');
    for (const w of ['quickcmd-agent', 'quickcmd']) {
      const text = fs.readFileSync(at(`/usr/local/bin/${w}`), 'utf8');
      assert.match(text, /^#!\/bin\/sh\n/);
      // Host paths, not DIR: the tree is what a real host gets.
      assert.match(text, new RegExp(`\\nexec \\S*node /opt/quickcmd/dist/cmd/${w}\\.js "\\$@"\\n$`));
    }
  });

  test('the TLS certificate names the host, localhost and 127.0.0.1, and matches its key', () => {
    const cert = new crypto.X509Certificate(fs.readFileSync(at('/etc/quickcmd/agent.crt')));
    const sans = (cert.subjectAltName ?? '').split(', ').sort();
    assert.deepEqual(sans, [`DNS:${HOST}`, 'DNS:agent1', 'DNS:localhost', 'IP Address:127.0.0.1'].sort());
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost(HOST), HOST);
    assert.equal(cert.ca, false, 'a self-signed server certificate must not be a CA');
    assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(at('/etc/quickcmd/agent.key')))), 'key does not match certificate');
    assert.ok(new Date(cert.validTo).getTime() > Date.now() + 365 * 86400_000, 'certificate expires within a year');
  });

  test('a second run changes nothing an operator owns and keeps every mode', async () => {
    const before = new Map(kept.map((p) => [p, sha256(at(p))]));
    const treeBefore = tree(root);
    second = await run('bash', [script, '--root', root, '--hostname', HOST], { timeoutMs: 300_000 });
    assert.equal(second.code, 0, `second run failed:\n${second.stdout}\n${second.stderr}`);
    for (const p of kept) assert.equal(sha256(at(p)), before.get(p), `${p} changed on the second run`);
    for (const [p, m] of expected) assert.equal(mode(at(p)).toString(8), m.toString(8), `mode of ${p} after the second run`);
    assert.match(second.stdout, /kept existing \/etc\/quickcmd\/agent-config\.yaml/);
    assert.match(second.stdout, /kept existing \/etc\/quickcmd\/hmac-secret/);
    assert.match(second.stdout, /kept existing \/etc\/quickcmd\/agent\.key/);
    assert.doesNotMatch(second.stdout, /generated|made a self-signed/);
    // Nothing added or removed, no mode changed (the program's own files aside), and no
    // leftovers from the staged program copy.
    assert.deepEqual(tree(root), treeBefore);
    assert.deepEqual(fs.readdirSync(at('/opt')), ['quickcmd']);
  });

  test('the installed program accepts the installed config (check-config and loadConfig)', async () => {
    const rooted = rootedConfig(root, path.join(tmp, 'rooted-config.yaml'));
    const r = await run(process.execPath, [at('/opt/quickcmd/dist/cmd/quickcmd.js'), 'agent', 'check-config', '--config', rooted]);
    assert.equal(r.code, 0, `check-config failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /ok/i);
    const cfg = loadConfig(rooted, {});
    assert.equal(cfg.shared_secret?.toString('utf8'), fs.readFileSync(at('/etc/quickcmd/hmac-secret'), 'utf8').trim());
    assert.equal(cfg.audit_db_path, at('/var/lib/quickcmd/agent-audit.db'));
  });

  test('check-config refuses the installed config once its secret is world-readable', async () => {
    const secret = at('/etc/quickcmd/hmac-secret');
    const rooted = rootedConfig(root, path.join(tmp, 'rooted-config-bad.yaml'));
    fs.chmodSync(secret, 0o644);
    try {
      const r = await run(process.execPath, [at('/opt/quickcmd/dist/cmd/quickcmd.js'), 'agent', 'check-config', '--config', rooted]);
      assert.equal(r.code, 2, `check-config accepted a world-readable secret:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout + r.stderr, /hmac_secret_file/);
    } finally {
      fs.chmodSync(secret, 0o640);
    }
  });

  test('--uninstall keeps config and data; --purge removes them', async () => {
    const u = await run('bash', [script, '--root', root, '--uninstall']);
    assert.equal(u.code, 0, `uninstall failed:\n${u.stdout}\n${u.stderr}`);
    for (const p of ['/opt/quickcmd', '/usr/local/bin/quickcmd-agent', '/usr/local/bin/quickcmd', '/etc/systemd/system/quickcmd-agent.service']) {
      assert.equal(fs.existsSync(at(p)), false, `${p} still there after --uninstall`);
    }
    for (const p of [...kept, '/var/lib/quickcmd']) assert.ok(fs.existsSync(at(p)), `${p} removed without --purge`);

    const purge = await run('bash', [script, '--root', root, '--uninstall', '--purge']);
    assert.equal(purge.code, 0, `purge failed:\n${purge.stdout}\n${purge.stderr}`);
    for (const p of ['/etc/quickcmd', '/var/lib/quickcmd']) assert.equal(fs.existsSync(at(p)), false, `${p} still there after --purge`);
    assert.match(purge.stdout, /skipped \(--root\): removing user and group quickcmd/);
  });
});

test('setup-agent.sh refuses bad arguments before touching anything', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-setup-args-'));
  try {
    const purgeAlone = await run('bash', [script, '--root', tmp, '--purge']);
    assert.equal(purgeAlone.code, 2);
    const unknown = await run('bash', [script, '--root', tmp, '--frobnicate']);
    assert.equal(unknown.code, 2);
    const badHost = await run('bash', [script, '--root', tmp, '--hostname', 'x/CN=evil']);
    assert.notEqual(badHost.code, 0);
    assert.match(badHost.stderr, /not a DNS name/);
    assert.deepEqual(fs.readdirSync(tmp), [], 'files were written before the arguments were checked');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

/** Every path under DIR with its mode, except inside the program directory /opt/quickcmd. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const st = fs.lstatSync(full);
      out.push(`${(st.mode & 0o7777).toString(8)} ${path.relative(root, full)}`);
      if (st.isDirectory() && full !== path.join(root, 'opt/quickcmd')) walk(full);
    }
  };
  walk(root);
  return out;
}

/** Copy of DIR's config with host paths pointing into DIR; nothing else differs. */
function rootedConfig(root: string, out: string): string {
  const text = fs.readFileSync(path.join(root, 'etc/quickcmd/agent-config.yaml'), 'utf8');
  const rooted = text.replace(/(^|[\s:'"[])(\/etc\/quickcmd\/|\/var\/lib\/quickcmd\/)/gm, (_m, pre: string, dir: string) => `${pre}${root}${dir}`);
  assert.notEqual(rooted, text, 'the installed config names no /etc/quickcmd or /var/lib/quickcmd path');
  fs.writeFileSync(out, rooted, { mode: 0o600 });
  return out;
}
