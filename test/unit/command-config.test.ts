/**
 * Command policies in the config (SPEC §11) through the real loader: defaults, and every
 * load-time refusal naming its key (placeholder without parameter, parameter never used,
 * pattern that does not compile, default failing its own rule, max_length above 4096,
 * image outside allowed_images, a placeholder in the program, duplicate names).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig, type AgentConfig } from '../../internal/agent/config/config.js';
import { ConfigError } from '../../internal/agent/errors.js';

const BASE = { hmac_secret: 'a'.repeat(32), insecure_http: true, allowed_controllers: ['c1'] };

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
  assert.ok(caught.message.includes(key));
  if (includes) assert.match(caught.message, includes);
}

const du = { name: 'disk-usage', argv: ['du', '-sh', '{path}'], params: { path: { type: 'string', pattern: '/[a-z/]*', default: '/' } } };

test('defaults: shell allow, no commands (today\'s behaviour)', () => {
  const cfg = load({});
  assert.equal(cfg.shell, 'allow');
  assert.deepEqual(cfg.commands, []);
});

test('a command is compiled at load: defaults applied, definition hashed', () => {
  const cfg = load({ shell: 'deny', commands: [du] });
  assert.equal(cfg.shell, 'deny');
  const [c] = cfg.commands;
  assert.ok(c !== undefined);
  assert.equal(c.definition.description, '');
  assert.deepEqual(c.definition.scopes, []);
  assert.equal((c.definition.params['path'] as { max_length: number }).max_length, 256);
  assert.match(c.sha256, /^[0-9a-f]{64}$/);
  // Same definition, same hash, whatever the key order in the file.
  const again = load({ commands: [{ params: du.params, argv: du.argv, name: du.name }] });
  assert.equal(again.commands[0]?.sha256, c.sha256);
  const other = load({ commands: [{ ...du, argv: ['du', '-s', '{path}'] }] });
  assert.notEqual(other.commands[0]?.sha256, c.sha256);
});

test('every bad definition stops the load naming the key', () => {
  refused({ shell: 'sometimes' }, 'shell');
  refused({ commands: [{ ...du, argv: ['du', '{path}', '{depth}'] }] }, 'commands.0.argv.2', /no parameter of that name/);
  refused({ commands: [{ ...du, argv: ['du', '-sh'] }] }, 'commands.0.params.path', /never used/);
  refused({ commands: [{ ...du, params: { path: { type: 'string', pattern: '([a-z' } } }] }, 'commands.0.params.path.pattern', /does not compile/);
  refused({ commands: [{ ...du, params: { path: { type: 'string', pattern: '/[a-z]*', default: 'relative' } } }] }, 'commands.0.params.path', /default/);
  refused({ commands: [{ ...du, params: { path: { type: 'string', max_length: 4097 } } }] }, 'commands.0.params.path.max_length');
  refused({ commands: [{ ...du, params: { path: { type: 'string', max_length: 3, default: 'abcd' } } }] }, 'commands.0.params.path', /default/);
  refused({ commands: [{ name: 'n', argv: ['seq', '{n}'], params: { n: { type: 'integer', min: 1, max: 9, default: 10 } } }] }, 'commands.0.params.n', /default/);
  refused({ commands: [{ name: 'n', argv: ['seq', '{n}'], params: { n: { type: 'integer', min: 5, max: 1 } } }] }, 'commands.0.params.n', /min is above max/);
  refused({ commands: [{ name: 'e', argv: ['cat', '{f}'], params: { f: { type: 'enum', values: ['a', 'b'], default: 'c' } } }] }, 'commands.0.params.f', /default/);
  refused({ commands: [{ name: 'b', argv: ['echo', '{f}'], params: { f: { type: 'boolean', default: 'yes' } } }] }, 'commands.0.params.f.default');
  refused({ commands: [{ name: 'x', argv: ['echo', '{f}'], params: { f: { type: 'float' } } }] }, 'commands.0.params.f.type');
  refused({ commands: [{ ...du, argv: ['du', '{path}-suffix'] }] }, 'commands.0.argv.1', /whole element or end it/);
  refused({ commands: [{ ...du, argv: ['du', '{path}{path}'] }] }, 'commands.0.argv.1', /whole element or end it/);
  refused({ commands: [{ ...du, argv: ['{path}'] }] }, 'commands.0.argv.0', /program/);
  refused({ commands: [{ ...du, argv: ['/bin/{path}', 'x'] }] }, 'commands.0.argv.0', /program/);
  refused({ commands: [{ ...du, argv: [] }] }, 'commands.0.argv');
  refused({ commands: [{ ...du, name: 'Disk Usage' }] }, 'commands.0.name');
  refused({ commands: [{ ...du, params: { Path: { type: 'string' } } }] }, 'commands.0.params.Path');
  refused({ commands: [{ ...du, shell: true }] }, 'commands.0.shell', /unknown key/);
  refused({ commands: [du, du] }, 'commands.1.name', /duplicate/);
  refused({ commands: [{ ...du, image: 'evil:latest' }] }, 'commands.0.image', /allowed_images/);
  refused({ commands: [{ ...du, timeout_seconds: 301 }] }, 'commands.0.timeout_seconds', /max_timeout_seconds/);
  refused({ commands: [{ ...du, memory_limit: 1024 }] }, 'commands.0.memory_limit');
});

test('{{name}} is a literal {name}; a literal {name} elsewhere is refused', () => {
  const cfg = load({ commands: [{ name: 'lit', argv: ['echo', 'x{{a}}y', '--k={{b}}', '{a}'], params: { a: { type: 'string' } } }] });
  assert.deepEqual(cfg.commands[0]?.template.elements, [{ literal: 'echo', param: null }, { literal: 'x{a}y', param: null }, { literal: '--k={b}', param: null }, { literal: '', param: 'a' }]);
  refused({ commands: [{ name: 'lit', argv: ['echo', 'x{a}y', '{a}'], params: { a: { type: 'string' } } }] }, 'commands.0.argv.1', /\{\{a\}\}/);
  const both = load({ commands: [{ name: 'lit', argv: ['echo', '{{a}}={a}'], params: { a: { type: 'string' } } }] });
  assert.deepEqual(both.commands[0]?.template.elements[1], { literal: '{a}=', param: 'a' });
  refused({ commands: [{ name: 'lit', argv: ['echo', '{{a}}'], params: { a: { type: 'string' } } }] }, 'commands.0.params.a', /never used/);
});

test('braces that are not placeholders are literal (awk programs stay usable)', () => {
  const cfg = load({ commands: [{ name: 'cols', argv: ['awk', '{print $1}', '{file}'], params: { file: { type: 'enum', values: ['/etc/passwd'] } } }] });
  const el = cfg.commands[0]?.template.elements;
  assert.deepEqual(el, [{ literal: 'awk', param: null }, { literal: '{print $1}', param: null }, { literal: '', param: 'file' }]);
});
