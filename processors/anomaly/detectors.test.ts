/**
 * The detectors on hand-made minutes: the robust statistics, the floors that keep a flat baseline
 * from paging on a wobble, one-sided latency and error rate, volume cliffs and surges, the minimum
 * baseline and calls; and on simulated noise, the false positives at the default threshold
 * against a low one (so the zero is a property of the threshold, not of a quiet simulation).
 */
import { seededRandom as random } from '../redaction/sample-credentials.js';
import { standardNormal } from '../../demo/seeded-random.js';
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKET_BOUNDS_MS } from '../../schemas/edges.js';
import type { MinuteTotals } from '../inventory/edge-windows.js';
import { judgeMinute, MAD_TO_SIGMA, median, medianAbsoluteDeviation, robustZ, type Detector, type DetectorSettings, type Judgement } from './detectors.js';

const T = 1_763_900_040; // a minute start
const SETTINGS: DetectorSettings = { baselineMinutes: 60, threshold: 6, minCalls: 20 };

const totals = (calls: number, meanMs: number, errors = 0): MinuteTotals => ({
  calls,
  errors,
  durationSumMs: calls * meanMs,
  latencyBuckets: new Array<number>(LATENCY_BUCKET_BOUNDS_MS.length + 1).fill(0),
});

/** `count` baseline minutes before T (from each k-th minute: `at(k)`, 1 = the minute before), then T itself. */
function series(count: number, at: (k: number) => MinuteTotals | undefined, current: MinuteTotals | undefined): Map<number, MinuteTotals> {
  const minutes = new Map<number, MinuteTotals>();
  for (let k = 1; k <= count; k++) {
    const t = at(k);
    if (t) minutes.set(T - k * 60, t);
  }
  if (current) minutes.set(T, current);
  return minutes;
}

const judged = (minutes: Map<number, MinuteTotals>, detector: Detector, settings = SETTINGS): Judgement | undefined =>
  judgeMinute(minutes, T, settings).find((j) => j.detector === detector);



describe('robust statistics', () => {
  it('median, MAD and robust z', () => {
    const values = [9, 1, 2, 6, 2, 4, 1];
    expect(median(values)).toBe(2);
    expect(values).toEqual([9, 1, 2, 6, 2, 4, 1]); // not sorted in place
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(medianAbsoluteDeviation(values)).toBe(1); // |v − 2| = 7 1 0 4 0 2 1 → 1
    expect(robustZ(8, 2, 1, 0.1)).toBeCloseTo(6 / MAD_TO_SIGMA, 10);
    expect(robustZ(8, 2, 0, 0.5)).toBe(12); // the floor stands in for a zero MAD
    // Wild values move the median by one rank, not by their size: a past incident does not hide the next one.
    expect(median([...values, 10_000])).toBe(3);
    expect(medianAbsoluteDeviation([...values, 10_000, 10_000])).toBe(3);
  });
});

describe('latency', () => {
  it('floors a flat baseline: a 2% wobble is not anomalous, +50% is', () => {
    const flat = (current: number): Judgement | undefined => judged(series(60, () => totals(100, 60), totals(100, current)), 'latency');
    expect(flat(60)!.score).toBe(0);
    expect(flat(61.2)!.anomalous).toBe(false);
    expect(Number.isFinite(flat(61.2)!.score)).toBe(true);
    expect(flat(90)!.anomalous).toBe(true);
    expect(flat(90)!.score).toBeCloseTo(30 / (0.05 * 60), 6);
    expect(flat(90)).toMatchObject({ observed: 90, expected: 60, calls: 100 });
  });

  it('pages on increases only, against the spread of the baseline', () => {
    const rnd = random(7);
    const minutes = (current: number): Map<number, MinuteTotals> => series(60, () => totals(100, 60 + 6 * standardNormal(rnd)), totals(100, current));
    expect(judged(minutes(60 * 12), 'latency')!.anomalous).toBe(true);
    const faster = judged(minutes(10), 'latency')!;
    expect(faster.score).toBeLessThan(-6);
    expect(faster.anomalous).toBe(false);
    // Within the spread (σ ≈ 6 ms): +15 ms is 2.5σ, not 6.
    expect(judged(minutes(75), 'latency')!.anomalous).toBe(false);
  });

  it('judges neither a minute with fewer than min_calls calls nor one with less than half a baseline', () => {
    expect(judged(series(60, () => totals(100, 60), totals(19, 900)), 'latency')).toBeUndefined();
    expect(judged(series(60, () => totals(100, 60), totals(20, 900)), 'latency')!.anomalous).toBe(true);
    // 29 of 60 baseline minutes with enough calls: not judged; 30: judged.
    expect(judged(series(60, (k) => (k <= 29 ? totals(100, 60) : totals(5, 60)), totals(100, 900)), 'latency')).toBeUndefined();
    expect(judged(series(60, (k) => (k <= 30 ? totals(100, 60) : undefined), totals(100, 900)), 'latency')!.anomalous).toBe(true);
  });
});

