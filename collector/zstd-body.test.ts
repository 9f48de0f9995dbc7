/**
 * zstd request bodies: real `zstd` CLI output (a committed fixture, zstd 1.5.4 -19) decompresses to
 * the original request; a bomb (64 MiB of RLE blocks in a few hundred bytes) is stopped at the
 * limit without being inflated; a frame declaring a window larger than the limit is refused before
 * anything is allocated; garbage and truncated frames are invalid data, never an exception of
 * another kind.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { zstdRleFrame } from '../test/harness/zstd-frames.js';
import { decompressZstd, ZstdBodyError } from './zstd-body.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../test/fixtures/zstd/${name}`, import.meta.url));
const LIMIT = 20 * 1024 * 1024;

function expectZstdError(f: () => unknown, message: string, tooLarge: boolean): void {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ZstdBodyError);
  expect((caught as ZstdBodyError).message).toBe(message);
  expect((caught as ZstdBodyError).tooLarge).toBe(tooLarge);
}

describe('decompressZstd', () => {
  it('decompresses what the zstd CLI wrote to the original bytes', () => {
    const out = decompressZstd(fixture('traces-200-spans.pb.zst'), LIMIT);
    expect(out.equals(fixture('traces-200-spans.pb'))).toBe(true);
  });

  it('decompresses a hand-made frame of RLE blocks within the limit', () => {
    expect(decompressZstd(zstdRleFrame(2), LIMIT).equals(Buffer.alloc(256 * 1024, 0x41))).toBe(true);
  });

  it('stops a bomb at the limit: 64 MiB declared in a few hundred bytes', () => {
    const bomb = zstdRleFrame(512);
    expect(bomb.length).toBeLessThan(4096);
    const heapBefore = process.memoryUsage().arrayBuffers;
    expectZstdError(() => decompressZstd(bomb, 1024 * 1024), 'decompressed request body exceeds the limit of 1048576 bytes', true);
    // Nothing near 64 MiB was ever held.
    expect(process.memoryUsage().arrayBuffers - heapBefore).toBeLessThan(32 * 1024 * 1024);
  });

  it('refuses a frame whose window is larger than the limit before allocating it', () => {
    // Window descriptor exponent 31 - 10 = 21 → 2 GiB window.
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0x00, 0x00]);
    expectZstdError(() => decompressZstd(frame, LIMIT), `zstd frame window of ${2 ** 31} bytes exceeds the limit of ${LIMIT} bytes`, true);
  });

  it('calls garbage, a truncated frame and an empty body invalid zstd data', () => {
    const real = fixture('traces-200-spans.pb.zst');
    for (const body of [Buffer.from('not zstd at all'), real.subarray(0, real.length - 10), real.subarray(0, 7), Buffer.alloc(0)]) {
      expectZstdError(() => decompressZstd(body, LIMIT), 'request body is not valid zstd data', false);
    }
  });

  it('never throws anything but ZstdBodyError on corrupted real frames', () => {
    const real = fixture('traces-200-spans.pb.zst');
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let i = 0; i < 2000; i++) {
      const body = Buffer.from(real);
      for (let k = 0; k < 1 + rand(4); k++) body[rand(body.length)] = rand(256);
      try {
        const out = decompressZstd(body, LIMIT);
        expect(out.length).toBeLessThanOrEqual(LIMIT);
      } catch (err) {
        expect(err).toBeInstanceOf(ZstdBodyError);
      }
    }
  });
});
