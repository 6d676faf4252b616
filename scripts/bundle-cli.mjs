// Build step after tsc (`npm run build`): replaces dist/cmd/quickcmd.js with one esbuild
// bundle of the CLI, because resolving and compiling a few hundred small modules was most
// of its start-up time. The subcommand groups stay lazy: each dynamic import in
// cmd/quickcmd.ts becomes a chunk in dist/cmd/chunks/, loaded only when its command runs.
// The controller's own dependencies are bundled in; the agent's (native SQLite, koa, pino,
// dockerode, ...) stay external and load from node_modules as under tsc, only in the
// `agent`/`audit` chunks.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/**
 * The package imports `quickcmd run` and `quickcmd job …` make: bundled. Every other bare
 * import stays external. Full `zod` stays external too: the agent's config schema loads it
 * from node_modules, so the controller's `zod/mini` is not dragged into a shared chunk
 * with the whole library.
 */
const BUNDLED = new Set(['commander', 'ws', 'yaml', 'zod/mini', 'zod/locales']);
/** @type {import('esbuild').Plugin} */
const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || BUNDLED.has(args.path) || args.importer.includes('/node_modules/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};
const outdir = path.join(root, 'dist/cmd');
fs.rmSync(path.join(outdir, 'chunks'), { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: { quickcmd: 'cmd/quickcmd.ts' },
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  plugins: [externalPackages],
  // ws probes for these optional native helpers and works without them.
  external: ['bufferutil', 'utf-8-validate'],
  // CommonJS packages inside an ES module bundle still call require() for Node built-ins.
  banner: { js: "import { createRequire as __qcCreateRequire } from 'node:module'; const require = __qcCreateRequire(import.meta.url);" },
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
fs.rmSync(path.join(outdir, 'quickcmd.js.map'), { force: true });
