/**
 * Rendering of the results: a plain-text table (figure, agent, raw, ratio, target, met?)
 * for people and one JSON document for machines (--json).
 */
import type { Figure } from './context.js';

function num(v: number | null, unit = ''): string {
  if (v === null || !Number.isFinite(v)) return '—';
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}${unit === '' ? '' : ` ${unit}`}`;
}

/** The table as lines of text. */
export function renderTable(figures: readonly Figure[]): string {
  const head = ['section', 'figure', 'agent', 'raw', 'ratio', 'target', 'met?'];
  const rows = figures.map((f) => [
    f.section,
    f.figure,
    num(f.agent, f.unit),
    num(f.raw, f.unit),
    f.ratio === null ? '—' : f.ratio.toFixed(2),
    f.target,
    f.met === null ? '' : f.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Legend printed under the table. */
export const LEGEND = [
  'raw: the same container work straight on the Docker engine through dockerode, in the bench process, alternated with the agent runs.',
  'door and footprint have no engine work: their raw column is a bare Node HTTPS server (answers 401 / health only) on the same certificate.',
];
