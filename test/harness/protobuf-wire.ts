/**
 * Raw protobuf building blocks for codec tests: bytes the encoder under test would never produce
 * (truncations, unknown fields, repeated fields, odd varints), written independently of it.
 */

export function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return bytes;
}

export function tag(fieldNumber: number, wireType: number): number[] {
  return varint(fieldNumber * 8 + wireType);
}

export function lengthDelimited(fieldNumber: number, ...payload: (number[] | Uint8Array)[]): number[] {
  const bytes = payload.flatMap((part) => [...part]);
  return [...tag(fieldNumber, 2), ...varint(bytes.length), ...bytes];
}

export function utf8(text: string): number[] {
  return [...Buffer.from(text, 'utf8')];
}

export function fixed64(value: bigint): number[] {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(value);
  return [...bytes];
}
