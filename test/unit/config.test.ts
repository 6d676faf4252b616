/**
 * The agent config (SPEC §2) through the real loader on real temporary files: every
 * default, unknown keys and wrong types named, secret strength and file permissions,
 * cross-key rules, and the QUICKCMD_HMAC_SECRET override.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig, parseConfig, resolveConfigPath, DEFAULT_CONFIG_PATH, type AgentConfig, type ConfigEnv } from '../../internal/agent/config/config.js';
import { ConfigError } from '../../internal/agent/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-config-unit-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const SECRET = 'a'.repeat(32);
const TLS = { tls_cert_file: '/etc/quickcmd/tls/server.crt', tls_key_file: '/etc/quickcmd/tls/server.key' };
let n = 0;

/** Write `doc` (YAML object or raw text) to a fresh file and load it with the real loader. */
function load(doc: Record<string, unknown> | string, env: ConfigEnv = {}): AgentConfig {
  const file = path.join(dir, `config-${++n}.yaml`);
  fs.writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc), { mode: 0o600 });
  return loadConfig(file, env);
}

/** A fresh secret file with `mode` (and optionally a group owner). */
function secretFile(content: string, mode: number, gid?: number): string {
  const file = path.join(dir, `secret-${++n}`);
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
  if (gid !== undefined) fs.chownSync(file, process.getuid?.() ?? 0, gid);
  return file;
}

