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
// Daemon: one CommonJS file, dist/cmd/quickcmd-agent.cjs; native SQLite, dockerode (native
// optional parts, its own lazy loading in internal/sandbox/docker-client.ts), pino
// (worker-thread transports) and the NATS client stay packages. dist/cmd/quickcmd-agent.js
// is a small launcher that runs it through V8's code cache (internal/shared/cached-script.ts):
// the cache is made here, by one run that stops after reading the config, and holds the
// compiled bundle, every module initialiser and the config parser; compiling those was the
// largest single share of the start.
import path from 'node:path';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
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
const AGENT_EXTERNAL = /^(better-sqlite3|dockerode|@nats-io\/)/;

/** CommonJS bundles (run through the code cache): createRequire(import.meta.url) in the lazy loaders gets the bundle's own URL. */
const commonJs = {
  ...common,
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  define: { 'import.meta.url': '__qcImportMetaUrl' },
  banner: { js: "const __qcImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};

/** A launcher `dist/cmd/NAME.js` running `NAME.cjs` from the code cache; `prelude` runs first (the CLI's --version). */
async function launcher(name, prelude = []) {
  await build({
    ...common,
    stdin: {
      contents: [
        ...prelude,
        "import { fileURLToPath } from 'node:url';",
        // tsc's output, loaded only past the prelude (node:crypto and node:vm are not free).
        "const { compileCached } = await import('../internal/shared/cached-script.js');",
        `const compiled = compileCached(fileURLToPath(new URL('./${name}.cjs', import.meta.url)), { writeCache: process.env['QUICKCMD_CODE_CACHE_WRITE'] === '1' });`,
        // QUICKCMD_CODE_CACHE_CHECK=1 prints whether the cache was used (used, none, stale, rejected) and runs nothing.
        "if (process.env['QUICKCMD_CODE_CACHE_CHECK'] === '1') {",
        "  process.stdout.write(`${compiled.use}\\n`);",
        "  process.exit(0);",
        "}",
        'compiled.run();',
      ].join('\n'),
      resolveDir: outdir,
      sourcefile: `${name}-launcher.ts`,
      loader: 'ts',
    },
    outdir: undefined,
    outfile: path.join(outdir, `${name}.js`),
    banner: { js: '#!/usr/bin/env node' },
    plugins: [{ name: 'tsc-output', setup: (b) => b.onResolve({ filter: /cached-script\.js$/ }, (a) => ({ path: a.path, external: true })) }],
  });
}

fs.rmSync(path.join(outdir, 'chunks'), { recursive: true, force: true });
// CLI: one file; the subcommand groups' dynamic imports become lazy initialisers inside it.
await build({
  ...commonJs,
  entryPoints: { quickcmd: 'cmd/quickcmd.ts' },
  plugins: [externalUnless((p) => CLI_BUNDLED.has(p))],
});
await launcher('quickcmd', [
  "import { AGENT_VERSION } from '../../internal/agent/version.ts';",
  "const args = process.argv.slice(2);",
  "if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {",
  "  process.stdout.write(`${AGENT_VERSION}\\n`);",
  "  process.exit(0);",
  "}",
]);
await build({
  ...commonJs,
  entryPoints: { 'quickcmd-agent': 'cmd/quickcmd-agent.ts' },
  plugins: [externalUnless((p) => !AGENT_EXTERNAL.test(p))],
});
// The daemon's heap tuning changes a V8 flag, and V8 rejects a cache made under other flags:
// set it before the compile, in the cache's run and in every start alike.
await launcher('quickcmd-agent', ["import '../../internal/agent/daemon/heap-tuning.ts';"]);
for (const f of fs.readdirSync(outdir)) if (f.endsWith('.map') || f.endsWith('.v8cache')) fs.rmSync(path.join(outdir, f), { force: true });
// The code caches: what V8 compiled for one run of the bundle (its modules' initialisers,
// the command line, reading and validating the example config; see cmd/quickcmd-agent.ts),
// with Node's default flags and with the systemd unit's NODE_OPTIONS (V8 rejects a cache
// made under other heap flags).
const agentLauncher = path.join(outdir, 'quickcmd-agent.js');
const unit = fs.readFileSync(path.join(root, 'deployments/systemd/quickcmd-agent.service'), 'utf8');
const unitOptions = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit)?.[1]?.trim() ?? '';
for (const nodeOptions of new Set(['', unitOptions])) {
  const env = { ...process.env, QUICKCMD_CODE_CACHE_WRITE: '1', NODE_OPTIONS: nodeOptions };
  // The example config is read and validated, never used to start (cmd/quickcmd-agent.ts).
  execFileSync(process.execPath, [agentLauncher, '--config', path.join(root, 'examples/agent-config.yaml')], { env, stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
}
// The CLI's: `run --help` builds the run command (the controller, WebSocket and YAML modules).
execFileSync(process.execPath, [path.join(outdir, 'quickcmd.js'), 'run', '--help'], { env: { ...process.env, QUICKCMD_CODE_CACHE_WRITE: '1', NODE_OPTIONS: '' }, stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
// A cache V8 rejects costs nothing but is no use (e.g. a V8 flag set in-process after the compile): say so.
for (const [file, nodeOptions] of [['quickcmd-agent.js', ''], ['quickcmd-agent.js', unitOptions], ['quickcmd.js', '']]) {
  const use = execFileSync(process.execPath, [path.join(outdir, file), 'run'], { env: { ...process.env, QUICKCMD_CODE_CACHE_CHECK: '1', NODE_OPTIONS: nodeOptions }, encoding: 'utf8' }).trim();
  if (use !== 'used') process.stderr.write(`bundle: warning: the code cache of dist/cmd/${file} (NODE_OPTIONS '${nodeOptions}') is ${use}, not used\n`);
}
