/**
 * The demo's random draws, all from seeded generators (the xorshift32 of the sample credentials):
 * independent streams derived from one seed by label, log-normal latencies, Poisson arrivals,
 * weighted choices and hex ids. Nothing here reads the clock or Math.random, so one seed gives
 * one sequence. Keeps no state beyond the caller's generator.
 */
import { seededRandom, type Random } from '../processors/redaction/sample-credentials.js';

export type { Random };

/**
 * A seed for the stream named `label` of run `seed`: FNV-1a over the label, mixed with the seed
 * (murmur3's finaliser), so streams of one run do not shadow each other and a new draw in one
 * stream leaves the others unchanged.
 */
export function deriveSeed(seed: number, label: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    hash ^= label.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  let x = (hash ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0 || 1;
}

export function derivedRandom(seed: number, label: string): Random {
  return seededRandom(deriveSeed(seed, label));
}

/** A standard normal draw (Box–Muller; one of the pair is dropped to keep the stream simple). */
export function standardNormal(random: Random): number {
  const u = 1 - random(); // (0, 1]: log(0) never happens
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Log-normal with the given median and shape: the usual shape of network call latencies. */
export function logNormal(random: Random, median: number, sigma: number): number {
  return median * Math.exp(sigma * standardNormal(random));
}

/** Exponential waiting time of a Poisson process with `ratePerMs` events per ms. */
export function exponential(random: Random, ratePerMs: number): number {
  return -Math.log(1 - random()) / ratePerMs;
}

export function chance(random: Random, probability: number): boolean {
  return random() < probability;
}

export function choose<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

export function between(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** A chooser over `weights` (any positive numbers), compiled once into a cumulative table. */
export function weightedChooser<T extends string>(weights: Readonly<Record<T, number>>): (random: Random) => T {
  const keys = Object.keys(weights) as T[];
  const total = keys.reduce((sum, key) => sum + weights[key], 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const key of keys) cumulative.push((acc += weights[key] / total));
  return (random) => {
    const u = random();
    for (let i = 0; i < cumulative.length; i++) if (u < cumulative[i]!) return keys[i]!;
    return keys[keys.length - 1]!;
  };
}

const HEX_BYTES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** 8 lowercase hex digits: the generator's 32-bit state, recovered exactly from its draw. On the hot path (every id). */
export function hex8(random: Random): string {
  const x = (random() * 0x1_0000_0000) >>> 0;
  return HEX_BYTES[x >>> 24]! + HEX_BYTES[(x >>> 16) & 0xff]! + HEX_BYTES[(x >>> 8) & 0xff]! + HEX_BYTES[x & 0xff]!;
}