describe('error rate', () => {
  it('an edge that never failed is not anomalous for a couple of errors, but is for a burst', () => {
    const clean = (errors: number, calls = 50): Judgement => judged(series(60, () => totals(50, 60, 0), totals(calls, 60, errors)), 'error_rate')!;
    expect(clean(0).score).toBe(0);
    expect(clean(1).anomalous).toBe(false);
    expect(clean(2).anomalous).toBe(false);
    expect(clean(5).anomalous).toBe(false);
    expect(clean(6).anomalous).toBe(true);
    expect(clean(35)).toMatchObject({ anomalous: true, observed: 0.7, expected: 0 });
    // The binomial floor shrinks with the minute's calls: 0.5% of 2000 calls is no wobble, 3 of them are.
    expect(clean(3, 2000).anomalous).toBe(false);
    expect(clean(10, 2000).anomalous).toBe(true);
  });

  it('a healthier minute is not anomalous', () => {
    const rnd = random(11);
    const minutes = series(60, () => totals(100, 60, Math.round(20 + 4 * standardNormal(rnd))), totals(100, 60, 0));
    const j = judged(minutes, 'error_rate')!;
    expect(j.score).toBeLessThan(-3);
    expect(j.anomalous).toBe(false);
  });
});

describe('volume', () => {
  const steady = (current: MinuteTotals | undefined, calls = 100): Map<number, MinuteTotals> => series(60, (k) => totals(calls + (k % 7) - 3, 60), current);

  it('a cliff to a small fraction and a surge are anomalous; a dip or a busier minute are not', () => {
    const cliff = judged(steady(totals(5, 60)), 'volume')!;
    expect(cliff).toMatchObject({ anomalous: true, observed: 5, expected: 100 });
    expect(cliff.score).toBeLessThan(-6);
    // No calls at all: the minute counts 0.
    expect(judged(steady(undefined), 'volume')).toMatchObject({ anomalous: true, observed: 0 });
    expect(judged(steady(totals(400, 60)), 'volume')!.anomalous).toBe(true);
    // Far beyond 6 robust deviations on a busy edge, but a 40% dip and a doubling are no cliff or surge.
    const busy = (calls: number): Judgement => judged(steady(totals(calls, 60), 10_000), 'volume')!;
    expect(busy(6_000).score).toBeLessThan(-6);
    expect(busy(6_000).anomalous).toBe(false);
    expect(busy(20_000).score).toBeGreaterThan(6);
    expect(busy(20_000).anomalous).toBe(false);
    expect(busy(2_000).anomalous).toBe(true);
  });

  it('is not judged on an edge too quiet to cliff, nor without half a baseline of traffic', () => {
    expect(judged(steady(undefined, 5), 'volume')).toBeUndefined();
    expect(judged(steady(totals(19, 60), 5), 'volume')).toBeUndefined();
    // A burst to min_calls on a quiet edge is judged (and is a surge).
    expect(judged(steady(totals(40, 60), 5), 'volume')!.anomalous).toBe(true);
    // 29 baseline minutes with calls (a new edge): not judged; 30: judged (a median between 0 and
    // the traffic says nothing yet); 40: a cliff.
    expect(judged(series(60, (k) => (k <= 29 ? totals(100, 60) : undefined), undefined), 'volume')).toBeUndefined();
    expect(judged(series(60, (k) => (k <= 30 ? totals(100, 60) : undefined), undefined), 'volume')!.anomalous).toBe(false);
    expect(judged(series(60, (k) => (k <= 40 ? totals(100, 60) : undefined), undefined), 'volume')!.anomalous).toBe(true);
  });
});

