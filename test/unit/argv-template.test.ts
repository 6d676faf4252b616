/**
 * Argv templates and typed parameters (SPEC §11), pure. fast-check proves that no value,
 * whatever its characters (quotes, `{other}` placeholders, spaces, newlines, unicode,
 * lone surrogates), changes the number of argv elements or any literal part; each type
 * accepts and refuses at its bounds; NUL is always refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compileTemplate, substitute } from '../../internal/agent/door/argv-template.js';
import { compileCommand, resolveCall, type CommandDefinition } from '../../internal/agent/door/named-command.js';
import { RejectionError } from '../../internal/agent/errors.js';

const NAMES = ['a', 'b', 'path', 'other', 'x_1'];
const tricky = fc.constantFrom('{a}', '{b}', '{path}', '{other}', '{', '}', '{{a}}', ' ', '\t', '\n', '\r\n', '"', "'", '`', '$(id)', '${a}', ';', '|', '&&', '\\', '--flag', '-', '=', '*', '~', '😀', '\ud800', '\u202e', '\u2028', 'é', '\u0085');
const value = fc.array(fc.oneof({ weight: 3, arbitrary: tricky }, { weight: 2, arbitrary: fc.string({ unit: 'grapheme' }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary' }) }), { maxLength: 12 }).map((parts) => parts.join('').replace(/\0/g, ''));
const literal = fc.string({ maxLength: 10 }).filter((s) => !/\{[a-z][a-z0-9_]{0,62}\}/.test(s) && !s.includes('\0'));
const element = fc.oneof(literal.map((l) => ({ literal: l, param: null as string | null })), fc.tuple(literal, fc.constantFrom(...NAMES)).map(([l, p]) => ({ literal: l, param: p as string | null })));

test('property: no value changes the element count or any literal part', () => {
  fc.assert(
    fc.property(literal.filter((l) => l !== ''), fc.array(element, { maxLength: 8 }), fc.dictionary(fc.constantFrom(...NAMES), value, { minKeys: NAMES.length }), (program, rest, vals) => {
      const argv = [program, ...rest.map((e) => (e.param === null ? e.literal : `${e.literal}{${e.param}}`))];
      const t = compileTemplate(argv, new Set(NAMES));
      const values = new Map(NAMES.map((n) => [n, vals[n] ?? '']));
      const out = substitute(t, values);
      assert.equal(out.length, argv.length);
      assert.equal(out[0], program);
      rest.forEach((e, i) => {
        const got = out[i + 1] as string;
        if (e.param === null) assert.equal(got, e.literal);
        else assert.equal(got, e.literal + (values.get(e.param) as string));
      });
    }),
    { numRuns: 2000 },
  );
});

const def = (params: CommandDefinition['params'], argv: string[]): CommandDefinition => ({ name: 't', description: '', argv, params, scopes: [] });

test('property: through resolveCall, a string value is one element, verbatim, or refused', () => {
  const cmd = compileCommand(def({ v: { type: 'string', max_length: 4096 }, w: { type: 'string', max_length: 4096 } }, ['printf', '[%s]\\n', '--v={v}', '{w}', 'end']));
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 50 }), fc.string({ unit: 'binary', maxLength: 50 }), (v, w) => {
      let out: readonly string[];
      try {
        out = resolveCall(cmd, { v, w }).argv;
      } catch (e) {
        assert.ok(e instanceof RejectionError && e.code === 'INVALID_PARAMETER');
        assert.ok(v.includes('\0') || w.includes('\0'), 'only NUL is refused without a pattern');
        return;
      }
      assert.deepEqual(out, ['printf', '[%s]\\n', `--v=${v}`, w, 'end']);
    }),
    { numRuns: 2000 },
  );
});

function refusedParam(cmd: ReturnType<typeof compileCommand>, params: Record<string, unknown>, name: string, rule?: RegExp): void {
  assert.throws(
    () => resolveCall(cmd, params),
    (e: unknown) => e instanceof RejectionError && e.code === 'INVALID_PARAMETER' && e.status === 400 && e.message.includes(name) && (rule === undefined || rule.test(e.message)),
    `${JSON.stringify(params)} refused naming ${name}`,
  );
}

test('string: pattern is an anchored full match, max_length counts characters, NUL refused', () => {
  const cmd = compileCommand(def({ p: { type: 'string', pattern: '[a-z]+', max_length: 5 } }, ['echo', '{p}']));
  assert.deepEqual(resolveCall(cmd, { p: 'abcde' }).argv, ['echo', 'abcde']);
  assert.deepEqual(resolveCall(cmd, { p: 'a' }).argv, ['echo', 'a']);
  refusedParam(cmd, { p: 'abcdef' }, 'p', /at most 5 characters/);
  refusedParam(cmd, { p: 'ab1' }, 'p', /does not match/);
  refusedParam(cmd, { p: '1ab' }, 'p', /does not match/);
  refusedParam(cmd, { p: 'ab\n' }, 'p', /does not match/);
  refusedParam(cmd, { p: '' }, 'p');
  refusedParam(cmd, { p: 5 }, 'p', /got a number/);
  refusedParam(cmd, {}, 'p', /required/);
  const open = compileCommand(def({ p: { type: 'string', max_length: 4 } }, ['echo', '{p}']));
  assert.deepEqual(resolveCall(open, { p: '😀😀😀😀' }).argv, ['echo', '😀😀😀😀']);
  refusedParam(open, { p: '😀😀😀😀😀' }, 'p');
  refusedParam(open, { p: 'a\0b' }, 'p', /NUL/);
  // An author's own anchors or alternation cannot escape the agent's anchoring.
  const alt = compileCommand(def({ p: { type: 'string', pattern: 'a|b.*' } }, ['echo', '{p}']));
  assert.deepEqual(resolveCall(alt, { p: 'a' }).argv, ['echo', 'a']);
  refusedParam(alt, { p: 'a; rm -rf /' }, 'p');
});

test('integer: min and max inclusive, integers only', () => {
  const cmd = compileCommand(def({ n: { type: 'integer', min: 1, max: 1000, default: 20 } }, ['tail', '-n', '{n}', '/etc/passwd']));
  assert.deepEqual(resolveCall(cmd, {}).argv, ['tail', '-n', '20', '/etc/passwd']);
  assert.deepEqual(resolveCall(cmd, { n: 1 }).argv[2], '1');
  assert.deepEqual(resolveCall(cmd, { n: 1000 }).argv[2], '1000');
  refusedParam(cmd, { n: 0 }, 'n', /below the minimum/);
  refusedParam(cmd, { n: 1001 }, 'n', /above the maximum/);
  refusedParam(cmd, { n: 2.5 }, 'n');
  refusedParam(cmd, { n: '5' }, 'n');
  refusedParam(cmd, { n: -1 }, 'n');
  refusedParam(cmd, { n: 2 ** 53 }, 'n');
  const neg = compileCommand(def({ n: { type: 'integer', min: -5 } }, ['echo', '{n}']));
  assert.deepEqual(resolveCall(neg, { n: -5 }).argv, ['echo', '-5']);
  assert.deepEqual(resolveCall(neg, { n: -0 }).argv, ['echo', '0']);
  refusedParam(neg, { n: -6 }, 'n');
});

test('boolean and enum', () => {
  const cmd = compileCommand(def({ b: { type: 'boolean', default: false }, e: { type: 'enum', values: ['uptime', 'loadavg'] } }, ['echo', '--b={b}', '/proc/{e}']));
  assert.deepEqual(resolveCall(cmd, { e: 'uptime' }).argv, ['echo', '--b=false', '/proc/uptime']);
  assert.deepEqual(resolveCall(cmd, { e: 'loadavg', b: true }).argv, ['echo', '--b=true', '/proc/loadavg']);
  refusedParam(cmd, { e: 'uptime', b: 'true' }, 'b');
  refusedParam(cmd, { e: 'uptime', b: 1 }, 'b');
  refusedParam(cmd, { e: 'UPTIME' }, 'e', /one of uptime, loadavg/);
  refusedParam(cmd, { e: 'uptime ' }, 'e');
  refusedParam(cmd, { e: '../self/environ' }, 'e');
  refusedParam(cmd, {}, 'e', /required/);
  refusedParam(cmd, { e: 'uptime', extra: 'x' }, 'extra', /no such parameter/);
});

test('the warm pool declines argv jobs (its PID 1 is a shell)', async () => {
  const { coldReason, profileKey, profileOf } = await import('../../internal/sandbox/warm-pool-protocol.js');
  const spec = { jobId: 'j', agentId: 'a', image: 'i', command: '', env: {}, cpuLimit: 1, memoryLimit: 64 * 1024 * 1024, pidsLimit: 64, tmpfsSizeBytes: 1024, sandboxUser: '1:1' };
  const key = profileKey(profileOf(spec));
  assert.equal(coldReason({ ...spec, command: 'echo' }, key), null);
  assert.match(coldReason({ ...spec, argv: ['echo', 'x'] }, key) ?? '', /named command/);
});

test('container options: an argv becomes Cmd as is (no shell); a shell job keeps /bin/sh -c', async () => {
  const { containerOptions } = await import('../../internal/sandbox/container-options.js');
  const spec = { jobId: 'j', agentId: 'a', image: 'i', command: '', env: {}, cpuLimit: 1, memoryLimit: 64 * 1024 * 1024, pidsLimit: 64, tmpfsSizeBytes: 1024, sandboxUser: '1:1' };
  assert.deepEqual(containerOptions({ ...spec, argv: ['du', '-sh', '/ ; id'] }).Cmd, ['du', '-sh', '/ ; id']);
  assert.deepEqual(containerOptions({ ...spec, argv: ['du', '-sh', '/'] }).Entrypoint, []);
  assert.deepEqual(containerOptions({ ...spec, command: 'id' }).Cmd, ['/bin/sh', '-c', 'id']);
  assert.throws(() => containerOptions({ ...spec, argv: ['echo', 'a\0b'] }), /NUL/);
  assert.throws(() => containerOptions({ ...spec, argv: [] }), /program/);
});

test('a pattern that backtracks catastrophically on a value is cut off within its budget and refuses the value', () => {
  const cmd = compileCommand(def({ p: { type: 'string', pattern: '(a+)+b', max_length: 4096 } }, ['echo', '{p}']));
  assert.deepEqual(resolveCall(cmd, { p: 'aaab' }).argv, ['echo', 'aaab']);
  const t0 = performance.now();
  refusedParam(cmd, { p: `${'a'.repeat(64)}!` }, 'p', /did not finish within 100 ms/);
  const took = performance.now() - t0;
  assert.ok(took < 2000, `refused after ${took.toFixed(0)} ms`);
  // The matcher is reusable after a timeout.
  assert.deepEqual(resolveCall(cmd, { p: 'ab' }).argv, ['echo', 'ab']);
  refusedParam(cmd, { p: 'ba' }, 'p', /does not match/);
});
