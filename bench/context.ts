/**
 * What every bench section shares: the options, the PKI, the raw engine, the agents it
 * started (stopped and cleaned whatever happens) and the shape of one printed figure.
 */
import { BenchAgent, type BenchPki } from './agent-process.js';
import { removeAll } from './engine-watch.js';
import type { RawEngine, RawProfile } from './raw-engine.js';

/** One row of the result table. */
export interface Figure {
  /** Section it belongs to (latency, throughput, streaming, door, footprint, warm). */
  readonly section: string;
  /** What was measured. */
  readonly figure: string;
  readonly unit: string;
  readonly agent: number;
  /** The raw engine (or, where there is no engine work, the bare-Node baseline) doing the same; null if none. */
  readonly raw: number | null;
  /** agent / raw; null without a raw figure. */
  readonly ratio: number | null;
  /** The target in words, e.g. "ratio ≤ 1.05". */
  readonly target: string;
  /** Whether the target was met; null for figures without a target. */
  readonly met: boolean | null;
  /** Extra numbers for --json (percentiles, sample counts). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Shared state of a bench run. */
export class BenchContext {
  private readonly agents = new Set<BenchAgent>();

  constructor(
    /** Fewer samples and shorter windows (about a third of the time). */
    readonly quick: boolean,
    readonly image: string,
    readonly pki: BenchPki,
    readonly raw: RawEngine,
    /** The agent's default sandbox profile; raw runs use it unless a section overrides. */
    readonly profile: RawProfile,
    /** Directory for agent CPU profiles, or null. */
    readonly cpuProfDir: string | null,
    private readonly progress: (line: string) => void,
  ) {}

  /** A progress line on stderr. */
  log(line: string): void {
    this.progress(line);
  }

  /** Sample count: `full` normally, `quick` with --quick. */
  n(full: number, quick: number): number {
    return this.quick ? quick : full;
  }

  /** Start a daemon with bench defaults plus `config`. */
  async startAgent(name: string, config: Record<string, unknown> = {}, command?: readonly string[]): Promise<BenchAgent> {
    const a = await BenchAgent.start({ name, image: this.image, config, pki: this.pki, cpuProfDir: this.cpuProfDir, command });
    this.agents.add(a);
    return a;
  }

  /** Stop a daemon and remove whatever containers it left. */
  async stopAgent(a: BenchAgent): Promise<void> {
    const id = a.agentId();
    this.agents.delete(a);
    await a.stop();
    if (id !== null) await removeAll(this.raw.docker, id);
  }

  /** Stop everything still running (end of the run, or a failure). */
  async cleanup(): Promise<void> {
    for (const a of [...this.agents]) await this.stopAgent(a).catch(() => undefined);
    await this.raw.cleanup();
  }
}

/** agent / raw, or null when either is missing. */
export function ratioOf(agent: number, raw: number | null): number | null {
  return raw === null || !Number.isFinite(raw) || raw === 0 || !Number.isFinite(agent) ? null : agent / raw;
}
