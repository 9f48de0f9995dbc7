/**
 * The anomaly detectors: pure functions that judge one closed minute of a call edge against the
 * edge's own previous `baselineMinutes` closed minutes — the rolling-median baseline Datadog calls
 * "basic" and Grafana's outlier detection uses with MAD, without seasonality (that needs weeks of
 * history per edge). Three detectors:
 *
 * - `latency`: the minute's mean duration (durationSumMs / calls); only increases are anomalies;
 * - `error_rate`: errors / calls; only increases are anomalies (a healthier edge is not paged);
 * - `volume`: calls, a minute with no calls counting 0; a drop to a small fraction of the
 *   baseline (a traffic cliff) or a multiple of it (a surge).
 *
 * The score is a robust z-score, (value − median) / scale with scale = 1.4826 · MAD (the median
 * absolute deviation, scaled to estimate the standard deviation of normal data): the median and
 * MAD ignore up to half of the baseline being odd, so a past incident does not hide the next one,
 * and one slow minute does not widen the band the way a standard deviation would.
 *
 * Floors on the scale: a flat baseline (MAD 0: a cached or mocked dependency answering in constant
 * time, an edge that never errs) would make any wobble infinitely anomalous, so each detector
 * floors the scale at the noise its value has anyway:
 *
 * - latency: 5% of the median, at least 0.5 ms — with threshold 6 a flat edge must slow down by
 *   more than 30% (and 3 ms) to count;
 * - error rate: the binomial standard error of the minute's rate, sqrt(p(1 − p) / n) for the
 *   minute's n calls, with p the baseline's pooled rate smoothed as if the minute had one more
 *   error and one more success ((p·n + 1) / (n + 2), Laplace): an edge that never failed is not
 *   anomalous for one or two errors among a few dozen calls (6 of 50 are), and on a busy edge the
 *   floor shrinks with the calls (0.5% of 2000 calls on an edge that never failed is);
 * - volume: the Poisson standard deviation of the count, sqrt(median) (at least 1).
 *
 * A minute is judged only when there is something to judge it by: for latency and error rate, the
 * minute has at least `minCalls` calls and at least half the baseline minutes had that many; for
 * volume, at least half the baseline minutes had calls and the minute or the baseline median
 * reaches `minCalls` (a handful of calls can neither cliff nor surge).
 *
 * What a rolling baseline implies: a shift that lasts longer than half the baseline becomes the
 * new normal (the alert resolves), and an edge silent for that long is no longer judged for
 * volume (its alert resolves too). That is the trade against paging forever on a deliberate
 * change; the SLA role covers sustained degradation against fixed objectives.
 */
import type { MinuteTotals } from '../inventory/edge-windows.js';

export const DETECTORS = ['latency', 'error_rate', 'volume'] as const;
export type Detector = (typeof DETECTORS)[number];

/** 1 / Φ⁻¹(3/4): MAD × this estimates the standard deviation of normal data. */
export const MAD_TO_SIGMA = 1.4826;
/** Latency scale floor: this share of the median, … */
export const LATENCY_RELATIVE_FLOOR = 0.05;
/** … and at least this many milliseconds. */
export const LATENCY_ABSOLUTE_FLOOR_MS = 0.5;
/** A volume drop counts only down to this share of the median or less (a cliff, not a dip). */
export const VOLUME_CLIFF_RATIO = 0.25;
/** A volume rise counts only from this multiple of the median (a surge, not a busy minute). */
export const VOLUME_SURGE_RATIO = 3;

export interface DetectorSettings {
  /** Closed minutes a minute is judged against. */
  baselineMinutes: number;
  /** Robust z-score beyond which a minute is anomalous. */
  threshold: number;
  /** Calls a minute needs to be judged for latency and error rate. */
  minCalls: number;
}

export interface Judgement {
  detector: Detector;
  anomalous: boolean;
  /** The minute's value: mean latency (ms), error rate (0..1) or calls. */
  observed: number;
  /** The baseline's median. */
  expected: number;
  /** Robust z-score, signed: negative below the baseline. */
  score: number;
  /** Calls in the minute. */
  calls: number;
}

/** The median of `values` (mean of the middle two for an even count); NaN for none. Does not modify `values`. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The median absolute deviation of `values` around `center` (their median unless given). */
export function medianAbsoluteDeviation(values: readonly number[], center = median(values)): number {
  return median(values.map((v) => Math.abs(v - center)));
}

/** (value − center) / scale, with scale = max(1.4826 · MAD, floor); the floor must be positive. */
export function robustZ(value: number, center: number, mad: number, floor: number): number {
  return (value - center) / Math.max(MAD_TO_SIGMA * mad, floor);
}

/** The minimum count of baseline minutes with data for a minute to be judged: half, rounded up. */
export function minimumBaseline(baselineMinutes: number): number {
  return Math.ceil(baselineMinutes / 2);
}

/**
 * The judgements of `minute` (unix seconds, start of a closed minute) of one edge, whose
 * per-minute totals are `minutes` (absent = no calls). A detector that cannot judge the minute
 * (too few calls, too little baseline) gives no judgement: the result has 0 to 3 entries.
 */
export function judgeMinute(minutes: ReadonlyMap<number, MinuteTotals>, minute: number, settings: DetectorSettings): Judgement[] {
  const current = minutes.get(minute);
  const calls = current?.calls ?? 0;
  const needed = minimumBaseline(settings.baselineMinutes);
  const latencies: number[] = [];
  const rates: number[] = [];
  const volumes: number[] = [];
  let volumeMinutes = 0;
  let baselineCalls = 0;
  let baselineErrors = 0;
  for (let k = 1; k <= settings.baselineMinutes; k++) {
    const t = minutes.get(minute - k * 60);
    const n = t?.calls ?? 0;
    volumes.push(n);
    if (n > 0) volumeMinutes++;
    if (t && n >= settings.minCalls) {
      latencies.push(t.durationSumMs / n);
      rates.push(t.errors / n);
      baselineCalls += n;
      baselineErrors += t.errors;
    }
  }
  const out: Judgement[] = [];
  if (current && calls >= settings.minCalls && latencies.length >= needed) {
    const observed = current.durationSumMs / calls;
    const m = median(latencies);
    const floor = Math.max(LATENCY_RELATIVE_FLOOR * m, LATENCY_ABSOLUTE_FLOOR_MS);
    const score = robustZ(observed, m, medianAbsoluteDeviation(latencies, m), floor);
    out.push({ detector: 'latency', anomalous: score > settings.threshold, observed, expected: m, score, calls });

    const rate = current.errors / calls;
    const rm = median(rates);
    const pooled = baselineErrors / baselineCalls;
    const p = (pooled * calls + 1) / (calls + 2);
    const rateScore = robustZ(rate, rm, medianAbsoluteDeviation(rates, rm), Math.sqrt((p * (1 - p)) / calls));
    out.push({ detector: 'error_rate', anomalous: rateScore > settings.threshold, observed: rate, expected: rm, score: rateScore, calls });
  }
  if (volumeMinutes >= needed) {
    const vm = median(volumes);
    if (Math.max(calls, vm) >= settings.minCalls) {
      const score = robustZ(calls, vm, medianAbsoluteDeviation(volumes, vm), Math.sqrt(Math.max(vm, 1)));
      const cliff = score < -settings.threshold && calls <= VOLUME_CLIFF_RATIO * vm;
      const surge = score > settings.threshold && calls >= VOLUME_SURGE_RATIO * vm;
      out.push({ detector: 'volume', anomalous: cliff || surge, observed: calls, expected: vm, score, calls });
    }
  }
  return out;
}
