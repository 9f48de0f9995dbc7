/**
 * Hand-made Zstandard frames for tests (no compressor needed): a frame of RLE blocks, each 128 KiB
 * of 'A' in 4 bytes — with enough blocks, a decompression bomb.
 */
export function zstdRleFrame(blocks: number): Buffer {
  // Magic, frame header descriptor 0 (window descriptor follows), window 2^(10+7) = 128 KiB.
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3])];
  for (let i = 0; i < blocks; i++) {
    const last = i === blocks - 1 ? 1 : 0;
    // Block header: last flag, type 1 (RLE), size = bytes to repeat; then the byte.
    const header = last | (1 << 1) | ((128 * 1024) << 3);
    parts.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff, 0x41]));
  }
  return Buffer.concat(parts);
}
