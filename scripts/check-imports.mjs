#!/usr/bin/env node
// Import rules of the layout (README "Development"), read with the TypeScript compiler API:
// every import / export-from (type-only too), import() and import("x") type of a relative
// module under cmd/, internal/ and bench/. Prints file cycles and upward imports (exit 1 if
// any), and, for information, cycles between the folders of internal/agent/.
// Usage: node scripts/check-imports.mjs [ROOT]
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(process.argv[2] ?? '.');
const rel = (f) => path.relative(root, f);
const files = [];
const walk = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
};
for (const d of ['cmd', 'internal', 'bench']) if (fs.existsSync(path.join(root, d))) walk(path.join(root, d));

/** file → the project files it imports */
const edges = new Map();
for (const f of files) {
  const sf = ts.createSourceFile(f, fs.readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true);
  const out = new Set();
  const add = (spec) => {
    if (!spec.startsWith('.')) return;
    let t = path.join(path.dirname(f), spec).replace(/\.js$/, '.ts');
    if (!t.endsWith('.ts')) t += '.ts';
    if (fs.existsSync(t)) out.add(t);
  };
  const visit = (n) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) add(n.moduleSpecifier.text);
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) add(n.arguments[0].text);
    if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) add(n.argument.literal.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  edges.set(f, out);
}

/** Strongly connected components with more than one node (Tarjan). */
function cycles(g) {
  let i = 0;
  const idx = new Map(), low = new Map(), stack = [], on = new Set(), found = [];
  const visit = (v) => {
    idx.set(v, i); low.set(v, i++); stack.push(v); on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const c = [];
      let w;
      do { w = stack.pop(); on.delete(w); c.push(w); } while (w !== v);
      if (c.length > 1 || (g.get(v) ?? new Set()).has(v)) found.push(c);
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return found;
}

let bad = 0;
const fileCycles = cycles(edges);
console.log(`${files.length} files, ${[...edges.values()].reduce((n, s) => n + s.size, 0)} imports`);
console.log(`file cycles: ${fileCycles.length}`);
for (const c of fileCycles) {
  bad++;
  const set = new Set(c);
  console.log(`  ${c.map(rel).join(' , ')}`);
  for (const f of c) for (const t of edges.get(f)) if (set.has(t)) console.log(`    ${rel(f)} -> ${rel(t)}`);
}

// Upward imports: the lower floors never import the higher ones.
const floorRules = [
  [/^internal\/shared\//, /^internal\/(?!shared\/)/, 'internal/shared imports nothing else of the project'],
  [/^internal\/(sandbox|audit)\//, /^internal\/(agent|controller)\//, 'internal/sandbox and internal/audit import nothing from internal/agent or internal/controller'],
  [/^internal\/agent\//, /^internal\/controller\//, 'internal/agent imports nothing from internal/controller'],
];
const up = [];
for (const [f, out] of edges) for (const t of out) for (const [from, to, rule] of floorRules) if (from.test(rel(f)) && to.test(rel(t))) up.push(`  ${rel(f)} -> ${rel(t)}  (${rule})`);
console.log(`upward imports: ${up.length}`);
for (const u of up) console.log(u);
bad += up.length;

// Folders of internal/agent/ as nodes (files at its root each their own node): for information.
const node = (f) => (path.dirname(rel(f)) === 'internal/agent' ? rel(f) : path.dirname(rel(f)));
const fg = new Map();
for (const [f, out] of edges) {
  if (!rel(f).startsWith('internal/agent/')) continue;
  const a = node(f);
  if (!fg.has(a)) fg.set(a, new Set());
  for (const t of out) if (rel(t).startsWith('internal/agent/') && node(t) !== a) fg.get(a).add(node(t));
}
const folderCycles = cycles(fg);
console.log(`folder cycles inside internal/agent (information): ${folderCycles.length}`);
for (const c of folderCycles) {
  const set = new Set(c);
  console.log(`  ${c.join(' , ')}`);
  for (const [f, out] of edges) for (const t of out) if (set.has(node(f)) && set.has(node(t)) && node(f) !== node(t) && rel(f).startsWith('internal/agent/') && rel(t).startsWith('internal/agent/')) console.log(`    ${rel(f)} -> ${rel(t)}`);
}
process.exitCode = bad > 0 ? 1 : 0;
