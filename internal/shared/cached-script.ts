/**
 * Runs a CommonJS bundle through V8's code cache (Node 20 has no `module.enableCompileCache`).
 * Compiling the daemon's 2.6 MB bundle, and the functions its module initialisers call, is a
 * large share of its start; a cache made at build time (`npm run build` runs the bundle once
 * with `--version` and keeps what V8 compiled) lets the next start skip most of that.
 *
 * The cache file is `<bundle>.<key>.v8cache`, the key naming the Node version and the flags
 * V8 checks (so the unit's heap flag has its own); it holds the SHA-256 of the bundle's
 * source, then V8's own cached data. V8 checks its version and flags itself, but of the source only its length, so
 * the hash is what keeps a stale cache from ever being used. A missing, stale or rejected cache
 * only costs the ordinary compile: the bundle runs the same either way. Nothing is written at
 * run time unless `QUICKCMD_CODE_CACHE_WRITE=1` (the build step), so an installed, read-only
 * tree and a daemon that dropped its privileges are never written to.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire, Module } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

const HASH_BYTES = 32;

/**
 * V8 folds its flags into the cache check: a cache made without the unit's
 * `--max-semi-space-size=1` is rejected under it. These prefixes are the V8 flags an operator
 * plausibly sets (heap and stack sizes, the JIT); Node's own flags (--import, --input-type,
 * --cpu-prof...) do not matter to V8. A flag missed here only makes V8 reject the cache.
 */
const V8_FLAG = /^--(max-|min-|initial-|semi-space|stack-size|jitless|no-opt|expose-gc|harmony|single-threaded|predictable|random-seed)/;

/** The V8 flags of this process (command line and NODE_OPTIONS), sorted: part of the cache key. */
export function nodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): string[] {
  const all = [...execArgv, ...nodeOptions.split(/\s+/)].map((f) => f.replace(/_/g, '-')).filter((f) => V8_FLAG.test(f));
  return [...new Set(all)].sort();
}

/** The cache file of a bundle for this Node and these flags: one file per combination. */
export function cacheFileOf(bundle: string, flags: readonly string[] = nodeFlags()): string {
  const key = crypto.createHash('sha256').update(JSON.stringify([process.version, process.arch, flags])).digest('hex').slice(0, 12);
  return `${bundle}.${key}.v8cache`;
}

/** What happened to the cache (for tests and the build step). */
export type CacheUse = 'used' | 'none' | 'stale' | 'rejected';

/** V8's cached data for `source` from `cacheFile`, or why there is none. */
function readCache(cacheFile: string, hash: Buffer): { data?: Buffer; use: CacheUse } {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(cacheFile);
  } catch {
    return { use: 'none' };
  }
  if (raw.length <= HASH_BYTES || !crypto.timingSafeEqual(raw.subarray(0, HASH_BYTES), hash)) return { use: 'stale' };
  return { data: raw.subarray(HASH_BYTES), use: 'used' };
}

/** Options of one run. */
export interface RunOptions {
  /** Write the cache when the process exits (what the build step asks for). */
  readonly writeCache?: boolean;
}

/** A compiled bundle, not yet run. */
export interface CompiledBundle {
  /** What happened to the cache. */
  readonly use: CacheUse;
  /** Run it as the module it would be under `require`; its own work goes on in the event loop. Returns its module.exports. */
  run(): unknown;
  /** Write the cache now: what V8 has compiled of it so far. */
  saveCache(): void;
}

/**
 * Compile `bundle` (a CommonJS file) with its cache if valid, to be run with its own
 * `require`, `module`, `__filename` and `__dirname`.
 */
export function compileCached(bundle: string, opts: RunOptions = {}): CompiledBundle {
  const file = path.resolve(bundle);
  const source = fs.readFileSync(file, 'utf8');
  const hash = crypto.createHash('sha256').update(source).digest();
  const cacheFile = cacheFileOf(file);
  const cached = readCache(cacheFile, hash);
  // A hashbang line, as the CommonJS loader allows, kept as a comment so positions stay.
  const code = source.startsWith('#!') ? `//${source.slice(2)}` : source;
  const script = new vm.Script(Module.wrap(code), {
    filename: file,
    cachedData: cached.data,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const use: CacheUse = cached.data !== undefined && script.cachedDataRejected === true ? 'rejected' : cached.use;
  const saveCache = (): void => {
    fs.writeFileSync(cacheFile, Buffer.concat([hash, script.createCachedData()]));
  };
  const run = (): unknown => {
    // At exit, so the functions compiled while running are in the cache too.
    if (opts.writeCache === true) process.once('exit', saveCache);
    const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
    const mod = new Module(file);
    mod.filename = file;
    mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(path.dirname(file));
    wrapper.call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
    mod.loaded = true;
    return mod.exports;
  };
  return { use, run, saveCache };
}

/** Compile and run `bundle` (the launcher's one call); returns what happened to the cache. */
export function runCachedScript(bundle: string, opts: RunOptions = {}): CacheUse {
  const compiled = compileCached(bundle, opts);
  compiled.run();
  return compiled.use;
}
