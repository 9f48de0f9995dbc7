/**
 * 100,000 generated inputs across the OTLP decoders and the storage transcoder (see
 * decoder-properties.ts for the inputs and properties), seeded so every run replays the same
 * inputs; a failure prints fast-check's counterexample and the seed and path to replay it.
 * Afterwards: no single decode came near hanging, and the heap (after a full GC) did not grow from
 * the first property to the last. `npm run fuzz` runs the same properties with a million inputs.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeStats, FUZZ_PROPERTIES } from './decoder-properties.js';

const TOTAL_RUNS = 100_000;
const SEED = 20261124;
/** A decode this slow on inputs of a few kilobytes is a hang, not a slow machine (they take well under 1 ms). */
const HANG_MS = 1000;
/** The decoders keep only a small, capped string cache between requests. */
const MAX_HEAP_GROWTH_MIB = 32;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMiB = (): number => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

describe('OTLP decoders under property-based fuzzing', () => {
  const heaps: number[] = [];

  it('shares add up to the whole', () => {
    expect(FUZZ_PROPERTIES.reduce((n, p) => n + p.share, 0)).toBe(100);
    expect(FUZZ_PROPERTIES.reduce((n, p) => n + Math.round((TOTAL_RUNS * p.share) / 100), 0)).toBeGreaterThanOrEqual(TOTAL_RUNS);
  });

  for (const p of FUZZ_PROPERTIES) {
    const numRuns = Math.round((TOTAL_RUNS * p.share) / 100);
    it(`${p.name} (${numRuns.toLocaleString('en-US')} inputs)`, () => {
      fc.assert(p.property, { numRuns, seed: SEED, endOnFailure: true });
      heaps.push(heapMiB());
    }, 300_000);
  }

  it('never came near hanging, and left the heap where the first property left it', () => {
    expect(decodeStats.slowestMs).toBeLessThan(HANG_MS);
    expect(heaps).toHaveLength(FUZZ_PROPERTIES.length);
    expect(heaps.at(-1)! - heaps[0]!).toBeLessThan(MAX_HEAP_GROWTH_MIB);
    console.log(`fuzz: ${decodeStats.accepted + decodeStats.rejected} decodes, slowest ${decodeStats.slowestMs.toFixed(2)} ms, heap ${heaps.map((h) => h.toFixed(1)).join(' → ')} MiB`);
  });
});
