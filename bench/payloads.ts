/**
 * The payloads every load scenario replays: pre-encoded OTLP/HTTP protobuf requests produced by
 * the demo estate, captured once per run so encoding never costs the load generator anything.
 *
 * Each payload also lists where its spans' trace ids sit in the bytes, so the load generator can
 * stamp every send with a fresh id prefix (a copy and a few writes, no re-encoding): each
 * replayed span is then a distinct span, and "stored spans" = "distinct (TraceId, SpanId)" is an
 * exact loss and duplicate check even though the same bodies are sent again and again.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeExportTraceServiceRequest, encodeExportTraceServiceResponse } from '../collector/otlp-protobuf.js';
import { runDemo } from '../demo/demo-runner.js';
import { countSpans } from '../schemas/otlp-traces.js';
import type { Payload } from './load-generator.js';

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

/**
 * Captures what the demo estate's services really send: the demo (real OpenTelemetry SDK, one
 * TracerProvider per service, batch processor, OTLP/HTTP protobuf exporter) runs at a high rate
 * against a capturing HTTP server on 127.0.0.1 that answers every export with 200, and every
 * trace export body is kept as it arrived. Seeded, so every run replays the same traffic.
 */
export async function demoPayloads(options: { rate: number; durationS: number; seed: number }): Promise<Payload[]> {
  const payloads: Payload[] = [];
  const ok = Buffer.from(encodeExportTraceServiceResponse(0, ''));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const body = Buffer.concat(chunks);
        const spans = countSpans(decodeExportTraceServiceRequest(body));
        if (spans > 0) payloads.push(payloadOf(body, spans));
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(ok);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const demo = runDemo({
      target: `http://127.0.0.1:${port}`,
      rate: options.rate,
      durationS: options.durationS,
      seed: options.seed,
      incidents: 'all',
      // The SDK's default export batch (512 spans), as a service left at defaults sends.
      batch: { maxExportBatchSize: 512, scheduledDelayMs: 200 },
    });
    await demo.done;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return payloads;
}

export async function benchPayloads(options: { quick: boolean }): Promise<{ payloads: Payload[]; source: string }> {
  const rate = options.quick ? 1000 : 4000;
  const durationS = options.quick ? 2 : 5;
  const payloads = await demoPayloads({ rate, durationS, seed: 20261123 });
  if (payloads.length === 0) throw new Error('the demo estate produced no trace exports');
  return { payloads, source: `the demo estate (seed 20261123, ${rate} traces/s for ${durationS} s, all incidents, OTel SDK batches of ≤ 512 spans)` };
}
