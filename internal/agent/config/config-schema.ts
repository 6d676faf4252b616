/**
 * The agent's YAML configuration as a zod schema: every key of the original Go agent with
 * its default, plus QuickCMD's own. Strict objects, so an unknown or misspelt key is an
 * error naming it (a typo in a security config must not pass silently).
 */
import { z } from 'zod';
import { commandsConfigShape } from './commands-schema.js';
import { safetyConfigShape } from './safety-schema.js';
import { MIN_MEMORY_BYTES } from './limits.js';
import { runtimeConfigKeys } from './runtime-schema.js';
import { schedulesConfigShape } from './schedules-schema.js';
import { fleetConfigKeys } from './broker-schema.js';
import { filesConfigSchema } from './files-schema.js';

export { MIN_MEMORY_BYTES } from './limits.js';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** One controller with its own keys (rotation: several secrets) and scopes. */
export const controllerSchema = z.strictObject({
  /** Controller id as it appears in `controller_id` and `X-QuickCMD-Controller`. */
  id: z.string().min(1).max(256),
  /** Inline secrets (at least 32 bytes each). Several are listed during a rotation. */
  secrets: z.array(z.string()).optional(),
  /** Files holding one secret each (must not be group/world readable). */
  secret_files: z.array(z.string().min(1)).optional(),
  /** Scopes this controller may require in `required_scopes`. */
  scopes: z.array(z.string().min(1)).default([]),
});

/** The configuration file, keys exactly as operators write them. */
export const configFileSchema = z.strictObject({
  /** TCP port to listen on. */
  port: z.number().int().min(0).max(65535).default(8443),
  /** Address to bind. */
  bind_address: z.string().min(1).default('0.0.0.0'),
  /** PEM certificate chain for the HTTPS server. */
  tls_cert_file: z.string().min(1).optional(),
  /** PEM private key for the HTTPS server. */
  tls_key_file: z.string().min(1).optional(),
  /** When set, controllers must present a client certificate signed by this CA (mTLS). */
  tls_client_ca_file: z.string().min(1).optional(),
  /** Plain HTTP, for development only. */
  insecure_http: z.boolean().default(false),
  /** Shared secret (legacy); QUICKCMD_HMAC_SECRET overrides it. */
  hmac_secret: z.string().optional(),
  /** File holding the shared secret. */
  hmac_secret_file: z.string().min(1).optional(),
  /** Controller ids allowed to submit with the shared secret. */
  allowed_controllers: z.array(z.string().min(1)).default([]),
  /** Controllers with their own secrets and scopes. */
  controllers: z.array(controllerSchema).default([]),
  /** Jobs running at once. */
  max_concurrent_jobs: positiveInt.max(1000).default(5),
  /** Jobs waiting for a slot; beyond this submissions get 429. */
  max_queued_jobs: nonNegativeInt.max(100000).default(100),
  /** Images a job may use (exact match). */
  allowed_images: z.array(z.string().min(1)).min(1).default(['alpine:latest', 'ubuntu:latest']),
  /** Image used when a job does not ask for one. */
  default_image: z.string().min(1).default('alpine:latest'),
  /** Pull a missing image (false: a missing image is a job error at once). */
  pull_images: z.boolean().default(false),
  /** User the agent drops to after binding when started as root. */
  run_as_user: z.string().min(1).default('quickcmd'),
  /** Group the agent drops to after binding when started as root. */
  run_as_group: z.string().min(1).default('quickcmd'),
  /** uid:gid inside the container. */
  sandbox_user: z.string().regex(/^\d{1,10}:\d{1,10}$/, 'must be numeric uid:gid').default('65534:65534'),
  /** CPUs a job gets by default. */
  default_cpu_limit: z.number().positive().max(1024).default(0.5),
  /** Memory bytes a job gets by default (swap capped to the same). */
  default_memory_limit: positiveInt.min(MIN_MEMORY_BYTES).default(268435456),
  /** Seconds a job may run by default. */
  default_timeout_seconds: positiveInt.default(300),
  /** Ceiling for a job's cpu_limit (defaults to default_cpu_limit). */
  max_cpu_limit: z.number().positive().max(1024).optional(),
  /** Ceiling for a job's memory_limit (defaults to default_memory_limit). */
  max_memory_limit: positiveInt.min(MIN_MEMORY_BYTES).optional(),
  /** Ceiling for a job's timeout_seconds (defaults to default_timeout_seconds). */
  max_timeout_seconds: positiveInt.optional(),
  /** Processes a job may have. */
  default_pids_limit: positiveInt.default(64),
  /** Size of /tmp and /workspace tmpfs. */
  tmpfs_size_bytes: positiveInt.default(67108864),
  /** Output kept per job (both streams); the rest is dropped. */
  max_output_bytes: positiveInt.default(4194304),
  /** Larger request bodies get 413. */
  max_request_bytes: positiveInt.max(64 * 1024 * 1024).default(1048576),
  /** Oldest acceptable `timestamp`, in seconds. */
  max_job_age_seconds: positiveInt.default(300),
  /** How far `timestamp` may be in the future. */
  max_clock_skew_seconds: nonNegativeInt.default(30),
  /** Longest `ttl - timestamp`. */
  max_ttl_seconds: positiveInt.default(3600),
  /** Status, logs and cancel need a signed request. */
  require_read_auth: z.boolean().default(true),
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  metrics_bearer_token: z.string().min(16).optional(),
  /** Finished jobs and their output are pruned after this. */
  job_retention_seconds: positiveInt.default(604800),
  /** How long running jobs may finish on SIGTERM before they are stopped. */
  shutdown_grace_seconds: nonNegativeInt.default(30),
  /** SQLite database for audit events, jobs and accepted ids. */
  audit_db_path: z.string().min(1).default('/var/lib/quickcmd/agent-audit.db'),
  /** Log level of the JSON logs. */
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Warm containers kept ready per image and limits profile (0 = off). */
  warm_pool_size: nonNegativeInt.max(64).default(0),
  /** Command policies (SPEC §11): `shell` and `commands`. */
  ...commandsConfigShape,
  /** Isolation runtimes (SPEC §14): allowed_runtimes, default_runtime, image_runtimes. */
  ...runtimeConfigKeys,
  /** Schedules (SPEC §13). */
  ...schedulesConfigShape,
  /** Fleet keys (SPEC §10): agent_name, labels, listen, broker, heartbeat_seconds. */
  ...fleetConfigKeys,
  ...filesConfigSchema,
  /** Fail-safe bounds (issue 12): audit coalescing, connection and body budgets, follower caps, timeouts. */
  ...safetyConfigShape,
});

/** The file as parsed, defaults applied. */
export type ConfigFile = z.infer<typeof configFileSchema>;
