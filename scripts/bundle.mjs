// Build step after tsc (`npm run build`): replaces dist/cmd/quickcmd.js and
// dist/cmd/quickcmd-agent.js with esbuild bundles, because resolving, reading and compiling
// a few hundred small modules was most of their start-up time (and module records and
// package metadata a share of the daemon's idle memory). Both still run from a fresh clone
// after `npm run build`: what stays external loads from node_modules as under tsc.
//
// CLI: the subcommand groups stay lazy: each dynamic import in cmd/quickcmd.ts becomes a
// chunk in dist/cmd/chunks/, loaded only when its command runs. Only the controller's own
// dependencies are bundled; full `zod` stays external (the agent's config schema loads it),
// so the controller's `zod/mini` is not dragged into a shared chunk with the whole library.
// Daemon: one file; native SQLite, dockerode (native optional parts, its own lazy loading
// in internal/sandbox/docker-client.ts), pino (worker-thread transports) and the NATS client
// stay packages.
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist/cmd');

/** @returns {import('esbuild').Plugin} bare imports not matching `bundled` stay external */
function externalUnless(bundled) {
  return {
    name: 'external-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:') || bundled(args.path) || args.importer.includes('/node_modules/')) return undefined;
        return { path: args.path, external: true };
      });
    },
  };
}

const common = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // ws probes for these optional native helpers and works without them.
  external: ['bufferutil', 'utf-8-validate'],
  // CommonJS packages inside an ES module bundle still call require() for Node built-ins.
  banner: { js: "import { createRequire as __qcCreateRequire } from 'node:module'; const require = __qcCreateRequire(import.meta.url);" },
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
};

const CLI_BUNDLED = new Set(['commander', 'ws', 'yaml', 'zod/mini', 'zod/locales']);
const AGENT_EXTERNAL = /^(better-sqlite3|dockerode|pino|@nats-io\/)/;

fs.rmSync(path.join(outdir, 'chunks'), { recursive: true, force: true });
await build({
  ...common,
  entryPoints: { quickcmd: 'cmd/quickcmd.ts' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  plugins: [externalUnless((p) => CLI_BUNDLED.has(p))],
});
await build({
  ...common,
  entryPoints: { 'quickcmd-agent': 'cmd/quickcmd-agent.ts' },
  plugins: [externalUnless((p) => !AGENT_EXTERNAL.test(p))],
});
for (const f of ['quickcmd.js.map', 'quickcmd-agent.js.map']) fs.rmSync(path.join(outdir, f), { force: true });
