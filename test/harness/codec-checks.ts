/**
 * Checks every OTLP codec test makes, written once: the message of the OtlpDecodeError a decode
 * throws, and fuzzing that proves a decoder throws nothing but OtlpDecodeError on corrupted input
 * (and that whatever it accepts survives a round trip). Deterministic: seeded, the same inputs on
 * every run.
 */
import { expect } from 'vitest';
import { OtlpDecodeError } from '../../collector/otlp-decode-error.js';

/** The message of the OtlpDecodeError `decode` throws; fails the test if it throws anything else or nothing. */
export function decodeErrorMessage(decode: () => unknown): string {
  try {
    decode();
  } catch (error) {
    expect(error).toBeInstanceOf(OtlpDecodeError);
    return (error as OtlpDecodeError).message;
  }
  throw new Error('decoded without error');
}

/** xorshift32: `random(limit)` is in [0, limit), the same sequence for the same seed. */
export function seededIntegers(seed: number): (limit: number) => number {
  let state = seed;
  return (limit) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % limit;
  };
}

/**
 * Decodes 3000 corruptions of `valid` — 1 to 4 bytes replaced, every tenth input random bytes
 * instead — expecting nothing but OtlpDecodeError, and that what is accepted re-encodes to bytes
 * that decode to the same data. Returns how many were accepted.
 */
export function fuzzProtobufDecoder<T>(valid: Uint8Array, decode: (bytes: Uint8Array) => T, encode: (data: T) => Uint8Array, seed: number): number {
  const random = seededIntegers(seed);
  let accepted = 0;
  for (let trial = 0; trial < 3000; trial++) {
    let bytes: Uint8Array;
    if (trial % 10 === 9) {
      bytes = new Uint8Array(random(64)).map(() => random(256));
    } else {
      // A copy: encoders return a Buffer, whose slice() would be a view of `valid`.
      bytes = new Uint8Array(valid);
      for (let flips = 1 + random(4); flips > 0; flips--) bytes[random(bytes.length)] = random(256);
    }
    let decoded: T;
    try {
      decoded = decode(bytes);
    } catch (error) {
      if (!(error instanceof OtlpDecodeError)) throw error;
      continue;
    }
    accepted++;
    expect(decode(encode(decoded))).toEqual(decoded);
  }
  return accepted;
}

/**
 * Replaces every value of the parsed JSON `valid`, at every position, with each of
 * `replacements` in turn and decodes the result, expecting nothing but OtlpDecodeError. Returns
 * how many variants were decoded.
 */
export function fuzzJsonDecoder(valid: unknown, decode: (text: string) => unknown, replacements: readonly unknown[]): number {
  let variants = 0;
  const visit = (node: unknown, replaceAt: (replacement: unknown) => void) => {
    for (const replacement of replacements) {
      replaceAt(replacement);
      variants++;
      try {
        decode(JSON.stringify(valid));
      } catch (error) {
        if (!(error instanceof OtlpDecodeError)) throw error;
      }
    }
    replaceAt(node);
    if (Array.isArray(node)) node.forEach((child, i) => visit(child, (replacement) => (node[i] = replacement)));
    else if (node !== null && typeof node === 'object') {
      const object = node as Record<string, unknown>;
      for (const key of Object.keys(object)) visit(object[key], (replacement) => (object[key] = replacement));
    }
  };
  visit(valid, () => {});
  return variants;
}
