/**
 * The controller side of named commands, pure: `--param` flags, typing by a listed
 * definition (refusals before anything is sent), the payload a named run signs (empty
 * command, candidate_metadata.named_command) and that the agent's wire parser accepts it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPayload } from '../../internal/controller/job-request.js';
import { ParamError, parseParamFlags, typeParams, type ListedCommand } from '../../internal/controller/named-commands.js';
import { SettingsError } from '../../internal/controller/controller-error.js';
import { encodeJobBody } from '../../internal/agent/wire/signing.js';
import { parseSignedJob } from '../../internal/agent/wire/payload.js';
import { namedCommandRequest } from '../../internal/agent/wire/named-command-request.js';

const tail: ListedCommand = {
  name: 'tail-file',
  description: '',
  scopes: [],
  sha256: null,
  params: { lines: { type: 'integer', min: 1, max: 1000, default: 10 }, file: { type: 'enum', values: ['passwd', 'hosts'] }, follow: { type: 'boolean', default: false }, grep: { type: 'string', pattern: '[a-z]+', max_length: 8, default: 'x' } },
};

test('--param flags: NAME=VALUE, the value may hold = and newlines; twice or malformed is a usage error', () => {
  assert.deepEqual(parseParamFlags(['a=1', 'b=x=y', 'c=', 'd=l1\nl2']), { a: '1', b: 'x=y', c: '', d: 'l1\nl2' });
  assert.throws(() => parseParamFlags(['a=1', 'a=2']), SettingsError);
  assert.throws(() => parseParamFlags(['noequals']), SettingsError);
  assert.throws(() => parseParamFlags(['Bad=1']), SettingsError);
});

test('typing by the definition: integers and booleans become JSON numbers and booleans', () => {
  assert.deepEqual(typeParams(tail, { lines: '5', file: 'hosts', follow: 'true', grep: 'abc' }, 'web1'), { lines: 5, file: 'hosts', follow: true, grep: 'abc' });
  assert.deepEqual(typeParams(tail, { file: 'passwd' }, 'web1'), { file: 'passwd' });
  for (const raw of [{ file: 'passwd', lines: '0' }, { file: 'passwd', lines: '5x' }, { file: 'passwd', lines: '1.5' }, { file: 'shadow' }, {}, { file: 'passwd', follow: 'yes' }, { file: 'passwd', grep: 'ABC' }, { file: 'passwd', grep: 'abcdefghi' }, { file: 'passwd', extra: '1' }]) {
    assert.throws(() => typeParams(tail, raw, 'web1'), (e: unknown) => e instanceof ParamError && /agent web1: command tail-file: --param /.test(e.message), JSON.stringify(raw));
  }
});

test('a named run signs an empty command and candidate_metadata.named_command, which the agent parses', () => {
  const p = buildPayload({ command: '', named: { name: 'tail-file', params: { lines: 5, file: 'hosts' } }, timeoutSeconds: 30 }, 'c1', 1_700_000_000, 'job-1');
  assert.equal(p.command, '');
  assert.deepEqual(p.candidateMetadata, { sandbox: { timeout_seconds: 30 }, named_command: { name: 'tail-file', params: { lines: 5, file: 'hosts' } } });
  const parsed = parseSignedJob(encodeJobBody(p, Buffer.from('s'.repeat(32))));
  const call = namedCommandRequest(parsed.payload.candidateMetadata);
  assert.equal(call?.name, 'tail-file');
  assert.deepEqual({ ...call?.params }, { lines: 5, file: 'hosts' });
  assert.equal(buildPayload({ command: 'id' }, 'c1', 1, 'j').command, 'id');
});
