/**
 * The payloads every load scenario replays: pre-encoded OTLP/HTTP protobuf requests, built once
 * per run so encoding never costs the load generator anything.
 *
 * Each payload also lists where its spans' trace ids sit in the bytes, so the load generator can
 * stamp every send with a fresh id prefix (a copy and a few writes, no re-encoding): each
 * replayed span is then a distinct span, and "stored spans" = "distinct (TraceId, SpanId)" is an
 * exact loss and duplicate check even though the same bodies are sent again and again.
 */
import { encodeExportTraceServiceRequest } from '../collector/otlp-protobuf.js';
import { seededRandom } from '../processors/redaction/sample-credentials.js';
import { countSpans } from '../schemas/otlp-traces.js';
import type { Payload } from './load-generator.js';
import { buildRealisticRequest } from './realistic-traces.js';

function varint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, pos];
    shift += 7;
  }
}

/** Calls `onField(field, start, end)` for each length-delimited field of the message in [start, end). */
function forEachDelimited(buf: Uint8Array, start: number, end: number, onField: (field: number, start: number, end: number) => void): void {
  let pos = start;
  while (pos < end) {
    let tag: number;
    [tag, pos] = varint(buf, pos);
    const wire = tag & 7;
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len: number;
      [len, pos] = varint(buf, pos);
      onField(tag >>> 3, pos, pos + len);
      pos += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
}

/** Byte offsets of every span's 16-byte trace id in an encoded ExportTraceServiceRequest. */
export function traceIdOffsets(body: Uint8Array): number[] {
  const out: number[] = [];
  forEachDelimited(body, 0, body.length, (f, s, e) => {
    if (f !== 1) return; // resource_spans
    forEachDelimited(body, s, e, (f2, s2, e2) => {
      if (f2 !== 2) return; // scope_spans
      forEachDelimited(body, s2, e2, (f3, s3, e3) => {
        if (f3 !== 2) return; // spans
        forEachDelimited(body, s3, e3, (f4, s4, e4) => {
          if (f4 === 1 && e4 - s4 === 16) out.push(s4); // trace_id
        });
      });
    });
  });
  return out;
}

export function payloadOf(body: Uint8Array, spans: number): Payload {
  return { body: Buffer.from(body), spans, traceIdOffsets: traceIdOffsets(body) };
}

export async function benchPayloads(options: { quick: boolean }): Promise<{ payloads: Payload[]; source: string }> {
  const random = seededRandom(11);
  const payloads: Payload[] = [];
  for (let i = 0; i < (options.quick ? 16 : 64); i++) {
    const request = buildRealisticRequest(random, 0.01, 200);
    payloads.push(payloadOf(encodeExportTraceServiceRequest(request), countSpans(request)));
  }
  return { payloads, source: 'bench/realistic-traces.ts (checkout service, 1% secret values)' };
}
