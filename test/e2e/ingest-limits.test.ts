/**
 * The collector's configurable limits, end to end on an embedded chainwatch: attribute count and
 * value length applied (and counted) before storage on HTTP and gRPC alike; requests with too many
 * records refused whole (413 / RESOURCE_EXHAUSTED) with nothing stored; slow clients answered 408
 * and disconnected once the header or request timeout passes, while other clients are served.
 */
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { connect, type Socket } from 'node:net';
import { connect as connectHttp2 } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { createSpan, createTracesData, type TracesData } from '../../schemas/otlp-traces.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { decodeRpcStatusForTest } from '../harness/rpc-status.js';
import { countStoredSpans, readStoredSpans } from '../harness/span-expectations.js';

function request(service: string, spans: number, attributes = 1): TracesData {
  return createTracesData(
    service,
    Array.from({ length: spans }, (_, i) =>
      createSpan({
        traceId: '7'.repeat(32),
        spanId: (i + 1).toString(16).padStart(16, '0'),
        name: `span ${i}`,
        startTimeUnixNano: 1_700_000_000_000_000_000n,
        endTimeUnixNano: 1_700_000_000_000_100_000n,
        attributes: Array.from({ length: attributes }, (_, k) => ({ key: `a${k}`, value: `value-${k}-0123456789` })),
      }),
    ),
  );
}

async function postProtobuf(url: string, data: TracesData): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: encodeExportTraceServiceRequest(data) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

function grpcExport(address: string, data: TracesData): Promise<ServiceError | null> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(encodeExportTraceServiceRequest(data)),
      new Metadata(),
      (err) => {
        client.close();
        resolve(err);
      },
    ),
  );
}

/** Writes `text` on a raw connection and resolves with what the server sent back before closing. */
function slowClient(port: number, text: string): { socket: Socket; reply: Promise<{ data: string; ms: number }> } {
  const started = performance.now();
  const socket = connect(port, '127.0.0.1');
  socket.write(text);
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  const reply = new Promise<{ data: string; ms: number }>((resolve) => socket.on('close', () => resolve({ data, ms: performance.now() - started })));
  socket.on('error', () => {});
  return { socket, reply };
}

describe('collector limits', () => {
  let app: Chainwatch;
  let port: number;

  beforeAll(async () => {
    app = await startTestChainwatch(
      testConfig({
        collector: {
          limits: { max_attributes: 3, max_attribute_value_length: 8, max_records_per_request: 50, header_timeout_ms: 400, request_timeout_ms: 800 },
          grpc: { max_connection_age_ms: 1000 },
        },
      }),
    );
    port = Number(new URL(app.otlpHttpUrl!).port);
  });
  afterAll(async () => {
    await app?.stop();
  });

  // Service names are kept within 8 characters: service.name is a resource attribute, limited too.
  it('drops attributes beyond the count and truncates long values before storage, over HTTP and gRPC, and counts it', async () => {
    const before = { ...app.attributeLimitCounts };
    expect((await postProtobuf(app.otlpHttpUrl!, request('lim-http', 2, 5))).status).toBe(200);
    expect(await grpcExport(app.otlpGrpcAddress!, request('lim-grpc', 2, 5))).toBeNull();
    for (const service of ['lim-http', 'lim-grpc']) {
      const rows = await readStoredSpans(app.clickhouse!, `ServiceName = '${service}'`);
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(row.SpanAttributes).toEqual({ a0: 'value-0-', a1: 'value-1-', a2: 'value-2-' });
    }
    // 4 spans × (2 attributes dropped, 3 values truncated).
    expect(app.attributeLimitCounts.attributesDropped - before.attributesDropped).toBe(8);
    expect(app.attributeLimitCounts.valuesTruncated - before.valuesTruncated).toBe(12);
  });

  it('refuses a request with more records than the limit, whole, on HTTP (413) and gRPC (RESOURCE_EXHAUSTED)', async () => {
    const http = await postProtobuf(app.otlpHttpUrl!, request('toomany1', 51));
    expect(http.status).toBe(413);
    expect(decodeRpcStatusForTest(http.body)).toEqual({ code: 8, message: 'request holds 51 spans, more than the limit of 50 per request' });
    const grpc = await grpcExport(app.otlpGrpcAddress!, request('toomany2', 51));
    expect(grpc?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(grpc?.details).toBe('request holds 51 spans, more than the limit of 50 per request');
    expect(await countStoredSpans(app.clickhouse!, "ServiceName IN ('toomany1', 'toomany2')")).toBe(0);
    expect((await postProtobuf(app.otlpHttpUrl!, request('enough', 50))).status).toBe(200);
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'enough'")).toBe(50);
  });

  it('answers 408 and disconnects a client that does not finish its headers, or its body, in time, while serving others', async () => {
    const stalledHeaders = slowClient(port, 'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n');
    const stalledBody = slowClient(port, 'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n0123');
    // Meanwhile another client is served at once.
    expect((await postProtobuf(app.otlpHttpUrl!, request('meantime', 1))).status).toBe(200);
    const [headers, body] = await Promise.all([stalledHeaders.reply, stalledBody.reply]);
    expect(headers.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(body.data).toMatch(/^HTTP\/1\.1 408 /);
    // Not before the timeouts, and not long after (the check runs every second).
    expect(headers.ms).toBeGreaterThanOrEqual(400);
    expect(body.ms).toBeGreaterThanOrEqual(800);
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'meantime'")).toBe(1);
  });

  it('closes a gRPC connection whose client trickles its message, after the connection age and the grace for calls', async () => {
    const started = Date.now();
    const session = connectHttp2(`http://${app.otlpGrpcAddress}`);
    const stream = session.request({ ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'content-type': 'application/grpc', te: 'trailers' });
    // A length-prefixed message announcing 1000 bytes, of which 10 ever arrive.
    const frame = Buffer.alloc(15);
    frame.writeUInt32BE(1000, 1);
    stream.write(frame);
    stream.on('error', () => {});
    session.on('error', () => {});
    await new Promise<void>((resolve) => session.once('close', resolve));
    const ms = Date.now() - started;
    // Age 1 s (less up to 10% jitter), then 0.8 s of grace for the call in flight.
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(5000);
  });
});
