/**
 * The hardened unit really runs the agent. A Debian 12 root file system made with
 * debootstrap boots systemd in a container that shares the host's Docker socket; inside it
 * setup-agent.sh installs this checkout, and the test starts quickcmd-agent.service and
 * checks what the rating cannot: the agent comes up healthy (Docker reachable through the
 * read-only /run, audit database writable in the state directory), its process has no
 * capabilities, no_new_privs, a seccomp filter and the docker group, SIGHUP reloads it
 * in place, and SIGTERM stops it cleanly.
 *
 * Needs root, Docker and Debian's package archive (for debootstrap, once: the image is kept
 * as quickcmd-systemd-test:bookworm). Fails, never skips, when any of them is missing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCommand, run, runOk } from '../helpers/exec.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = 'quickcmd-systemd-test:bookworm';
const PACKAGES = 'systemd,systemd-sysv,dbus,procps,openssl,passwd,curl,ca-certificates';
const DOCKER_SOCKET = '/run/docker.sock';
const name = `quickcmd-systemd-${process.pid}`;

async function ensureImage(): Promise<void> {
  if ((await run('docker', ['image', 'inspect', IMAGE])).code === 0) return;
  await ensureCommand('debootstrap', 'debootstrap');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-rootfs-'));
  try {
    // No mirror argument: debootstrap's default archive, the one this machine's apt uses.
    await runOk('debootstrap', ['--variant=minbase', `--include=${PACKAGES}`, 'bookworm', dir], { timeoutMs: 900_000 });
    await runOk('sh', ['-c', 'tar -C "$1" -c . | docker import --change \'CMD ["/sbin/init"]\' - "$2"', 'sh', dir, IMAGE], { timeoutMs: 300_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `docker exec` a shell command in the systemd container. */
function sh(script: string, timeoutMs = 120_000): ReturnType<typeof run> {
  return run('docker', ['exec', name, 'bash', '-c', script], { timeoutMs });
}

async function shOk(script: string, timeoutMs = 120_000): Promise<string> {
  const r = await sh(script, timeoutMs);
  assert.equal(r.code, 0, `${script}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The agent's /health over TLS, trusting the certificate setup-agent.sh made; waits for it to listen. */
async function health(): Promise<{ code: string; body: string }> {
  const out = await shOk(
    `for i in $(seq 1 120); do
       code=$(curl -s -o /tmp/health -w '%{http_code}' --cacert /etc/quickcmd/agent.crt https://localhost:8443/health) && break
       sleep 0.5
     done
     echo "$code"; cat /tmp/health`,
    90_000,
  );
  const [code = '', ...body] = out.split('\n');
  return { code, body: body.join('\n') };
}

describe('quickcmd-agent.service under systemd', { timeout: 1_800_000 }, () => {
  before(async () => {
    assert.ok(typeof process.getuid === 'function' && process.getuid() === 0, 'needs root (debootstrap, a systemd container)');
    for (const f of ['dist/cmd/quickcmd-agent.js', 'dist/cmd/quickcmd.js']) {
      if (!fs.existsSync(path.join(repo, f))) await runOk('npm', ['run', '--silent', 'build'], { cwd: repo, timeoutMs: 300_000 });
    }
    assert.ok(fs.existsSync(DOCKER_SOCKET), `${DOCKER_SOCKET} missing: the agent inside needs the host's Docker engine`);
    await ensureImage();
    const cgroup2 = (await runOk('stat', ['-fc', '%T', '/sys/fs/cgroup'])).stdout.trim() === 'cgroup2fs';
    await runOk('docker', [
      'run', '-d', '--name', name, '--network', 'none',
      // systemd as PID 1 sets up the unit's namespaces and seccomp filter: it needs
      // CAP_SYS_ADMIN and an unfiltered syscall table, not a fully privileged container.
      '--cap-add', 'SYS_ADMIN', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
      ...(cgroup2 ? ['--cgroupns=private'] : ['--cgroupns=host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:ro']),
      '--tmpfs', '/run', '--tmpfs', '/run/lock', '-e', 'container=docker',
      '-v', `${DOCKER_SOCKET}:/run/docker.sock`,
      // The checkout at its own path (node_modules too, should it be a link elsewhere).
      ...[repo, fs.realpathSync(path.join(repo, 'node_modules'))].flatMap((p) => ['-v', `${p}:${p}:ro`]),
      '-v', `${process.execPath}:/usr/bin/node:ro`,
      IMAGE, '/sbin/init',
    ]);
    // Wait for systemd to finish booting (degraded is fine: some units need hardware).
    await shOk('for i in $(seq 1 120); do s=$(systemctl is-system-running 2>/dev/null); case "$s" in running|degraded) exit 0;; esac; sleep 0.5; done; systemctl is-system-running; exit 1');
    // The socket's group inside must be the one quickcmd joins: make `docker` carry its gid.
    await shOk('gid=$(stat -c %g /run/docker.sock); getent group docker >/dev/null || groupadd -g "$gid" docker');
    await shOk(`bash ${repo}/scripts/setup-agent.sh --hostname agent.systemd.test`, 300_000);
    await shOk('systemctl start quickcmd-agent.service');
  });

  after(async () => {
    await run('docker', ['rm', '-f', name]);
  });

  test('the agent starts healthy: Docker reachable, audit database writable', async () => {
    const h = await health();
    const journal = await sh('journalctl -u quickcmd-agent --no-pager -o cat | tail -30');
    assert.equal(h.code, '200', `health ${h.code}: ${h.body}\n${journal.stdout}`);
    const body = JSON.parse(h.body) as { status: string; checks: Record<string, string> };
    assert.equal(body.status, 'healthy');
    assert.deepEqual(body.checks, { docker: 'ok', audit: 'ok' });
    assert.match(await shOk('stat -c "%U %a" /var/lib/quickcmd/agent-audit.db'), /^quickcmd 600\n$/);
  });

  test('its process runs as quickcmd with the docker group, no capabilities, no_new_privs and seccomp', async () => {
    const pid = (await shOk('systemctl show -p MainPID --value quickcmd-agent')).trim();
    assert.match(pid, /^[1-9]\d*$/);
    const status = await shOk(`cat /proc/${pid}/status`);
    const field = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
    const uid = (await shOk('id -u quickcmd')).trim();
    const dockerGid = (await shOk('stat -c %g /run/docker.sock')).trim();
    assert.equal(field('Uid').split(/\s+/)[0], uid);
    assert.ok(field('Groups').split(/\s+/).includes(dockerGid), `groups ${field('Groups')} lack docker (${dockerGid})`);
    assert.equal(field('CapEff'), '0000000000000000');
    assert.equal(field('CapBnd'), '0000000000000000');
    assert.equal(field('NoNewPrivs'), '1');
    assert.equal(field('Seccomp'), '2');
  });

  test('systemctl reload re-reads the config in place', async () => {
    const before = (await shOk('systemctl show -p MainPID --value quickcmd-agent')).trim();
    await shOk('systemctl reload quickcmd-agent');
    const after = (await shOk('systemctl show -p MainPID --value quickcmd-agent')).trim();
    assert.equal(after, before, 'reload restarted the process');
    assert.equal((await health()).code, '200');
  });

  test('systemctl stop ends it cleanly', async () => {
    await shOk('systemctl stop quickcmd-agent', 150_000);
    const props = new Map((await shOk('systemctl show -p ActiveState -p Result quickcmd-agent')).trim().split('\n').map((l) => l.split('=') as [string, string]));
    assert.equal(props.get('ActiveState'), 'inactive');
    assert.equal(props.get('Result'), 'success');
  });
});
