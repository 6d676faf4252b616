/**
 * What fan-out looks like on a terminal and in a pipe: each output line prefixed with its
 * agent's name (colored on a terminal, plain when piped), a progress line redrawn on a
 * terminal's stderr, and plain aligned tables.
 */

/** A stream the CLI writes to; process.stdout and process.stderr fit. */
export interface OutStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  on?(event: 'error', fn: (e: Error) => void): unknown;
}

/**
 * `s`, except that once its reader has gone (EPIPE, as in `quickcmd run … | head -1`)
 * writes are dropped and `onGone` is called once, instead of an unhandled error.
 */
export function guardOutput(s: OutStream, onGone: () => void): OutStream {
  let gone = false;
  s.on?.('error', (e: Error) => {
    if (gone) return;
    gone = true;
    if ((e as NodeJS.ErrnoException).code === 'EPIPE' || (e as NodeJS.ErrnoException).code === 'ERR_STREAM_DESTROYED') onGone();
    else throw e;
  });
  return {
    isTTY: s.isTTY,
    write: (text: string) => (gone ? false : s.write(text)),
  };
}

const PALETTE = [36, 33, 35, 32, 34, 91, 96, 93, 95, 92];
const CLEAR_LINE = '\r\x1b[K';

/** True when ANSI color should be used on `s` (a terminal, and NO_COLOR unset). */
export function useColor(s: OutStream, env: Readonly<Record<string, string | undefined>>): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  if (env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '' && env['FORCE_COLOR'] !== '0') return true;
  return s.isTTY === true;
}

/** Pad to a width, counting characters. */
function pad(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - [...s].length));
}

/** Columns aligned with two spaces; the last column is not padded. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : pad(c, widths[i] ?? 0))).join('  ').trimEnd()).join('\n') + '\n';
}

/** Milliseconds as a short human duration: 850ms, 3.2s, 4m05s. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Writes output lines prefixed by agent name, keeping partial lines until they end. */
export class PrefixedOutput {
  private readonly partial = new Map<string, string>();
  private readonly colors = new Map<string, number>();
  private readonly width: number;
  private progressShown = '';

  constructor(
    private readonly out: { stdout: OutStream; stderr: OutStream },
    names: readonly string[],
    private readonly color: boolean,
    private readonly progress: boolean,
  ) {
    this.width = Math.max(0, ...names.map((n) => [...n].length));
    names.forEach((n, i) => this.colors.set(n, PALETTE[i % PALETTE.length] as number));
  }

  private prefix(agent: string): string {
    const label = pad(agent, this.width);
    return this.color ? `\x1b[${this.colors.get(agent) ?? 0}m${label}\x1b[0m | ` : `${label} | `;
  }

  private emit(stream: 'stdout' | 'stderr', text: string): void {
    if (this.progressShown !== '') this.out.stderr.write(CLEAR_LINE);
    this.out[stream].write(text);
    if (this.progressShown !== '') this.out.stderr.write(this.progressShown);
  }

  /** Output data from `agent`; complete lines are written now, the rest when it ends. */
  write(agent: string, stream: 'stdout' | 'stderr', data: string): void {
    const key = `${stream}\0${agent}`;
    const text = (this.partial.get(key) ?? '') + data;
    const cut = text.lastIndexOf('\n');
    if (cut < 0) {
      this.partial.set(key, text);
      return;
    }
    this.partial.set(key, text.slice(cut + 1));
    const lines = text.slice(0, cut).split('\n');
    this.emit(stream, lines.map((l) => `${this.prefix(agent)}${l}\n`).join(''));
  }

  /** Flush what `agent` left without a final newline. */
  end(agent: string): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${stream}\0${agent}`;
      const rest = this.partial.get(key);
      if (rest !== undefined && rest !== '') this.emit(stream, `${this.prefix(agent)}${rest}\n`);
      this.partial.delete(key);
    }
  }

  /** A note about one agent (submitted, refused) on stderr. */
  note(agent: string, text: string): void {
    this.emit('stderr', `${this.prefix(agent)}${text}\n`);
  }

  /** Redraw the progress line (terminal only). */
  setProgress(text: string): void {
    if (!this.progress) return;
    this.progressShown = text;
    this.out.stderr.write(`${CLEAR_LINE}${text}`);
  }

  /** Remove the progress line for good. */
  clearProgress(): void {
    if (this.progressShown !== '') this.out.stderr.write(CLEAR_LINE);
    this.progressShown = '';
  }
}
