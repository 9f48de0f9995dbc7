import { describe, expect, it } from 'vitest';
import type { MinuteTotals } from '../inventory/edge-windows.js';
import { burnRate, evaluate, windowCounts } from './burn-rates.js';

const M = 1_763_900_040;
/** calls per minute, errors, and how many calls were slower than 1 s (bucket past the 1000 ms bound). */
function minutes(spec: [minute: number, calls: number, errors: number, slow?: number][]): Map<number, MinuteTotals> {
  return new Map(spec.map(([m, calls, errors, slow = 0]) => [M + m * 60, { calls, errors, durationSumMs: 0, latencyBuckets: [calls - slow, 0, 0, 0, 0, 0, 0, 0, slow, 0, 0, 0] }]));
}

describe('burn rates', () => {
  it('counts the W minutes ending with now, for availability and latency', () => {
    const series = minutes([
      [0, 100, 1, 3],
      [55, 100, 2, 0],
      [56, 100, 10, 20],
      [60, 100, 0, 1],
      [61, 100, 5, 5], // after now: ignored
    ]);
    const availability = windowCounts(series, M + 60 * 60, 'availability', 1000);
    expect(availability[5]).toEqual({ calls: 200, bad: 10 }); // minutes 56 and 60
    expect(availability[60]).toEqual({ calls: 300, bad: 12 }); // minute 0 is 60 minutes old: out
    expect(availability[360]).toEqual({ calls: 400, bad: 13 });
    expect(windowCounts(series, M + 60 * 60, 'latency', 1000)[60]).toEqual({ calls: 300, bad: 21 });
    expect(windowCounts(series, M + 60 * 60, 'latency', 2500)[60]).toEqual({ calls: 300, bad: 0 });
    expect(() => windowCounts(series, M, 'latency', 999)).toThrow('latency threshold 999 ms is not a histogram bound');
  });

  it('is 1 when the budget is spent exactly over the period, 0 without calls', () => {
    expect(burnRate({ calls: 1000, bad: 1 }, 0.999)).toBeCloseTo(1, 10);
    expect(burnRate({ calls: 1000, bad: 20 }, 0.999)).toBeCloseTo(20, 10);
    expect(burnRate({ calls: 0, bad: 0 }, 0.999)).toBe(0);
  });

  it('fires a tier only when its long and its short window both burn faster than its factor, with enough calls', () => {
    const objective = { availability: 0.999, latency_ms: 1000, latency_target: 0.99 };
    // An hour at 2% errors, but the last 5 minutes clean: the 1 h tier stops (its short window is
    // clean) while the 6 h tier still fires (30 min at 2%); 30 clean minutes end both.
    const cooled = minutes(Array.from({ length: 60 }, (_, i): [number, number, number] => [i, 100, i < 55 ? 2 : 0]));
    const e1 = evaluate(cooled, M + 59 * 60, 'availability', objective, 20);
    expect(e1.burn[60]).toBeCloseTo(18.33, 1);
    expect(e1.burn[5]).toBe(0);
    expect(e1.firing).toEqual({ '1h': false, '6h': true });
    const clean = minutes(Array.from({ length: 60 }, (_, i): [number, number, number] => [i, 100, i < 30 ? 2 : 0]));
    expect(evaluate(clean, M + 59 * 60, 'availability', objective, 20).firing).toEqual({ '1h': false, '6h': false });
    // Still burning in the last 5 minutes: the 1 h tier fires (critical).
    const burning = minutes(Array.from({ length: 60 }, (_, i): [number, number, number] => [i, 100, 2]));
    expect(evaluate(burning, M + 59 * 60, 'availability', objective, 20).firing).toEqual({ '1h': true, '6h': true });
    // 0.8% errors for six hours: 8× — only the 6 h tier (warning).
    const slow = minutes(Array.from({ length: 360 }, (_, i): [number, number, number] => [i, 1000, 8]));
    expect(evaluate(slow, M + 359 * 60, 'availability', objective, 20).firing).toEqual({ '1h': false, '6h': true });
    // A quiet edge: one error in two calls an hour does not page.
    const quiet = minutes([[50, 1, 0], [57, 2, 1]]);
    expect(evaluate(quiet, M + 59 * 60, 'availability', objective, 20).firing).toEqual({ '1h': false, '6h': false });
    expect(evaluate(quiet, M + 59 * 60, 'availability', objective, 3).firing).toEqual({ '1h': true, '6h': false });
    // Just after a start: one error in the first minutes is not a fast burn yet.
    const fresh = minutes([[0, 100, 1], [1, 100, 0], [2, 100, 0]]);
    expect(evaluate(fresh, M + 2 * 60, 'availability', objective, 20).firing).toEqual({ '1h': false, '6h': false });
    expect(evaluate(minutes([[0, 100, 1], [4, 100, 50]]), M + 4 * 60, 'availability', objective, 20).firing).toEqual({ '1h': true, '6h': false });
  });
});
