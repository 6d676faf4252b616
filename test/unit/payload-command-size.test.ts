/**
 * Issue 12: a command longer than the kernel's single-argument limit (MAX_ARG_STRLEN,
 * 128 KiB with its NUL) is 400 INVALID_PAYLOAD naming the field at the door, not a job
 * accepted only to end with "argument list too long". Counted in UTF-8 bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RejectionError } from '../../internal/agent/errors.js';
import { MAX_COMMAND_BYTES, parseSignedJob } from '../../internal/agent/wire/payload.js';

const body = (command: string): string =>
  `{"payload":{"job_id":"job-1","prompt":"","command":${JSON.stringify(command)},"candidate_metadata":{},"plugin_metadata":null,"required_scopes":[],"snapshot_metadata":"","ttl":1767225900,"timestamp":1767225600,"controller_id":"c"},"signature":{"signature":"${'a'.repeat(64)}","algorithm":"HMAC-SHA256"}}`;

test('a command of 128 KiB or more (UTF-8 bytes) is INVALID_PAYLOAD naming payload.command', () => {
  assert.equal(MAX_COMMAND_BYTES, 131071);
  assert.equal(parseSignedJob(body('x'.repeat(MAX_COMMAND_BYTES))).payload.command.length, MAX_COMMAND_BYTES);
  for (const cmd of ['x'.repeat(MAX_COMMAND_BYTES + 1), 'x'.repeat(500_000), 'é'.repeat(70_000)]) {
    assert.throws(() => parseSignedJob(body(cmd)), (e: unknown) => e instanceof RejectionError && e.code === 'INVALID_PAYLOAD' && /payload\.command/.test(e.message) && /131071 bytes/.test(e.message));
  }
});
