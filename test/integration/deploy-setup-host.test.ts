/**
 * scripts/setup-agent.sh without --root, on the real paths, but inside a private mount
 * namespace whose /etc, /opt, /usr/local and /var/lib are throw-away overlays: the user,
 * groups, owners, the wrappers and the unit are as a host gets them, and the host itself is
 * left untouched. Checks what --root cannot: owners, docker group membership, that the
 * agent's user can read its config and secret (check-config run as quickcmd through the
 * installed wrapper) and other users cannot, and that systemd accepts the installed unit.
 * Needs root (user creation, mounts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCommand, run, runOk, type RunResult } from '../helpers/exec.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const script = path.join(repo, 'scripts/setup-agent.sh');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

// Runs inside `unshare -m`; everything it mounts disappears with the namespace.
// Prints `key=value` facts the test asserts on.
const inner = String.raw`
set -euo pipefail
ov="$1"; script="$2"
for d in etc opt usr/local var/lib; do
  n="$(echo "$d" | tr / _)"
  mkdir -p "$ov/$n-up" "$ov/$n-work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$ov/$n-up,workdir=$ov/$n-work" "/$d"
done
echo "run1_out<<"; bash "$script" --hostname agent1.example.test; echo ">>"
echo "run2_out<<"; bash "$script" --hostname agent1.example.test; echo ">>"
echo "user=$(id quickcmd)"
for f in /etc/quickcmd /etc/quickcmd/agent-config.yaml /etc/quickcmd/hmac-secret /etc/quickcmd/agent.key \
         /etc/quickcmd/agent.crt /var/lib/quickcmd /opt/quickcmd /opt/quickcmd/dist/cmd/quickcmd.js \
         /usr/local/bin/quickcmd-agent /usr/local/bin/quickcmd /etc/systemd/system/quickcmd-agent.service; do
  echo "stat $(stat -c '%U:%G %a' "$f") $f"
done
set +e
out="$(setpriv --reuid=quickcmd --regid=quickcmd --init-groups /usr/local/bin/quickcmd agent check-config --config /etc/quickcmd/agent-config.yaml 2>&1)"
echo "check_config_as_quickcmd=$? $(echo "$out" | tr '\n' ' ')"
setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/quickcmd/hmac-secret >/dev/null 2>&1
echo "nobody_reads_secret=$?"
setpriv --reuid=nobody --regid=nogroup --clear-groups cat /etc/quickcmd/agent.key >/dev/null 2>&1
echo "nobody_reads_key=$?"
if command -v systemd-analyze >/dev/null; then
  out="$(SYSTEMD_COLORS=0 systemd-analyze verify --man=no /etc/systemd/system/quickcmd-agent.service 2>&1)"
  echo "verify=$? $(echo "$out" | tr '\n' ' ')"
fi
set -e
echo "purge_out<<"; bash "$script" --uninstall --purge; echo ">>"
id quickcmd >/dev/null 2>&1 && echo "user_after_purge=present" || echo "user_after_purge=absent"
ls -d /etc/quickcmd /var/lib/quickcmd /opt/quickcmd 2>/dev/null | sed 's/^/left=/' || true
`;

function fact(out: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(out);
  assert.ok(m, `no ${key}= in:\n${out}`);
  return m[1] ?? '';
}

function block(out: string, key: string): string {
  const m = new RegExp(`^${key}<<\\n([\\s\\S]*?)^>>$`, 'm').exec(out);
  assert.ok(m, `no ${key} block in:\n${out}`);
  return m[1] ?? '';
}

describe('setup-agent.sh on a host (private mount namespace)', { skip: isRoot ? false : 'needs root: creates a user and mounts overlays', timeout: 600_000 }, () => {
  let tmp = '';
  let r: RunResult;

  before(async () => {
    if (!fs.existsSync(path.join(repo, 'dist/cmd/quickcmd.js')) || !fs.existsSync(path.join(repo, 'dist/cmd/quickcmd-agent.js'))) {
      await runOk('npm', ['run', '--silent', 'build'], { cwd: repo, timeoutMs: 300_000 });
    }
    await ensureCommand('systemd-analyze', 'systemd');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-host-'));
    // Readable by the quickcmd and nobody users the inner script switches to.
    fs.chmodSync(tmp, 0o755);
    r = await run('unshare', ['-m', 'bash', '-c', inner, 'inner', tmp, script], { timeoutMs: 300_000 });
  });

  after(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('installs, reinstalls and purges without error', () => {
    assert.equal(r.code, 0, `inner script failed:\n${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(block(r.stdout, 'run1_out'), /skipped/);
    assert.match(block(r.stdout, 'run2_out'), /kept existing \/etc\/quickcmd\/hmac-secret/);
    assert.doesNotMatch(block(r.stdout, 'run2_out'), /created (user|group)|added quickcmd/);
  });

  test('creates the quickcmd user in its own group and in docker', () => {
    const user = fact(r.stdout, 'user');
    assert.match(user, /^uid=\d+\(quickcmd\) gid=\d+\(quickcmd\)/);
    assert.match(user, /groups=.*\(docker\)/);
  });

  test('gives every path its owner and mode', () => {
    const want: Record<string, string> = {
      '/etc/quickcmd': 'root:quickcmd 750',
      '/etc/quickcmd/agent-config.yaml': 'root:quickcmd 640',
      '/etc/quickcmd/hmac-secret': 'root:quickcmd 640',
      '/etc/quickcmd/agent.key': 'root:quickcmd 640',
      '/etc/quickcmd/agent.crt': 'root:root 644',
      '/var/lib/quickcmd': 'quickcmd:quickcmd 700',
      '/opt/quickcmd': 'root:root 755',
      '/opt/quickcmd/dist/cmd/quickcmd.js': 'root:root 644',
      '/usr/local/bin/quickcmd-agent': 'root:root 755',
      '/usr/local/bin/quickcmd': 'root:root 755',
      '/etc/systemd/system/quickcmd-agent.service': 'root:root 644',
    };
    for (const [p, v] of Object.entries(want)) {
      const m = new RegExp(`^stat (\\S+ \\d+) ${p.replace(/[.]/g, '\\.')}$`, 'm').exec(r.stdout);
      assert.equal(m?.[1], v, `owner and mode of ${p}`);
    }
  });

  test('the agent user passes check-config through the installed wrapper; others cannot read secrets', () => {
    const cc = fact(r.stdout, 'check_config_as_quickcmd');
    assert.match(cc, /^0 /, `check-config as quickcmd: ${cc}`);
    assert.match(cc, /ok/i);
    assert.notEqual(fact(r.stdout, 'nobody_reads_secret'), '0');
    assert.notEqual(fact(r.stdout, 'nobody_reads_key'), '0');
  });

  test('systemd accepts the installed unit', () => {
    const v = /^verify=(.*)$/m.exec(r.stdout);
    assert.ok(v, `no verify= in:\n${r.stdout}`);
    assert.equal(v[1]?.trim(), '0', `systemd-analyze verify: ${v[1]}`);
  });

  test('--uninstall --purge removes the program, config, data and user', () => {
    assert.equal(fact(r.stdout, 'user_after_purge'), 'absent');
    assert.doesNotMatch(r.stdout, /^left=/m);
    assert.match(block(r.stdout, 'purge_out'), /removed user quickcmd/);
  });
});
