/**
 * `candidate_metadata.sandbox` → execution spec (SPEC §3): defaults from the config,
 * IMAGE_NOT_ALLOWED / LIMIT_EXCEEDED beyond the ceilings, INVALID_PAYLOAD naming the field
 * for malformed requests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig, type AgentConfig } from '../../internal/agent/config/config.js';
import { RejectionError, type ErrorCode } from '../../internal/agent/errors.js';
import { jobSpecFor, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS, MIN_MEMORY_BYTES } from '../../internal/agent/door/job-limits.js';
import type { JobPayload } from '../../internal/agent/wire/payload.js';

const cfg: AgentConfig = parseConfig(
  stringify({
    insecure_http: true,
    hmac_secret: 'x'.repeat(32),
    allowed_images: ['alpine:latest', 'busybox@sha256:' + 'a'.repeat(64)],
    default_image: 'alpine:latest',
    default_cpu_limit: 0.5,
    max_cpu_limit: 2,
    default_memory_limit: 64 * 1024 * 1024,
    max_memory_limit: 512 * 1024 * 1024,
    default_timeout_seconds: 30,
    max_timeout_seconds: 600,
    default_pids_limit: 32,
  }),
  'limits.yaml',
);

function payload(sandbox: unknown, extra: Partial<JobPayload> = {}): JobPayload {
  return {
    jobId: 'job-1',
    prompt: '',
    command: 'echo hi',
    candidateMetadata: sandbox === undefined ? null : { sandbox },
    pluginMetadata: null,
    requiredScopes: null,
    snapshotMetadata: '',
    ttl: 2,
    timestamp: 1,
    controllerId: 'c1',
    ...extra,
  };
}

function rejects(sandbox: unknown, code: ErrorCode, includes: RegExp): void {
  let caught: unknown;
  try {
    jobSpecFor(payload(sandbox), cfg);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof RejectionError, `expected ${code} for ${JSON.stringify(sandbox)}`);
  assert.equal(caught.code, code);
  assert.match(caught.message, includes);
}

test('no sandbox request gets the configured defaults', () => {
  const spec = jobSpecFor(payload(undefined, { requiredScopes: ['a'] }), cfg);
  assert.deepEqual(spec, { command: 'echo hi', image: 'alpine:latest', cpuLimit: 0.5, memoryLimit: 64 * 1024 * 1024, timeoutSeconds: 30, pidsLimit: 32, env: {}, requiredScopes: ['a'] });
  assert.equal(jobSpecFor(payload(null), cfg).image, 'alpine:latest');
});

test('requests within the ceilings are honoured, exactly at the ceiling included', () => {
  const spec = jobSpecFor(payload({ image: 'busybox@sha256:' + 'a'.repeat(64), cpu_limit: 2, memory_limit: 512 * 1024 * 1024, timeout_seconds: 600, env: { A: '1', _b2: '' } }), cfg);
  assert.equal(spec.image, 'busybox@sha256:' + 'a'.repeat(64));
  assert.equal(spec.cpuLimit, 2);
  assert.equal(spec.memoryLimit, 512 * 1024 * 1024);
  assert.equal(spec.timeoutSeconds, 600);
  assert.deepEqual(spec.env, { A: '1', _b2: '' });
  assert.equal(Object.getPrototypeOf(spec.env), Object.prototype);
});

test('images match exactly', () => {
  rejects({ image: 'ubuntu:latest' }, 'IMAGE_NOT_ALLOWED', /ubuntu:latest/);
  rejects({ image: 'alpine' }, 'IMAGE_NOT_ALLOWED', /"alpine"/);
  rejects({ image: 'ALPINE:latest' }, 'IMAGE_NOT_ALLOWED', /ALPINE/);
  rejects({ image: 'busybox@sha256:' + 'b'.repeat(64) }, 'IMAGE_NOT_ALLOWED', /busybox/);
});

test('limits above the ceilings are LIMIT_EXCEEDED', () => {
  rejects({ cpu_limit: 2.01 }, 'LIMIT_EXCEEDED', /cpu_limit/);
  rejects({ memory_limit: 512 * 1024 * 1024 + 1 }, 'LIMIT_EXCEEDED', /memory_limit/);
  rejects({ timeout_seconds: 601 }, 'LIMIT_EXCEEDED', /timeout_seconds/);
});

test('malformed requests are INVALID_PAYLOAD naming the field', () => {
  rejects('alpine', 'INVALID_PAYLOAD', /candidate_metadata\.sandbox must be an object/);
  rejects([1], 'INVALID_PAYLOAD', /candidate_metadata\.sandbox must be an object/);
  rejects({ imagee: 'x' }, 'INVALID_PAYLOAD', /sandbox\.imagee is not a known/);
  rejects({ image: '' }, 'INVALID_PAYLOAD', /sandbox\.image must be/);
  rejects({ image: 7 }, 'INVALID_PAYLOAD', /sandbox\.image must be/);
  rejects({ cpu_limit: '1' }, 'INVALID_PAYLOAD', /sandbox\.cpu_limit/);
  rejects({ cpu_limit: 0 }, 'INVALID_PAYLOAD', /sandbox\.cpu_limit/);
  rejects({ cpu_limit: -1 }, 'INVALID_PAYLOAD', /sandbox\.cpu_limit/);
  rejects({ memory_limit: 1.5 * 1024 * 1024 * 64 + 0.5 }, 'INVALID_PAYLOAD', /sandbox\.memory_limit must be a positive integer/);
  rejects({ memory_limit: 1024 }, 'INVALID_PAYLOAD', new RegExp(`sandbox\\.memory_limit must be at least ${MIN_MEMORY_BYTES}`));
  rejects({ memory_limit: MIN_MEMORY_BYTES - 1 }, 'INVALID_PAYLOAD', /sandbox\.memory_limit must be at least/);
  assert.equal(jobSpecFor(payload({ memory_limit: MIN_MEMORY_BYTES }), cfg).memoryLimit, MIN_MEMORY_BYTES);
  rejects({ timeout_seconds: 1.5 }, 'INVALID_PAYLOAD', /sandbox\.timeout_seconds must be a positive integer/);
  rejects({ env: [] }, 'INVALID_PAYLOAD', /sandbox\.env must be an object/);
  rejects({ env: { '1BAD': 'x' } }, 'INVALID_PAYLOAD', /sandbox\.env\.1BAD is not a valid variable name/);
  rejects({ env: { 'A=B': 'x' } }, 'INVALID_PAYLOAD', /is not a valid variable name/);
  rejects({ env: { A: 1 } }, 'INVALID_PAYLOAD', /sandbox\.env\.A must be a string/);
  rejects({ env: { A: 'x\0y' } }, 'INVALID_PAYLOAD', /sandbox\.env\.A must not contain NUL/);
  rejects({ env: { A: 'x'.repeat(MAX_ENV_VALUE_BYTES + 1) } }, 'INVALID_PAYLOAD', /sandbox\.env\.A is longer/);
  const many = Object.fromEntries(Array.from({ length: MAX_ENV_VARS + 1 }, (_, i) => [`V${i}`, '']));
  rejects({ env: many }, 'INVALID_PAYLOAD', /sandbox\.env has 65 variables/);
});

test('an image check comes before the limit checks', () => {
  rejects({ image: 'ubuntu:latest', cpu_limit: 99 }, 'IMAGE_NOT_ALLOWED', /ubuntu/);
});
