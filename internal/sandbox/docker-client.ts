/**
 * The agent's dockerode client, built without loading what the agent never uses.
 * dockerode requires `@grpc/grpc-js` and `@grpc/proto-loader` when it is loaded, only for
 * BuildKit sessions (image builds), which the agent never starts; together they cost about
 * 13 MiB of resident memory and 120 ms of startup on a 2-core host (measured by
 * `npm run bench`, footprint section). docker-modem likewise loads `ssh2` (another ~13 MiB
 * alone: its ciphers and their WebAssembly) for `ssh://` DOCKER_HOSTs only. They are put in
 * the module cache as lazy stand-ins that load the real module on first use, so dockerode
 * behaves exactly as before if a session or an ssh connection is ever opened.
 */
import { createRequire, Module } from 'node:module';
import type DockerodeType from 'dockerode';

const load = createRequire(import.meta.url);

/** Packages dockerode loads eagerly but only needs inside its session code. */
const SESSION_ONLY = ['@grpc/grpc-js', '@grpc/proto-loader'] as const;

/** Put a stand-in for `file` in the CommonJS cache; the real module loads on first access or call. */
function deferModule(file: string): void {
  if (load.cache[file] !== undefined) return;
  let real: object | null = null;
  const target = (): object => {
    if (real === null) {
      delete load.cache[file];
      real = load(file) as object;
    }
    return real;
  };
  const stand = new Module(file);
  stand.filename = file;
  stand.loaded = true;
  // An arrow-function target (no non-configurable `prototype` to trip the proxy invariants),
  // so a module that exports a function (docker-modem's ssh agent) can be called.
  stand.exports = new Proxy(
    (): void => undefined,
    {
      apply: (_t, self, args: unknown[]) => Reflect.apply(target() as (...a: unknown[]) => unknown, self, args),
      get: (_t, key) => Reflect.get(target(), key) as unknown,
      has: (_t, key) => Reflect.has(target(), key),
      ownKeys: () => Reflect.ownKeys(target()),
      getOwnPropertyDescriptor: (_t, key) => {
        const d = Reflect.getOwnPropertyDescriptor(target(), key);
        return d === undefined ? undefined : { ...d, configurable: true };
      },
    },
  );
  load.cache[file] = stand;
}

function dockerodeClass(): typeof DockerodeType {
  try {
    const fromSession = createRequire(load.resolve('dockerode/lib/session.js'));
    for (const name of SESSION_ONLY) deferModule(fromSession.resolve(name));
  } catch {
    // A dockerode without that file (another version): load everything eagerly as usual.
  }
  try {
    deferModule(createRequire(load.resolve('dockerode')).resolve('docker-modem/lib/ssh.js'));
  } catch {
    // A docker-modem laid out differently: it loads ssh2 eagerly as before.
  }
  return load('dockerode') as typeof DockerodeType;
}

/** A client for the engine at the default socket or DOCKER_HOST. */
export function dockerClient(): DockerodeType {
  const Dockerode = dockerodeClass();
  return new Dockerode();
}
