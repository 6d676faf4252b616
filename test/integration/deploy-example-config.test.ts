/**
 * examples/agent-config.yaml is the config every installation starts from (SPEC §9): it
 * lists every key with a comment, loads as is, and the values it shows are the defaults
 * unless it says otherwise. Its one file reference that must exist, hmac_secret_file, is
 * pointed at a temporary secret; nothing else is changed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { configFileSchema, controllerSchema } from '../../internal/agent/config/config-schema.js';
import { loadConfig } from '../../internal/agent/config/config.js';
import { run, runOk } from '../helpers/exec.js';
import { makePki } from '../helpers/tls.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const examplePath = path.join(repo, 'examples/agent-config.yaml');
const exampleText = fs.readFileSync(examplePath, 'utf8');
const SECRET_LINE = /^hmac_secret_file: \/etc\/quickcmd\/hmac-secret$/m;

describe('examples/agent-config.yaml', () => {
  let tmp = '';
  let configPath = '';
  let secret = '';

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-example-'));
    secret = crypto.randomBytes(32).toString('hex');
    const secretPath = path.join(tmp, 'hmac-secret');
    fs.writeFileSync(secretPath, `${secret}\n`, { mode: 0o600 });
    assert.match(exampleText, SECRET_LINE, 'the example must reference /etc/quickcmd/hmac-secret, which setup-agent.sh creates');
    configPath = path.join(tmp, 'agent-config.yaml');
    fs.writeFileSync(configPath, exampleText.replace(SECRET_LINE, `hmac_secret_file: ${secretPath}`), { mode: 0o600 });
  });

  after(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('names every key of the schema, each with a comment above it', () => {
    const lines = exampleText.split('\n');
    const keys = [...Object.keys(configFileSchema.shape), ...Object.keys(controllerSchema.shape)];
    for (const key of keys) {
      // Active (`key:`) or, for optional keys that are off, commented out (`# key:`); in a list item as `- key:`.
      const i = lines.findIndex((l) => new RegExp(`^\\s*#?\\s*(- )?${key}:`).test(l));
      assert.ok(i >= 0, `key ${key} is not in the example`);
      const commented = /^\s*#/.test(lines[i] ?? '') || /#\s*\S/.test((lines[i] ?? '').split(`${key}:`)[1] ?? '') || /^\s*#/.test(lines[i - 1] ?? '');
      assert.ok(commented, `key ${key} has no comment`);
    }
  });

  test('its values are the defaults except where it documents its choice', () => {
    const raw = parseYaml(exampleText) as Record<string, unknown>;
    const defaults = configFileSchema.parse({}) as Record<string, unknown>;
    // Chosen for an installation, with a comment saying so; not defaults.
    const chosen = new Set(['tls_cert_file', 'tls_key_file', 'hmac_secret_file', 'allowed_controllers', 'commands']);
    // Unset by default, meaning "the same as default_*"; the example spells the value out.
    const ceilings: Record<string, string> = { max_cpu_limit: 'default_cpu_limit', max_memory_limit: 'default_memory_limit', max_timeout_seconds: 'default_timeout_seconds' };
    for (const [key, value] of Object.entries(raw)) {
      if (chosen.has(key)) continue;
      const base = ceilings[key];
      assert.deepEqual(value, base !== undefined ? defaults[base] : defaults[key], `${key} differs from its default`);
    }
  });

  test('loads as is through loadConfig()', () => {
    const cfg = loadConfig(configPath, {});
    assert.equal(cfg.shared_secret?.toString('utf8'), secret);
    assert.equal(cfg.insecure_http, false);
    assert.equal(cfg.tls_cert_file, '/etc/quickcmd/agent.crt');
    assert.equal(cfg.audit_db_path, '/var/lib/quickcmd/agent-audit.db');
    assert.deepEqual(cfg.allowed_controllers, ['controller-1']);
  });

  test('passes `quickcmd agent check-config`', { timeout: 300_000 }, async () => {
    const cli = path.join(repo, 'dist/cmd/quickcmd.js');
    if (!fs.existsSync(cli)) await runOk('npm', ['run', '--silent', 'build'], { cwd: repo, timeoutMs: 300_000 });
    // check-config reads the TLS files exactly as a start does (issue 12), so this copy
    // points them at a throwaway certificate; every other line is the example's.
    const pki = makePki(path.join(tmp, 'pki'));
    const withTls = path.join(tmp, 'agent-config-tls.yaml');
    fs.writeFileSync(withTls, fs.readFileSync(configPath, 'utf8').replace(/^tls_cert_file: .*$/m, `tls_cert_file: ${pki.serverCert}`).replace(/^tls_key_file: .*$/m, `tls_key_file: ${pki.serverKey}`), { mode: 0o600 });
    const r = await run(process.execPath, [cli, 'agent', 'check-config', '--config', withTls]);
    assert.equal(r.code, 0, `check-config failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /ok/i);
  });
});
