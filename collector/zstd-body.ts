/**
 * `Content-Encoding: zstd` request bodies on Node 20 (whose zlib has no zstd), with `fzstd` — a
 * small, dependency-free, pure-JS Zstandard decompressor: a well-kept library beats writing a
 * Zstandard decoder, and it needs no native build.
 *
 * Bounded the way gzip is (maxOutputLength): output is taken block by block (≤ 128 KiB each) and
 * decompression stops as soon as it passes the limit, so a bomb is never inflated. fzstd
 * allocates each frame's window up front (up to 2 GiB as the header says), so every frame header
 * is checked first: a window larger than the limit cannot be needed by a body within the limit.
 */
import { Decompress } from 'fzstd';

export class ZstdBodyError extends Error {
  constructor(
    message: string,
    /** True when the body decompresses (or would) to more than the limit: 413, not 400. */
    readonly tooLarge: boolean,
  ) {
    super(message);
  }
}

const ZSTD_MAGIC = 0xfd2fb528;

/** Decompresses a zstd body of at most `limit` bytes of output, or throws ZstdBodyError. */
export function decompressZstd(body: Uint8Array, limit: number): Buffer {
  checkFrames(body, limit);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const stream = new Decompress((chunk) => {
    size += chunk.length;
    if (size > limit) throw new ZstdBodyError(`decompressed request body exceeds the limit of ${limit} bytes`, true);
    // fzstd reuses nothing it hands out, but copy anyway: the chunk may view its window.
    chunks.push(chunk.slice());
  });
  try {
    stream.push(body, true);
  } catch (err) {
    if (err instanceof ZstdBodyError) throw err;
    throw new ZstdBodyError('request body is not valid zstd data', false);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Walks the frames (headers and block headers only, no decoding): each must be a Zstandard or
 * skippable frame, and a Zstandard frame's window must not exceed `limit`.
 */
function checkFrames(b: Uint8Array, limit: number): void {
  const invalid = (): never => {
    throw new ZstdBodyError('request body is not valid zstd data', false);
  };
  let pos = 0;
  if (b.length === 0) invalid();
  while (pos < b.length) {
    if (pos + 8 > b.length) invalid();
    const magic = (b[pos]! | (b[pos + 1]! << 8) | (b[pos + 2]! << 16) | (b[pos + 3]! << 24)) >>> 0;
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      // Skippable frame: magic, 4-byte size, content.
      const size = (b[pos + 4]! | (b[pos + 5]! << 8) | (b[pos + 6]! << 16) | (b[pos + 7]! << 24)) >>> 0;
      pos += 8 + size;
      continue;
    }
    if (magic !== ZSTD_MAGIC) invalid();
    const fhd = b[pos + 4]!;
    const singleSegment = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    const fcsFlag = fhd >> 6;
    const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
    let at = pos + 5;
    let window = 0;
    if (!singleSegment) {
      const wd = b[at++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    at += dictBytes;
    if (at + fcsBytes > b.length) invalid();
    if (singleSegment) {
      // The window is the frame's content size.
      let fcs = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) fcs = fcs * 256 + b[at + i]!;
      window = fcs + (fcsBytes === 2 ? 256 : 0);
    }
    if (window > limit) throw new ZstdBodyError(`zstd frame window of ${window} bytes exceeds the limit of ${limit} bytes`, true);
    at += fcsBytes;
    for (;;) {
      if (at + 3 > b.length) invalid();
      const header = b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
      const last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) invalid();
      at += 3 + (type === 1 ? 1 : size);
      if (last) break;
    }
    pos = at + (checksum ? 4 : 0);
    if (pos > b.length) invalid();
  }
}
