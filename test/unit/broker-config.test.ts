/**
 * The fleet keys (SPEC §10): defaults keep an agent as it was (listening, no broker, name
 * from the host); every wrong value is a ConfigError naming its key (exit 2); the
 * permission builder and the backoff are what the SPEC says.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { backoffMs, MAX_BACKOFF_MS } from '../../internal/agent/broker/backoff.js';
import { brokerIdentity } from '../../internal/agent/broker/subjects.js';
import { defaultAgentName } from '../../internal/agent/config/broker-schema.js';
import { parseConfig } from '../../internal/agent/config/config.js';
import { ConfigError } from '../../internal/agent/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickcmd-broker-config-'));
const seed = path.join(dir, 'agent.nk');
fs.writeFileSync(seed, 'SUAAAA\n', { mode: 0o600 });
const loose = path.join(dir, 'loose.nk');
fs.writeFileSync(loose, 'SUAAAA\n', { mode: 0o644 });
const base = { hmac_secret: 'a'.repeat(32), tls_cert_file: '/x.crt', tls_key_file: '/x.key' };

function load(doc: Record<string, unknown>) {
  return parseConfig(stringify({ ...base, ...doc }), 'test.yaml');
}

function refused(doc: Record<string, unknown>, key: string): void {
  assert.throws(() => load(doc), (e: unknown) => e instanceof ConfigError && e.key === key, `expected ConfigError on ${key}`);
}

test('defaults keep today\'s agent: listening, no broker, a name from the host', () => {
  const c = load({});
  assert.equal(c.listen, true);
  assert.equal(c.broker, undefined);
  assert.deepEqual(c.labels, {});
  assert.equal(c.heartbeat_seconds, 15);
  assert.match(c.agent_name, /^[a-z0-9][a-z0-9-]{0,62}$/);
  assert.equal(defaultAgentName('Web_1.example.com'), 'web-1');
  assert.equal(defaultAgentName('---'), 'agent');
});

test('a broker agent without a listener needs no TLS certificate', () => {
  const c = parseConfig(stringify({ hmac_secret: 'a'.repeat(32), listen: false, agent_name: 'edge1', labels: { role: 'web' }, broker: { url: 'tls://nats:4222', nkey_seed_file: seed } }), 't.yaml');
  assert.equal(c.listen, false);
  assert.equal(c.broker?.url, 'tls://nats:4222');
});

test('every wrong fleet value names its key', () => {
  refused({ agent_name: 'Web1' }, 'agent_name');
  refused({ labels: { 'bad key': 'x' } }, 'labels.bad key');
  refused({ listen: false }, 'listen');
  refused({ broker: { url: 'http://x' } }, 'broker.url');
  refused({ broker: { url: 'nats://x:4222' } }, 'broker.url');
  refused({ broker: { url: 'wss://x:443' } }, 'broker.url');
  refused({ broker: { url: 'tls://x:4222', nkey_seed_file: loose } }, 'broker.nkey_seed_file');
  refused({ broker: { url: 'tls://x:4222', nkey_seed_file: path.join(dir, 'missing') } }, 'broker.nkey_seed_file');
  refused({ broker: { url: 'tls://x:4222', nkey_seed_file: seed, creds_file: seed } }, 'broker.nkey_seed_file');
  refused({ broker: { url: 'tls://x:4222', user: 'u' } }, 'broker.user');
  refused({ broker: { url: 'tls://x:4222', cert_file: seed } }, 'broker.key_file');
  refused({ broker: { url: 'tls://x:4222', typo: 1 } }, 'broker.typo');
  refused({ heartbeat_seconds: 0 }, 'heartbeat_seconds');
  assert.equal(load({ broker: { url: 'nats://x:4222', insecure: true } }).broker?.insecure, true);
});

test('backoff grows to a 20 s cap with jitter in its upper half', () => {
  assert.equal(backoffMs(0, 0), 125);
  assert.equal(backoffMs(0, 0.999999), 250);
  for (let i = 0; i < 40; i++) {
    const d = backoffMs(i, Math.random());
    assert.ok(d <= MAX_BACKOFF_MS && d >= Math.min(MAX_BACKOFF_MS, 250 * 2 ** i) / 2 - 1, `attempt ${i}: ${d}`);
  }
  assert.equal(backoffMs(30, 0.999999), MAX_BACKOFF_MS);
});

test('the broker identity of a request is its controller reply inbox', () => {
  assert.equal(brokerIdentity('_QC_INBOX.ops-1.abc.1'), 'nats:ops-1');
  assert.equal(brokerIdentity('_INBOX.xyz'), 'nats:reply=_INBOX.xyz');
  assert.equal(brokerIdentity(undefined), 'nats:(no reply subject)');
});
