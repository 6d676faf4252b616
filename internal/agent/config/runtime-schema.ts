/**
 * Config keys of SPEC §14 (isolation runtimes), spread into the main schema. Runtime names
 * are a closed set (a typo like `runcs` is an error naming the key, never a job that runs
 * under the engine's default); the cross-key rules are checked by `checkRuntimeKeys`.
 */
import { z } from 'zod';
import { DEFAULT_RUNTIME, RUNTIMES, isolationRank, type RuntimeName } from '../../sandbox/runtimes.js';
import { ConfigError } from '../errors.js';

const runtimeName = z.enum(RUNTIMES);

/** The runtime keys, with defaults that keep the behaviour before §14 (runc only). */
export const runtimeConfigKeys = {
  /** Docker runtimes a job may use; the engine must list each one (checked at start and reload). */
  allowed_runtimes: z.array(runtimeName).min(1).default([DEFAULT_RUNTIME]),
  /** Runtime of a job that asks for none (raised to its image's minimum); must be allowed. */
  default_runtime: runtimeName.default(DEFAULT_RUNTIME),
  /** Image → the least isolation it may run with (runc < runsc). */
  image_runtimes: z.record(z.string().min(1), runtimeName).default({}),
};

/** The resolved runtime keys. */
export interface RuntimeKeys {
  readonly allowed_runtimes: readonly RuntimeName[];
  readonly default_runtime: RuntimeName;
  readonly image_runtimes: Readonly<Record<string, RuntimeName>>;
  readonly default_image: string;
  /** Named commands (SPEC §11) that may fix a runtime. */
  readonly commands: readonly { readonly definition: { readonly image?: string | undefined; readonly runtime?: RuntimeName | undefined } }[];
}

/** Cross-key rules: the default is allowed, and every image minimum can be met by an allowed runtime. */
export function checkRuntimeKeys(cfg: RuntimeKeys): void {
  if (!cfg.allowed_runtimes.includes(cfg.default_runtime)) {
    throw new ConfigError('default_runtime', `${cfg.default_runtime} is not in allowed_runtimes (${cfg.allowed_runtimes.join(', ')})`);
  }
  const top = Math.max(...cfg.allowed_runtimes.map(isolationRank));
  for (const [image, floor] of Object.entries(cfg.image_runtimes)) {
    if (isolationRank(floor) > top) {
      throw new ConfigError(`image_runtimes.${image}`, `needs ${floor} or stronger, but allowed_runtimes (${cfg.allowed_runtimes.join(', ')}) has none: jobs of this image could never run`);
    }
  }
  cfg.commands.forEach((cmd, i) => {
    const r = cmd.definition.runtime;
    if (r === undefined) return;
    if (!cfg.allowed_runtimes.includes(r)) throw new ConfigError(`commands.${i}.runtime`, `${r} is not in allowed_runtimes (${cfg.allowed_runtimes.join(', ')})`);
    const image = cmd.definition.image ?? cfg.default_image;
    const floor = cfg.image_runtimes[image] ?? DEFAULT_RUNTIME;
    if (isolationRank(r) < isolationRank(floor)) throw new ConfigError(`commands.${i}.runtime`, `${r} is below the minimum ${floor} that image_runtimes sets for ${image}`);
  });
}
