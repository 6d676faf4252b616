import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  containerOptions,
  DEFAULT_LOG_MAX_BYTES,
  envList,
  LABEL_AGENT,
  LABEL_JOB,
  parseSandboxUser,
} from '../../internal/sandbox/container-options.js';
import type { SandboxSpec } from '../../internal/sandbox/sandbox.js';

const spec: SandboxSpec = {
  jobId: 'job-1',
  agentId: 'agent-a',
  image: 'quickcmd-sandbox:latest',
  command: 'echo "$GREETING" && id',
  env: { GREETING: 'hello world', _X1: 'a=b' },
  cpuLimit: 0.5,
  memoryLimit: 256 * 1024 * 1024,
  pidsLimit: 64,
  tmpfsSizeBytes: 64 * 1024 * 1024,
  sandboxUser: '65534:65534',
};

describe('containerOptions', () => {
  const o = containerOptions(spec);
  const h = o.HostConfig ?? {};

  it('runs the command with /bin/sh -c as the sandbox user in /workspace', () => {
    assert.equal(o.Image, 'quickcmd-sandbox:latest');
    assert.deepEqual(o.Cmd, ['/bin/sh', '-c', 'echo "$GREETING" && id']);
    assert.deepEqual(o.Entrypoint, []);
    assert.equal(o.User, '65534:65534');
    assert.equal(o.WorkingDir, '/workspace');
  });

  it('passes env as K=V and labels the container with agent and job', () => {
    assert.deepEqual(o.Env, ['GREETING=hello world', '_X1=a=b']);
    assert.equal(LABEL_AGENT, 'io.quickcmd.agent');
    assert.equal(LABEL_JOB, 'io.quickcmd.job');
    assert.deepEqual(o.Labels, { 'io.quickcmd.agent': 'agent-a', 'io.quickcmd.job': 'job-1' });
  });

  it('attaches stdout and stderr without a TTY or stdin', () => {
    assert.equal(o.AttachStdout, true);
    assert.equal(o.AttachStderr, true);
    assert.equal(o.AttachStdin, false);
    assert.equal(o.Tty, false);
    assert.equal(o.OpenStdin, false);
  });

  it('has no network, a read-only root and no capabilities', () => {
    assert.equal(h.NetworkMode, 'none');
    assert.equal(o.NetworkDisabled, true);
    assert.equal(h.ReadonlyRootfs, true);
    assert.deepEqual(h.CapDrop, ['ALL']);
    assert.deepEqual(h.CapAdd, []);
    assert.deepEqual(h.SecurityOpt, ['no-new-privileges']);
    assert.equal(h.Privileged, false);
    assert.equal(h.IpcMode, 'none');
    assert.equal(h.Init, false);
    assert.equal(h.AutoRemove, false);
    assert.deepEqual(h.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  });

  it('mounts /tmp (noexec) and /workspace as tmpfs owned by the sandbox user', () => {
    const size = 64 * 1024 * 1024;
    assert.deepEqual(h.Tmpfs, {
      '/tmp': `rw,noexec,nosuid,nodev,size=${size},uid=65534,gid=65534,mode=1777`,
      '/workspace': `rw,nosuid,nodev,size=${size},uid=65534,gid=65534,mode=0700`,
    });
  });

  it('sets pids, memory (swap equal) and cpu limits', () => {
    assert.equal(h.PidsLimit, 64);
    assert.equal(h.Memory, 256 * 1024 * 1024);
    assert.equal(h.MemorySwap, 256 * 1024 * 1024);
    assert.equal(h.NanoCpus, 500_000_000);
    assert.equal(containerOptions({ ...spec, cpuLimit: 1.23456789012 }).HostConfig?.NanoCpus, 1_234_567_890);
    assert.equal(containerOptions({ ...spec, cpuLimit: 2 }).HostConfig?.NanoCpus, 2_000_000_000);
  });

  it('bounds the log on disk with a byte-exact driver', () => {
    assert.equal(h.LogConfig?.Type, 'local');
    assert.deepEqual(h.LogConfig?.Config, { 'max-size': String(DEFAULT_LOG_MAX_BYTES / 2), 'max-file': '2', compress: 'false' });
    const small = containerOptions(spec, { logMaxBytes: 1 }).HostConfig?.LogConfig?.Config;
    assert.equal(small?.['max-size'], String(1024 * 1024), 'never below 1 MiB per file');
  });

  it('has no host mounts, volumes, devices and never the Docker socket', () => {
    assert.deepEqual(h.Binds, []);
    assert.deepEqual(h.Mounts, []);
    assert.deepEqual(h.VolumesFrom, []);
    assert.deepEqual(h.Devices, []);
    assert.equal(o.Volumes, undefined);
    assert.equal(h.PidMode, '');
    assert.ok(!JSON.stringify(o).includes('docker.sock'));
    for (const key of Object.keys(h.Tmpfs ?? {})) assert.ok(key === '/tmp' || key === '/workspace');
  });

  it('is pure: same input, same output, input untouched', () => {
    const copy = structuredClone(spec);
    assert.deepEqual(containerOptions(spec), containerOptions(spec));
    assert.deepEqual(spec, copy);
  });

  it('takes uid and gid from sandboxUser', () => {
    const t = containerOptions({ ...spec, sandboxUser: '1000:2000' }).HostConfig?.Tmpfs ?? {};
    assert.match(t['/tmp'] ?? '', /uid=1000,gid=2000/);
    assert.match(t['/workspace'] ?? '', /uid=1000,gid=2000/);
  });
});

describe('containerOptions validation (defense in depth)', () => {
  it('rejects invalid env names', () => {
    for (const key of ['', '1A', 'A-B', 'A B', 'A=B', 'é', 'A\0']) {
      assert.throws(() => containerOptions({ ...spec, env: { [key]: 'x' } }), TypeError, JSON.stringify(key));
    }
  });

  it('rejects NUL in env values', () => {
    assert.throws(() => envList({ A: 'x\0y' }), TypeError);
  });

  it('rejects a non-numeric sandbox user', () => {
    assert.throws(() => parseSandboxUser('nobody'), TypeError);
    assert.throws(() => parseSandboxUser('1:2,uid=0'), TypeError);
    assert.deepEqual(parseSandboxUser('65534:65534'), { uid: 65534, gid: 65534 });
  });

  it('rejects non-positive limits', () => {
    assert.throws(() => containerOptions({ ...spec, pidsLimit: 0 }), TypeError);
    assert.throws(() => containerOptions({ ...spec, memoryLimit: -1 }), TypeError);
    assert.throws(() => containerOptions({ ...spec, tmpfsSizeBytes: 1.5 }), TypeError);
    assert.throws(() => containerOptions({ ...spec, cpuLimit: Number.NaN }), TypeError);
    assert.throws(() => containerOptions({ ...spec, cpuLimit: 0 }), TypeError);
  });
});
