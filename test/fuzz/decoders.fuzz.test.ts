/**
 * 100,000 generated inputs across the OTLP decoders and the storage transcoder (see
 * decoder-properties.ts for the inputs and properties), seeded so every run replays the same
 * inputs; a failure prints fast-check's counterexample and the seed and path to replay it.
 * `npm run fuzz` runs the same properties with a million inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FUZZ_PROPERTIES } from './decoder-properties.js';

const TOTAL_RUNS = 100_000;
const SEED = 20261124;

describe('OTLP decoders under property-based fuzzing', () => {
  it('shares add up to the whole', () => {
    expect(FUZZ_PROPERTIES.reduce((n, p) => n + p.share, 0)).toBe(100);
    expect(FUZZ_PROPERTIES.reduce((n, p) => n + Math.round((TOTAL_RUNS * p.share) / 100), 0)).toBeGreaterThanOrEqual(TOTAL_RUNS);
  });

  for (const p of FUZZ_PROPERTIES) {
    const numRuns = Math.round((TOTAL_RUNS * p.share) / 100);
    it(`${p.name} (${numRuns.toLocaleString('en-US')} inputs)`, () => {
      fc.assert(p.property, { numRuns, seed: SEED, endOnFailure: true });
    }, 300_000);
  }
});