/** Assert loading fails with a ConfigError on `key`, its message naming the key (and `includes`). */
function refused(doc: Record<string, unknown> | string, key: string, includes?: RegExp, env: ConfigEnv = {}): ConfigError {
  let caught: unknown;
  try {
    load(doc, env);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${key}, got ${String(caught)}`);
  assert.equal(caught.key, key);
  assert.equal(caught.code, 'CONFIG_INVALID');
  assert.ok(caught.message.includes(key), `message names ${key}: ${caught.message}`);
  if (includes) assert.match(caught.message, includes);
  return caught;
}

test('a minimal config gets every documented default', () => {
  const cfg = load({ hmac_secret: SECRET, ...TLS });
  const expected: Record<string, unknown> = {
    port: 8443,
    bind_address: '0.0.0.0',
    insecure_http: false,
    allowed_controllers: [],
    max_concurrent_jobs: 5,
    max_queued_jobs: 100,
    allowed_images: ['alpine:latest', 'ubuntu:latest'],
    default_image: 'alpine:latest',
    pull_images: false,
    run_as_user: 'quickcmd',
    run_as_group: 'quickcmd',
    sandbox_user: '65534:65534',
    default_cpu_limit: 0.5,
    default_memory_limit: 268435456,
    default_timeout_seconds: 300,
    max_cpu_limit: 0.5,
    max_memory_limit: 268435456,
    max_timeout_seconds: 300,
    default_pids_limit: 64,
    tmpfs_size_bytes: 67108864,
    max_output_bytes: 4194304,
    max_request_bytes: 1048576,
    max_job_age_seconds: 300,
    max_clock_skew_seconds: 30,
    max_ttl_seconds: 3600,
    require_read_auth: true,
    job_retention_seconds: 604800,
    shutdown_grace_seconds: 30,
    audit_db_path: '/var/lib/quickcmd/agent-audit.db',
    log_level: 'info',
  };
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual((cfg as unknown as Record<string, unknown>)[key], value, `default of ${key}`);
  }
  assert.equal(cfg.tls_client_ca_file, undefined);
  assert.equal(cfg.metrics_bearer_token, undefined);
  assert.equal(cfg.tls_cert_file, TLS.tls_cert_file);
  assert.deepEqual(cfg.shared_secret, Buffer.from(SECRET, 'utf8'));
  assert.equal(cfg.controller_keys.size, 0);
  // The raw secret keys are not carried into the running config.
  assert.equal('hmac_secret' in cfg, false);
  assert.equal('hmac_secret_file' in cfg, false);
  assert.ok(Object.isFrozen(cfg));
});

test('max_* ceilings follow their default_* values and may be raised', () => {
  const cfg = load({ hmac_secret: SECRET, ...TLS, default_cpu_limit: 1, default_memory_limit: 64 * 1024 * 1024, default_timeout_seconds: 10 });
  assert.equal(cfg.max_cpu_limit, 1);
  assert.equal(cfg.max_memory_limit, 64 * 1024 * 1024);
  assert.equal(cfg.max_timeout_seconds, 10);
  const raised = load({ hmac_secret: SECRET, ...TLS, max_cpu_limit: 2, max_memory_limit: 1 << 30, max_timeout_seconds: 3600 });
  assert.equal(raised.max_cpu_limit, 2);
  assert.equal(raised.max_memory_limit, 1 << 30);
  assert.equal(raised.max_timeout_seconds, 3600);
});

test('an unknown top-level key is an error naming it', () => {
  refused({ hmac_secret: SECRET, ...TLS, max_concurent_jobs: 3 }, 'max_concurent_jobs', /unknown key/);
});

test('an unknown nested key is named with its full path', () => {
  refused({ ...TLS, controllers: [{ id: 'c1', secretz: [SECRET] }] }, 'controllers.0.secretz', /unknown key/);
  refused({ ...TLS, controllers: [{ id: 'c1', secrets: [SECRET] }, { id: 'c2', secrets: [SECRET], scope: ['x'] }] }, 'controllers.1.scope', /unknown key/);
});

test('a wrong type names the key', () => {
  refused({ hmac_secret: SECRET, ...TLS, port: '8443' }, 'port');
  refused({ hmac_secret: SECRET, ...TLS, max_concurrent_jobs: 2.5 }, 'max_concurrent_jobs');
  refused({ hmac_secret: SECRET, ...TLS, insecure_http: 'yes' }, 'insecure_http');
  refused({ hmac_secret: SECRET, ...TLS, allowed_images: 'alpine:latest' }, 'allowed_images');
  refused({ hmac_secret: SECRET, ...TLS, allowed_controllers: ['ok', 7] }, 'allowed_controllers.1');
  refused({ hmac_secret: SECRET, ...TLS, default_cpu_limit: -1 }, 'default_cpu_limit');
  refused({ hmac_secret: SECRET, ...TLS, sandbox_user: 'nobody' }, 'sandbox_user');
  refused({ hmac_secret: SECRET, ...TLS, log_level: 'verbose' }, 'log_level');
  refused({ ...TLS, controllers: [{ id: 'c1', secrets: [SECRET], scopes: 'deploy' }] }, 'controllers.0.scopes');
  refused({ hmac_secret: 12345, ...TLS }, 'hmac_secret');
});

test('text that is not a YAML mapping is refused', () => {
  refused('port: [1,\n', '(yaml)', /not valid YAML/);
  refused('- a\n- b\n', '(root)', /mapping/);
  refused(`hmac_secret: ${SECRET}\nport: 1\nport: 2\n`, '(yaml)');
});

test('a secret shorter than 32 bytes is refused, 32 bytes is accepted', () => {
  refused({ hmac_secret: 'x'.repeat(31), ...TLS }, 'hmac_secret', /31 bytes; at least 32/);
  assert.equal(load({ hmac_secret: 'x'.repeat(32), ...TLS }).shared_secret?.length, 32);
  // Bytes, not characters: 11 three-byte characters are 33 bytes.
  assert.equal(load({ hmac_secret: '€'.repeat(11), ...TLS }).shared_secret?.length, 33);
  refused({ ...TLS, controllers: [{ id: 'c1', secrets: [SECRET, 'short'] }] }, 'controllers.0.secrets.1', /at least 32/);
});

test('the CHANGE_ME placeholder is refused wherever a secret goes', () => {
  refused({ hmac_secret: 'CHANGE_ME', ...TLS }, 'hmac_secret', /CHANGE_ME/);
  refused({ hmac_secret_file: secretFile('CHANGE_ME\n', 0o600), ...TLS }, 'hmac_secret_file', /CHANGE_ME/);
  refused({ ...TLS, controllers: [{ id: 'c1', secrets: ['CHANGE_ME'] }] }, 'controllers.0.secrets.0', /CHANGE_ME/);
  refused({ ...TLS }, 'QUICKCMD_HMAC_SECRET', /CHANGE_ME/, { QUICKCMD_HMAC_SECRET: 'CHANGE_ME' });
});

test('no secret at all is refused', () => {
  refused({ ...TLS }, 'hmac_secret', /no secret/);
  refused({ ...TLS, controllers: [{ id: 'c1' }] }, 'controllers.0.secrets', /no secrets/);
});

test('hmac_secret_file: 0600 is read (trailing newline dropped), 0644 and 0604 are refused', () => {
  const secret = crypto.randomBytes(32).toString('hex');
  const ok = load({ hmac_secret_file: secretFile(`${secret}\n`, 0o600), ...TLS });
  assert.equal(ok.shared_secret?.toString('utf8'), secret);
  refused({ hmac_secret_file: secretFile(secret, 0o644), ...TLS }, 'hmac_secret_file', /other users.*644.*chmod 600/);
  refused({ hmac_secret_file: secretFile(secret, 0o604), ...TLS }, 'hmac_secret_file', /other users/);
  refused({ hmac_secret_file: secretFile(secret, 0o620), ...TLS }, 'hmac_secret_file', /group-writable/);
});

test('hmac_secret_file: group-readable only when the group is the agent’s own', () => {
  const secret = crypto.randomBytes(32).toString('hex');
  const ownGid = process.getegid?.() ?? 0;
  // Group read by the agent's own group is the layout setup-agent.sh writes (root:quickcmd 0640).
  assert.equal(load({ hmac_secret_file: secretFile(secret, 0o640, ownGid), ...TLS }).shared_secret?.toString(), secret);
  // A group that is neither the process's nor run_as_group's: another account could read it.
  const foreign = 54321;
  assert.notEqual(foreign, ownGid);
  refused({ hmac_secret_file: secretFile(secret, 0o640, foreign), ...TLS, run_as_group: 'root' }, 'hmac_secret_file', /readable by group 54321/);
});

test('hmac_secret_file: missing file, directory, and both forms at once are refused', () => {
  refused({ hmac_secret_file: path.join(dir, 'nope'), ...TLS }, 'hmac_secret_file', /ENOENT/);
  const sub = fs.mkdtempSync(path.join(dir, 'd-'));
  fs.chmodSync(sub, 0o700);
  refused({ hmac_secret_file: sub, ...TLS }, 'hmac_secret_file', /not a regular file/);
  refused({ hmac_secret: SECRET, hmac_secret_file: secretFile(SECRET, 0o600), ...TLS }, 'hmac_secret_file', /either/);
});

test('controller secret_files follow the same permission rule', () => {
  const secret = crypto.randomBytes(32).toString('hex');
  const cfg = load({ ...TLS, controllers: [{ id: 'c1', secrets: [SECRET], secret_files: [secretFile(secret, 0o600)], scopes: ['deploy'] }] });
  const keys = cfg.controller_keys.get('c1');
  assert.deepEqual(keys?.secrets.map((b) => b.toString()), [SECRET, secret]);
  assert.deepEqual([...(keys?.scopes ?? [])], ['deploy']);
  refused({ ...TLS, controllers: [{ id: 'c1', secret_files: [secretFile(secret, 0o644)] }] }, 'controllers.0.secret_files.0', /other users/);
});

test('duplicate controller ids are refused', () => {
  refused({ ...TLS, controllers: [{ id: 'c1', secrets: [SECRET] }, { id: 'c1', secrets: [SECRET] }] }, 'controllers.1.id', /duplicate/);
});

test('allowed_controllers without a shared secret is refused', () => {
  refused({ ...TLS, allowed_controllers: ['c9'], controllers: [{ id: 'c1', secrets: [SECRET] }] }, 'allowed_controllers', /no hmac_secret/);
});

test('default_image must be one of allowed_images', () => {
  refused({ hmac_secret: SECRET, ...TLS, default_image: 'debian:latest' }, 'default_image', /not in allowed_images/);
  refused({ hmac_secret: SECRET, ...TLS, allowed_images: ['busybox:1'] }, 'default_image', /alpine:latest is not in allowed_images/);
  assert.equal(load({ hmac_secret: SECRET, ...TLS, allowed_images: ['busybox:1'], default_image: 'busybox:1' }).default_image, 'busybox:1');
  refused({ hmac_secret: SECRET, ...TLS, allowed_images: [] }, 'allowed_images');
});

test('TLS files are required unless insecure_http', () => {
  refused({ hmac_secret: SECRET }, 'tls_cert_file', /required unless insecure_http/);
  refused({ hmac_secret: SECRET, tls_cert_file: TLS.tls_cert_file }, 'tls_key_file', /required unless insecure_http/);
  const plain = load({ hmac_secret: SECRET, insecure_http: true });
  assert.equal(plain.insecure_http, true);
  assert.equal(plain.tls_cert_file, undefined);
  refused({ hmac_secret: SECRET, insecure_http: true, tls_client_ca_file: '/ca.crt' }, 'tls_client_ca_file', /mTLS needs TLS/);
});

test('QUICKCMD_HMAC_SECRET overrides hmac_secret and hmac_secret_file', () => {
  const env = 'e'.repeat(40);
  assert.equal(load({ hmac_secret: SECRET, ...TLS }, { QUICKCMD_HMAC_SECRET: env }).shared_secret?.toString(), env);
  assert.equal(load({ hmac_secret_file: secretFile(SECRET, 0o600), ...TLS }, { QUICKCMD_HMAC_SECRET: env }).shared_secret?.toString(), env);
  // Even a config whose own secret is weak loads: the environment value replaces it.
  assert.equal(load({ hmac_secret: 'CHANGE_ME', ...TLS }, { QUICKCMD_HMAC_SECRET: env }).shared_secret?.toString(), env);
  // It supplies the only secret, too.
  assert.equal(load({ ...TLS, allowed_controllers: ['c1'] }, { QUICKCMD_HMAC_SECRET: env }).shared_secret?.toString(), env);
  // But it is held to the same strength rule, named as the variable.
  refused({ hmac_secret: SECRET, ...TLS }, 'QUICKCMD_HMAC_SECRET', /at least 32/, { QUICKCMD_HMAC_SECRET: 'short' });
  // An empty variable is treated as unset.
  assert.equal(load({ hmac_secret: SECRET, ...TLS }, { QUICKCMD_HMAC_SECRET: '' }).shared_secret?.toString(), SECRET);
});

test('a max_* ceiling below its default_* is refused', () => {
  refused({ hmac_secret: SECRET, ...TLS, max_cpu_limit: 0.25 }, 'max_cpu_limit', /below default_cpu_limit/);
  refused({ hmac_secret: SECRET, ...TLS, max_memory_limit: 128 * 1024 * 1024 }, 'max_memory_limit', /below default_memory_limit/);
  refused({ hmac_secret: SECRET, ...TLS, max_timeout_seconds: 299 }, 'max_timeout_seconds', /below default_timeout_seconds/);
  refused({ hmac_secret: SECRET, ...TLS, default_timeout_seconds: 60, max_timeout_seconds: 59 }, 'max_timeout_seconds');
  assert.equal(load({ hmac_secret: SECRET, ...TLS, max_timeout_seconds: 300 }).max_timeout_seconds, 300);
});

test('an unreadable config file is a ConfigError, not a crash', () => {
  let caught: unknown;
  try {
    loadConfig(path.join(dir, 'missing.yaml'));
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError);
  assert.match(caught.message, /cannot read .*missing\.yaml: ENOENT/);
});

test('an empty file is validated as an empty mapping (and fails for want of a secret)', () => {
  refused('', 'hmac_secret', /no secret/);
});

test('YAML alias bombs are bounded', () => {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 12; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  assert.throws(() => parseConfig(bomb.join('\n'), 'bomb.yaml'), ConfigError);
});

test('the config path comes from the flag, then QUICKCMD_CONFIG, then the default', () => {
  assert.equal(resolveConfigPath('/a.yaml', { QUICKCMD_CONFIG: '/b.yaml' }), '/a.yaml');
  assert.equal(resolveConfigPath(undefined, { QUICKCMD_CONFIG: '/b.yaml' }), '/b.yaml');
  assert.equal(resolveConfigPath(undefined, {}), DEFAULT_CONFIG_PATH);
  assert.equal(DEFAULT_CONFIG_PATH, '/etc/quickcmd/agent-config.yaml');
});
