/**
 * Reads a protobuf google.rpc.Status (code = 1 varint, message = 2 string) for assertions. Written
 * independently of the collector's encoder so a test does not check the code with itself.
 */
export function decodeRpcStatusForTest(buf: Uint8Array): { code: number; message: string } {
  let pos = 0;
  let code = 0;
  let message = '';
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 0) code = varint();
    else if (field === 2 && (tag & 7) === 2) {
      const len = varint();
      message = Buffer.from(buf.subarray(pos, pos + len)).toString('utf8');
      pos += len;
    } else throw new Error(`unexpected field ${field} in google.rpc.Status`);
  }
  return { code, message };
}
