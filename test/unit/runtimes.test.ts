/**
 * SPEC §14 without an engine: the runtime config keys and their cross-key rules, the choice
 * of a job's runtime (allowed, never below the image's minimum, default raised to it), the
 * container options a runtime gives, the engine's runtime list, and the warm profile key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig, type AgentConfig } from '../../internal/agent/config/config.js';
import { ConfigError, RejectionError, statusFor } from '../../internal/agent/errors.js';
import { jobSpecFor, runtimeFor } from '../../internal/agent/door/job-limits.js';
import { resolveCall } from '../../internal/agent/door/named-command.js';
import { checkEngineRuntimes } from '../../internal/agent/engine/runtime-check.js';
import type { JobPayload } from '../../internal/agent/wire/payload.js';
import { containerOptions } from '../../internal/sandbox/container-options.js';
import { assertRuntime } from '../../internal/sandbox/docker-sandbox.js';
import { containerRuntime } from '../../internal/sandbox/docker-answers.js';
import { chooseRuntime, engineRuntimes, hostPidsLimit, missingRuntimes, RUNSC_PIDS_BASE, RUNSC_PIDS_PER_PROCESS, RuntimeRefusal } from '../../internal/sandbox/runtimes.js';
import type { SandboxSpec } from '../../internal/sandbox/sandbox.js';
import { profileKey } from '../../internal/sandbox/warm-pool-protocol.js';

const base = { insecure_http: true, hmac_secret: 'x'.repeat(32), allowed_images: ['ci:1', 'web:1'], default_image: 'web:1' };

function load(extra: Record<string, unknown>): AgentConfig {
  return parseConfig(stringify({ ...base, ...extra }), 'rt.yaml');
}

function refused(extra: Record<string, unknown>, key: string, includes: RegExp): void {
  assert.throws(() => load(extra), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.key, key);
    assert.match(e.message, includes);
    return true;
  });
}

function payload(sandbox: Record<string, unknown> | undefined): JobPayload {
  return { jobId: 'j', prompt: '', command: 'true', candidateMetadata: sandbox === undefined ? null : { sandbox }, pluginMetadata: null, requiredScopes: null, snapshotMetadata: '', ttl: 2, timestamp: 1, controllerId: 'c' };
}

function refusedJob(cfg: AgentConfig, sandbox: Record<string, unknown>, code: string, reason: RegExp): void {
  assert.throws(() => jobSpecFor(payload(sandbox), cfg), (e: unknown) => {
    assert.ok(e instanceof RejectionError, String(e));
    assert.equal(e.code, code);
    assert.match(e.reason, reason);
    return true;
  });
}

test('defaults keep the behaviour before §14: runc only, no image minimums', () => {
  const cfg = load({});
  assert.deepEqual(cfg.allowed_runtimes, ['runc']);
  assert.equal(cfg.default_runtime, 'runc');
  assert.deepEqual(cfg.image_runtimes, {});
  assert.equal(jobSpecFor(payload(undefined), cfg).runtime, undefined, 'a runc job has the stored shape of a job before §14');
});

test('config: unknown runtime names, a default that is not allowed, an unmeetable image minimum are errors naming the key', () => {
  refused({ allowed_runtimes: ['runc', 'runcs'] }, 'allowed_runtimes.1', /runc|runsc/);
  refused({ allowed_runtimes: [] }, 'allowed_runtimes', /.+/);
  refused({ default_runtime: 'kata' }, 'default_runtime', /.+/);
  refused({ default_runtime: 'runsc' }, 'default_runtime', /runsc is not in allowed_runtimes \(runc\)/);
  refused({ image_runtimes: { 'ci:1': 'runsc' } }, 'image_runtimes.ci:1', /needs runsc or stronger/);
  refused({ image_runtimes: { 'ci:1': 'gvisor' } }, 'image_runtimes.ci:1', /.+/);
  const ok = load({ allowed_runtimes: ['runsc'], default_runtime: 'runsc', image_runtimes: { 'ci:1': 'runsc', 'web:1': 'runc' } });
  assert.deepEqual(ok.allowed_runtimes, ['runsc']);
});

test('a job may raise isolation, never go below its image minimum; the default is raised to it', () => {
  const cfg = load({ allowed_runtimes: ['runc', 'runsc'], image_runtimes: { 'ci:1': 'runsc' } });
  assert.equal(jobSpecFor(payload({ image: 'ci:1' }), cfg).runtime, 'runsc', 'default runc raised to the image minimum');
  assert.equal(jobSpecFor(payload({ image: 'ci:1', runtime: 'runsc' }), cfg).runtime, 'runsc');
  assert.equal(jobSpecFor(payload({ image: 'web:1', runtime: 'runsc' }), cfg).runtime, 'runsc', 'raising is allowed');
  assert.equal(jobSpecFor(payload({ image: 'web:1' }), cfg).runtime, undefined, 'runc');
  refusedJob(cfg, { image: 'ci:1', runtime: 'runc' }, 'RUNTIME_NOT_ALLOWED', /runtime runc is below the minimum runsc that image_runtimes sets for ci:1/);
  assert.equal(statusFor('RUNTIME_NOT_ALLOWED'), 403);
});

test('a runtime that is not allowed or unknown is 403 RUNTIME_NOT_ALLOWED; a non-string is INVALID_PAYLOAD', () => {
  const cfg = load({});
  refusedJob(cfg, { runtime: 'runsc' }, 'RUNTIME_NOT_ALLOWED', /runtime runsc is not in allowed_runtimes \(runc\)/);
  refusedJob(cfg, { runtime: 'kata-fc' }, 'RUNTIME_NOT_ALLOWED', /"kata-fc" is not a runtime this agent knows/);
  refusedJob(cfg, { runtime: 'RUNC' }, 'RUNTIME_NOT_ALLOWED', /not a runtime this agent knows/);
  refusedJob(cfg, { runtime: 1 }, 'INVALID_PAYLOAD', /sandbox\.runtime must be a non-empty string/);
  refusedJob(cfg, { runtime: '' }, 'INVALID_PAYLOAD', /sandbox\.runtime must be a non-empty string/);
  assert.equal(jobSpecFor(payload({ runtime: 'runc' }), cfg).runtime, undefined);
  // The hook for a named command's fixed runtime (SPEC §11) names where the value came from.
  assert.throws(() => runtimeFor('runsc', 'web:1', cfg, 'commands.3.runtime'), (e: unknown) => e instanceof RejectionError && e.code === 'RUNTIME_NOT_ALLOWED');
  assert.throws(() => runtimeFor(7, 'web:1', cfg, 'commands.3.runtime'), (e: unknown) => e instanceof RejectionError && /commands\.3\.runtime/.test(e.message));
});

test('chooseRuntime is the pure rule behind the door', () => {
  const policy = { allowed_runtimes: ['runc', 'runsc'] as const, default_runtime: 'runsc' as const, image_runtimes: {} };
  assert.equal(chooseRuntime(null, 'x', policy), 'runsc');
  assert.equal(chooseRuntime('runc', 'x', policy), 'runc', 'without an image minimum a job may ask for less than the default');
  assert.throws(() => chooseRuntime('runsc', 'x', { ...policy, allowed_runtimes: ['runc'], default_runtime: 'runc' }), RuntimeRefusal);
});

const spec: SandboxSpec = { jobId: 'j', agentId: 'a', image: 'i', command: 'true', env: {}, cpuLimit: 1, memoryLimit: 64 << 20, pidsLimit: 64, tmpfsSizeBytes: 1 << 20, sandboxUser: '65534:65534' };

test('container options name the runtime; runsc gets a host pids bound with room for the Sentry', () => {
  assert.equal(containerOptions(spec).HostConfig?.Runtime, 'runc', 'named even when absent from the spec');
  assert.equal(containerOptions(spec).HostConfig?.PidsLimit, 64);
  const g = containerOptions({ ...spec, runtime: 'runsc' }).HostConfig;
  assert.equal(g?.Runtime, 'runsc');
  assert.equal(g?.PidsLimit, RUNSC_PIDS_BASE + RUNSC_PIDS_PER_PROCESS * 64);
  assert.equal(hostPidsLimit('runc', 16), 16);
  assert.throws(() => containerOptions({ ...spec, runtime: 'kata' as never }), /unknown runtime "kata"/);
  // Every other hardening flag is the same under both runtimes.
  const { Runtime: _a, PidsLimit: _b, ...restRunc } = containerOptions(spec).HostConfig ?? {};
  const { Runtime: _c, PidsLimit: _d, ...restRunsc } = g ?? {};
  assert.deepEqual(restRunsc, restRunc);
});

test('the runtime the engine gave a container is checked against the chosen one', () => {
  assert.equal(containerRuntime({ HostConfig: { Runtime: 'runsc' } }), 'runsc');
  assert.equal(containerRuntime({ HostConfig: {} }), '');
  assert.equal(containerRuntime(null), '');
  assertRuntime({ jobId: 'j', runtime: 'runsc' }, 'runsc');
  assertRuntime({ jobId: 'j' }, 'runc');
  assert.throws(() => assertRuntime({ jobId: 'j', runtime: 'runsc' }, 'runc'), /created with runtime "runc", not runsc; it was removed unstarted/);
  assert.throws(() => assertRuntime({ jobId: 'j' }, ''), /runtime "", not runc/);
});

test('the engine runtime list: narrowed from docker info, missing ones named at start and reload', async () => {
  assert.deepEqual(engineRuntimes({ Runtimes: { runsc: { path: '/usr/bin/runsc' }, runc: { path: 'runc' } } }), ['runc', 'runsc']);
  assert.throws(() => engineRuntimes({}), /no Runtimes/);
  assert.deepEqual(missingRuntimes(['runc', 'runsc'], ['runc', 'io.containerd.runc.v2']), ['runsc']);
  const engine = (listed: string[]) => ({ runtimes: async () => listed });
  assert.deepEqual(await checkEngineRuntimes(engine(['runc', 'runsc']), { allowed_runtimes: ['runc', 'runsc'] }), { kind: 'ok', listed: ['runc', 'runsc'] });
  await assert.rejects(checkEngineRuntimes(engine(['runc']), { allowed_runtimes: ['runc', 'runsc'] }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.key, 'allowed_runtimes');
    assert.match(e.message, /runtime runsc is not registered with the Docker engine \(it lists runc\)/);
    return true;
  });
  const down = await checkEngineRuntimes({ runtimes: async () => Promise.reject(new Error('connect ENOENT')) }, { allowed_runtimes: ['runsc'] });
  assert.equal(down.kind, 'engine-down');
});

test('a warm container of one runtime never serves a job of the other', () => {
  const p = { image: 'i', cpuLimit: 1, memoryLimit: 1, pidsLimit: 1, tmpfsSizeBytes: 1, sandboxUser: '1:1' };
  assert.equal(profileKey(p), profileKey({ ...p, runtime: 'runc' }));
  assert.notEqual(profileKey(p), profileKey({ ...p, runtime: 'runsc' }));
});

test('a named command may fix a runtime: checked at load, a job may raise it, never lower it', () => {
  const cmd = { name: 'build', argv: ['true'], image: 'ci:1', runtime: 'runsc' };
  refused({ commands: [cmd] }, 'commands.0.runtime', /runsc is not in allowed_runtimes/);
  refused({ allowed_runtimes: ['runc', 'runsc'], image_runtimes: { 'ci:1': 'runsc' }, commands: [{ ...cmd, runtime: 'runc' }] }, 'commands.0.runtime', /runc is below the minimum runsc/);
  const cfg = load({ allowed_runtimes: ['runc', 'runsc'], commands: [cmd] });
  assert.equal(cfg.commands[0]?.definition.runtime, 'runsc');
});

test('a named command\'s runtime is its jobs\' default and floor', () => {
  const cfg = load({ allowed_runtimes: ['runc', 'runsc'], commands: [{ name: 'build', argv: ['true'], image: 'ci:1', runtime: 'runsc' }, { name: 'plain', argv: ['true'] }] });
  const [build, plain] = cfg.commands;
  assert.ok(build !== undefined && plain !== undefined);
  const named = (sandbox: Record<string, unknown> | undefined, cmd = build) => jobSpecFor({ ...payload(sandbox), command: '' }, cfg, resolveCall(cmd, {}));
  assert.equal(named(undefined).runtime, 'runsc');
  assert.equal(named({ runtime: 'runsc' }).runtime, 'runsc');
  assert.throws(() => named({ runtime: 'runc' }), (e: unknown) => e instanceof RejectionError && e.code === 'RUNTIME_NOT_ALLOWED' && /below the runtime runsc that command build fixes/.test(e.reason));
  assert.equal(named(undefined, plain).runtime, undefined, 'without one, the usual default (runc)');
  assert.equal(named({ runtime: 'runsc' }, plain).runtime, 'runsc');
});
