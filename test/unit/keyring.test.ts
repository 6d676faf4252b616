/**
 * Which secrets verify which controller (SPEC §2 `controllers`, §3): own keys only for a
 * listed controller (the shared secret cannot impersonate it), the shared secret for the
 * rest subject to allowed_controllers, no scopes with the shared secret.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig, type AgentConfig } from '../../internal/agent/config/config.js';
import { accessFor } from '../../internal/agent/door/keyring.js';

const SHARED = 's'.repeat(32);
const OLD = 'o'.repeat(32);
const NEW = 'n'.repeat(32);

function cfg(doc: Record<string, unknown>): AgentConfig {
  return parseConfig(stringify({ insecure_http: true, ...doc }), 'keyring.yaml');
}

const both = cfg({
  hmac_secret: SHARED,
  allowed_controllers: ['legacy-1'],
  controllers: [{ id: 'ci', secrets: [NEW, OLD], scopes: ['deploy', 'read'] }],
});

test('a listed controller verifies only with its own secrets, all of them during a rotation', () => {
  const a = accessFor(both, 'ci');
  assert.equal(a.source, 'controller');
  assert.equal(a.allowed, true);
  assert.deepEqual(a.secrets.map((b) => b.toString()), [NEW, OLD]);
  assert.equal(a.secrets.some((b) => b.toString() === SHARED), false, 'the shared secret cannot impersonate ci');
  assert.deepEqual([...a.scopes].sort(), ['deploy', 'read']);
});

test('a listed controller is allowed without being in allowed_controllers', () => {
  assert.equal(both.allowed_controllers.includes('ci'), false);
  assert.equal(accessFor(both, 'ci').allowed, true);
});

test('another id uses the shared secret, with no scopes, allowed only if listed', () => {
  const legacy = accessFor(both, 'legacy-1');
  assert.equal(legacy.source, 'shared');
  assert.equal(legacy.allowed, true);
  assert.deepEqual(legacy.secrets.map((b) => b.toString()), [SHARED]);
  assert.equal(legacy.scopes.size, 0);
  const stranger = accessFor(both, 'stranger');
  assert.equal(stranger.source, 'shared');
  assert.equal(stranger.allowed, false);
  assert.equal(stranger.scopes.size, 0);
});

test('without a shared secret an unknown id has nothing to verify with', () => {
  const only = cfg({ controllers: [{ id: 'ci', secrets: [NEW] }] });
  const a = accessFor(only, 'legacy-1');
  assert.equal(a.source, 'none');
  assert.equal(a.allowed, false);
  assert.equal(a.secrets.length, 0);
  assert.equal(accessFor(only, 'ci').scopes.size, 0, 'scopes default to none');
});

test('ids match exactly (no case folding)', () => {
  assert.equal(accessFor(both, 'CI').source, 'shared');
  assert.equal(accessFor(both, 'CI').allowed, false);
  assert.equal(accessFor(both, 'Legacy-1').allowed, false);
});
