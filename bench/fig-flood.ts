/**
 * The `flood` section (opt-in: `--only=flood`), what strangers cost the audit disk (issue
 * 12), measured by audit-flood.ts against fresh built daemons. Two modes:
 *
 * - default: forged submissions and forged signed reads (15,000-char controller header)
 *   for 20 s each (7 s with --quick), without coalescing (raw column) and with the default
 *   burst (agent column): audit bytes per forged request, and the disk a 10-minute flood
 *   would cost, EXTRAPOLATED from the window — as `node bench/audit-flood.ts` prints.
 * - `--flood-seconds=N`: the default config flooded LITERALLY for N seconds per kind; the
 *   figures are what the flood did (audit bytes written, files on disk before and after,
 *   RSS before, peak and after), nothing extrapolated. N=600 is the 10-minute flood of the
 *   issue (target under 5 MiB of audit).
 */
import { runFlood, tenMinuteMiB, type FloodResult } from './audit-flood.js';
import { ratioOf, type BenchContext, type Figure } from './context.js';

const MIB = 1048576;
const DEFAULT_BURST = 10;
/** Issue 12: a 10-minute flood at full speed costs under 5 MiB of audit. */
const TEN_MINUTE_TARGET_MIB = 5;

const KINDS = [
  ['submit', 'forged submissions'],
  ['read', 'forged signed reads, 15,000-char header'],
] as const;

function mib(bytes: number): number {
  return Number((bytes / MIB).toFixed(2));
}

function fig(figure: string, unit: string, agent: number, raw: number | null, target: string, met: boolean | null, details: Record<string, unknown>): Figure {
  return { section: 'flood', figure, unit, agent, raw, ratio: ratioOf(agent, raw), target, met, details };
}

/** The extrapolating comparison (the default). */
async function compared(ctx: BenchContext, seconds: number): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const [kind, what] of KINDS) {
    ctx.log(`flood: ${what}, ${seconds} s without coalescing`);
    const raw = await runFlood('without coalescing', 1_000_000, kind, seconds);
    ctx.log(`flood: ${JSON.stringify(raw)}`);
    ctx.log(`flood: ${what}, ${seconds} s with coalescing (burst ${DEFAULT_BURST})`);
    const co = await runFlood(`with coalescing (default burst ${DEFAULT_BURST})`, DEFAULT_BURST, kind, seconds);
    ctx.log(`flood: ${JSON.stringify(co)}`);
    const ten = tenMinuteMiB(co);
    out.push(
      fig(`${what}: audit bytes per request (raw: not coalesced)`, 'B', co.audit_bytes_per_request, raw.audit_bytes_per_request, 'ratio ≪ 1', null, { coalesced: co, not_coalesced: raw }),
      fig(`${what}: 10-minute flood, extrapolated from ${seconds} s (raw: not coalesced)`, 'MiB', ten, tenMinuteMiB(raw), `< ${TEN_MINUTE_TARGET_MIB} MiB`, ten < TEN_MINUTE_TARGET_MIB, { requests_per_second: co.per_second }),
    );
  }
  return out;
}

/** The literal flood of `seconds` per kind, default config. */
async function literal(ctx: BenchContext, seconds: number): Promise<Figure[]> {
  const out: Figure[] = [];
  const tenMinutes = seconds >= 600;
  for (const [kind, what] of KINDS) {
    ctx.log(`flood: ${what}, LITERAL ${seconds} s at the default burst ${DEFAULT_BURST}`);
    const r: FloodResult = await runFlood(`literal ${seconds} s (default burst ${DEFAULT_BURST})`, DEFAULT_BURST, kind, seconds);
    ctx.log(`flood: ${JSON.stringify(r)}`);
    const label = `${what}, literal ${seconds} s`;
    const grown = r.audit_bytes_total / 1024;
    out.push(
      fig(`${label}: audit written`, 'KiB', grown, null, tenMinutes ? `< ${TEN_MINUTE_TARGET_MIB * 1024} KiB` : `literal (< ${TEN_MINUTE_TARGET_MIB * 1024} KiB is for 600 s)`, tenMinutes ? grown < TEN_MINUTE_TARGET_MIB * 1024 : null, { ...r }),
      fig(`${label}: database files (db+WAL) after; before ${mib(r.disk_bytes_before)} MiB`, 'MiB', mib(r.disk_bytes_after), null, '', null, {}),
      fig(`${label}: requests (${r.per_second}/s)`, 'req', r.requests, null, '', null, {}),
      fig(`${label}: daemon RSS after (before ${r.rss_mib_before}, peak ${r.rss_mib_peak})`, 'MiB', r.rss_mib_after, null, '', null, {}),
    );
  }
  return out;
}

/** The section; `literalSeconds` null runs the default extrapolating comparison. */
export async function floodSection(ctx: BenchContext, literalSeconds: number | null): Promise<Figure[]> {
  return literalSeconds === null ? compared(ctx, ctx.n(20, 7)) : literal(ctx, literalSeconds);
}
