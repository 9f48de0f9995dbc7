/**
 * Reads a protobuf google.rpc.Status (code = 1 varint, message = 2 string) for assertions. Written
 * independently of the collector's encoder so a test does not check the code with itself.
 */
export function decodeRpcStatusForTest(buf: Uint8Array): { code: number; message: string } {
  let code = 0;
  let message = '';
  for (const f of readFieldsForTest(buf)) {
    if (f.field === 1 && f.wire === 0) code = f.value as number;
    else if (f.field === 2 && f.wire === 2) message = Buffer.from(f.value as Uint8Array).toString('utf8');
    else throw new Error(`unexpected field ${f.field} in google.rpc.Status`);
  }
  return { code, message };
}

/**
 * Reads a google.rpc.Status with details (as in gRPC's `grpc-status-details-bin` trailer) and the
 * retry delay of a google.rpc.RetryInfo among them, if any. Independent of the collector's encoder.
 */
export function decodeRpcStatusDetailsForTest(buf: Uint8Array): { code: number; message: string; details: string[]; retryDelayS: number | null } {
  const fields = readFieldsForTest;
  const text = (v: number | Uint8Array): string => Buffer.from(v as Uint8Array).toString('utf8');
  let code = 0;
  let message = '';
  const details: string[] = [];
  let retryDelayS: number | null = null;
  for (const f of fields(buf)) {
    if (f.field === 1) code = f.value as number;
    else if (f.field === 2) message = text(f.value);
    else if (f.field === 3) {
      const any = fields(f.value as Uint8Array);
      const typeUrl = text(any.find((a) => a.field === 1)!.value);
      details.push(typeUrl);
      if (typeUrl === 'type.googleapis.com/google.rpc.RetryInfo') {
        const retryInfo = fields(any.find((a) => a.field === 2)!.value as Uint8Array);
        const duration = fields(retryInfo.find((r) => r.field === 1)!.value as Uint8Array);
        retryDelayS = (duration.find((d) => d.field === 1)?.value as number | undefined) ?? 0;
      }
    }
  }
  return { code, message, details, retryDelayS };
}

/** The varint and length-delimited fields of a protobuf message, in order (other wire types throw). */
export function readFieldsForTest(b: Uint8Array): { field: number; wire: number; value: number | Uint8Array }[] {
  const out: { field: number; wire: number; value: number | Uint8Array }[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= b.length) throw new Error('truncated varint');
      const byte = b[pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
    }
  };
  while (pos < b.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) out.push({ field: tag >>> 3, wire, value: varint() });
    else if (wire === 2) {
      const len = varint();
      out.push({ field: tag >>> 3, wire, value: b.subarray(pos, pos + len) });
      pos += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}
