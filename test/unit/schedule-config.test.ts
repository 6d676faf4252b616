/**
 * `schedules` in the config (SPEC §13) through the real loader: the default (none), a
 * valid schedule with its defaults, and every load-time refusal naming its key — bad cron,
 * unknown time zone, unknown command, parameters failing the command's rules, unknown
 * keys, bad enums, duplicate names, a controller id in the reserved `schedule:` space.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig, type AgentConfig } from '../../internal/agent/config/config.js';
import { ConfigError } from '../../internal/agent/errors.js';

const BASE = {
  hmac_secret: 'a'.repeat(32),
  insecure_http: true,
  allowed_controllers: ['c1'],
  commands: [{ name: 'disk-usage', argv: ['du', '-sh', '{path}'], params: { path: { type: 'string', pattern: '/[a-z/]*', default: '/etc' } } }],
};
const DU = { name: 'nightly-du', cron: '0 3 * * *', command: 'disk-usage' };

function load(extra: Record<string, unknown>): AgentConfig {
  return parseConfig(stringify({ ...BASE, ...extra }), '/test/agent-config.yaml');
}

function refused(extra: Record<string, unknown>, key: string, includes?: RegExp): void {
  let caught: unknown;
  try {
    load(extra);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${key}, got ${String(caught)}`);
  assert.equal(caught.key, key, caught.message);
  if (includes) assert.match(caught.message, includes);
}

test('default: no schedules', () => {
  assert.deepEqual(load({}).schedules, []);
});

test('a valid schedule gets its defaults', () => {
  const [s] = load({ schedules: [{ ...DU, params: { path: '/var' }, timezone: 'Europe/Berlin' }] }).schedules;
  assert.deepEqual(s, { ...DU, params: { path: '/var' }, timezone: 'Europe/Berlin', overlap: 'skip', catch_up: 'none', max_lateness_seconds: 3600, jitter_seconds: 0, enabled: true });
  assert.equal(load({ schedules: [{ ...DU, cron: '*/10 * * * * *' }] }).schedules[0]?.cron, '*/10 * * * * *');
});

test('each bad schedule is refused naming its key', () => {
  refused({ schedules: [{ ...DU, cron: '0 3 * *' }] }, 'schedules.0.cron', /5 fields/);
  refused({ schedules: [{ ...DU, cron: '0 25 * * *' }] }, 'schedules.0.cron');
  refused({ schedules: [{ ...DU, timezone: 'Europe/Atlantis' }] }, 'schedules.0.timezone', /IANA/);
  refused({ schedules: [{ ...DU, command: 'rm-rf' }] }, 'schedules.0.command', /not a named command/);
  refused({ schedules: [{ ...DU, params: { path: 'relative' } }] }, 'schedules.0.params', /path/);
  refused({ schedules: [{ ...DU, params: { nope: 1 } }] }, 'schedules.0.params', /nope/);
  refused({ schedules: [{ ...DU, overlap: 'sometimes' }] }, 'schedules.0.overlap');
  refused({ schedules: [{ ...DU, catch_up: 'all' }] }, 'schedules.0.catch_up');
  refused({ schedules: [{ ...DU, jitter_seconds: -1 }] }, 'schedules.0.jitter_seconds');
  refused({ schedules: [{ ...DU, name: 'Nightly' }] }, 'schedules.0.name');
  refused({ schedules: [{ ...DU, crontab: '0 3 * * *' }] }, 'schedules.0.crontab', /unknown key/);
  refused({ schedules: [DU, DU] }, 'schedules.1.name', /duplicate/);
  refused({ allowed_controllers: ['schedule:nightly-du'] }, 'allowed_controllers.0', /reserved/);
});