describe('noise', () => {
  const MINUTES = 10_000;
  const SEEDS = [1, 2, 3];

  /**
   * MINUTES minutes of an edge: ~60 calls (Poisson-like), latencies log-normal around 60 ms
   * (σ 0.4) with 1% of calls 8× slower (a heavy tail: retries, cold caches), 1% errors; per
   * detector, the anomalous minutes and the runs of two or more in a row (what would page with
   * consecutive_minutes 2), over a rolling 60-minute baseline.
   */
  function simulate(seed: number, threshold: number): { minutes: Record<Detector, number>; runs: Record<Detector, number> } {
    const rnd = random(seed);
    const minutes = new Map<number, MinuteTotals>();
    const out = { minutes: { latency: 0, error_rate: 0, volume: 0 }, runs: { latency: 0, error_rate: 0, volume: 0 } };
    const previous: Record<Detector, boolean> = { latency: false, error_rate: false, volume: false };
    const settings = { ...SETTINGS, threshold };
    for (let i = 0; i < MINUTES + 60; i++) {
      const m = T + i * 60;
      const calls = Math.max(0, Math.round(60 + Math.sqrt(60) * standardNormal(rnd)));
      let sum = 0;
      let errors = 0;
      for (let c = 0; c < calls; c++) {
        sum += 60 * Math.exp(0.4 * standardNormal(rnd)) * (rnd() < 0.01 ? 8 : 1);
        if (rnd() < 0.01) errors++;
      }
      minutes.set(m, { ...totals(calls, 0, errors), durationSumMs: sum });
      minutes.delete(m - 61 * 60);
      if (i < 60) continue;
      const anomalous = new Set(judgeMinute(minutes, m, settings).filter((j) => j.anomalous).map((j) => j.detector));
      for (const d of ['latency', 'error_rate', 'volume'] as const) {
        if (anomalous.has(d)) out.minutes[d]++;
        if (anomalous.has(d) && previous[d]) out.runs[d]++;
        previous[d] = anomalous.has(d);
      }
    }
    return out;
  }

  it('pages on no run of noise at the default threshold, where a low threshold pages often', () => {
    const sum = (runs: ReturnType<typeof simulate>[], what: 'minutes' | 'runs', d: Detector): number => runs.reduce((n, r) => n + r[what][d], 0);
    const strict = SEEDS.map((seed) => simulate(seed, 6));
    const loose = SEEDS.map((seed) => simulate(seed, 3));
    const line = (runs: ReturnType<typeof simulate>[]): string =>
      (['latency', 'error_rate', 'volume'] as const).map((d) => `${d} ${sum(runs, 'minutes', d)} minutes / ${sum(runs, 'runs', d)} runs`).join(', ');
    console.info(`detector noise over ${SEEDS.length} × ${MINUTES} judged minutes: threshold 6 → ${line(strict)}; threshold 3 → ${line(loose)}`);
    for (const d of ['latency', 'error_rate', 'volume'] as const) {
      expect(sum(strict, 'runs', d)).toBe(0);
      // Single odd minutes happen with a heavy tail; rarely.
      expect(sum(strict, 'minutes', d)).toBeLessThan(0.005 * SEEDS.length * MINUTES);
    }
    expect(sum(loose, 'runs', 'latency')).toBeGreaterThan(0);
    expect(sum(loose, 'minutes', 'error_rate')).toBeGreaterThan(0);
  });
});
