/**
 * SLO burn rates over multiple windows (Google SRE Workbook, "Alerting on SLOs", table 5-8): the
 * rate at which an edge spends its error budget, as a multiple of the rate that would spend it
 * exactly over the SLO period. An alert tier fires when both its long and its short window burn
 * faster than its factor (the short window, 1/12 of the long one, makes it resolve quickly once the
 * burning stops); tiers combine with OR. The 3-day ticket tier is not evaluated here: a worker keeps
 * six hours per edge.
 *
 * SLIs are ratios of counts per minute, which merge by addition: availability = calls without
 * error / calls; latency = calls at or under the threshold (a histogram bound) / calls.
 *
 * Pure functions, no state.
 */
import { LATENCY_BUCKET_BOUNDS_MS } from '../../schemas/edges.js';
import type { MinuteTotals } from '../inventory/edge-windows.js';

export const SLIS = ['availability', 'latency'] as const;
export type Sli = (typeof SLIS)[number];

/** Window lengths in minutes. */
export const WINDOWS = [5, 30, 60, 360] as const;
export type WindowMinutes = (typeof WINDOWS)[number];

export const BURN_RATE_TIERS = [
  { name: '1h', long: 60, short: 5, factor: 14.4, severity: 'critical' },
  { name: '6h', long: 360, short: 30, factor: 6, severity: 'warning' },
] as const;
export type BurnRateTier = (typeof BURN_RATE_TIERS)[number];

export interface Objective {
  availability: number;
  latency_ms: number;
  latency_target: number;
}

export interface WindowCounts {
  calls: number;
  bad: number;
}

/** Bad calls of one minute for an SLI. */
function badCalls(t: MinuteTotals, sli: Sli, latencyMs: number): number {
  if (sli === 'availability') return t.errors;
  const k = LATENCY_BUCKET_BOUNDS_MS.indexOf(latencyMs as never);
  if (k < 0) throw new Error(`latency threshold ${latencyMs} ms is not a histogram bound`);
  let bad = 0;
  for (let i = k + 1; i < t.latencyBuckets.length; i++) bad += t.latencyBuckets[i]!;
  return bad;
}

/** Calls and bad calls in each window ending with minute `now` (a window of W minutes holds the minutes m with now − W·60 < m ≤ now). */
export function windowCounts(minutes: ReadonlyMap<number, MinuteTotals>, now: number, sli: Sli, latencyMs: number): Record<WindowMinutes, WindowCounts> {
  const out = Object.fromEntries(WINDOWS.map((w) => [w, { calls: 0, bad: 0 }])) as Record<WindowMinutes, WindowCounts>;
  for (const [minute, totals] of minutes) {
    const age = (now - minute) / 60;
    if (age < 0) continue;
    const bad = badCalls(totals, sli, latencyMs);
    for (const w of WINDOWS) {
      if (age < w) {
        out[w].calls += totals.calls;
        out[w].bad += bad;
      }
    }
  }
  return out;
}

export function target(objective: Objective, sli: Sli): number {
  return sli === 'availability' ? objective.availability : objective.latency_target;
}

/** Budget spent per unit of time, relative to spending exactly the budget over the period: 1 = on track. */
export function burnRate(c: WindowCounts, objectiveTarget: number): number {
  return c.calls === 0 ? 0 : c.bad / c.calls / (1 - objectiveTarget);
}

export interface Evaluation {
  counts: Record<WindowMinutes, WindowCounts>;
  burn: Record<WindowMinutes, number>;
  /** Per tier: whether its long and short windows both burn faster than its factor. */
  firing: Record<BurnRateTier['name'], boolean>;
}

/**
 * Burn rates at minute `now`, and which tiers fire. A tier needs `minCalls` calls in its long window
 * (a few errors on a quiet edge do not page) and history reaching back over its short window: just
 * after a start the "long" window holds a few minutes only, and one error would otherwise look like
 * a fast burn.
 */
export function evaluate(minutes: ReadonlyMap<number, MinuteTotals>, now: number, sli: Sli, objective: Objective, minCalls: number): Evaluation {
  const counts = windowCounts(minutes, now, sli, objective.latency_ms);
  const t = target(objective, sli);
  const burn = Object.fromEntries(WINDOWS.map((w) => [w, burnRate(counts[w], t)])) as Record<WindowMinutes, number>;
  let oldest = now;
  for (const m of minutes.keys()) if (m < oldest) oldest = m;
  const history = (now - oldest) / 60 + 1;
  const firing = Object.fromEntries(
    BURN_RATE_TIERS.map((tier) => [tier.name, history >= tier.short && counts[tier.long].calls >= minCalls && burn[tier.long] > tier.factor && burn[tier.short] > tier.factor]),
  ) as Record<BurnRateTier['name'], boolean>;
  return { counts, burn, firing };
}
