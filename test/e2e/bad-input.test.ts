/**
 * Bad input at the OTLP/HTTP receiver, on /v1/traces and /v1/logs: every case gets the status and
 * message the OTLP specification asks for, in the request's encoding, and the service keeps
 * serving — a valid request of either signal after all of them is stored, and what was stored
 * before is intact.
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRpcStatusForTest } from '../harness/rpc-status.js';
import { encodeExportLogsServiceRequest, encodeExportLogsServiceResponse } from '../../collector/otlp-protobuf-logs.js';
import { encodeExportTraceServiceRequest, encodeExportTraceServiceResponse } from '../../collector/otlp-protobuf.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { createLogRecord, createLogsData } from '../../schemas/otlp-logs.js';
import { createSpan, createTracesData, type TracesData } from '../../schemas/otlp-traces.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { countStoredLogs } from '../harness/log-expectations.js';
import { countStoredSpans } from '../harness/span-expectations.js';
import { zstdRleFrame } from '../harness/zstd-frames.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function post(url: string, path: string, body: Buffer | string, headers: Record<string, string>, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function oneSpan(traceId: string, name: string): TracesData {
  const span = createSpan({
    traceId,
    spanId: '0102030405060708',
    name,
    kind: 2,
    startTimeUnixNano: 1_700_000_000_000_000_000n,
    endTimeUnixNano: 1_700_000_000_500_000_000n,
  });
  return createTracesData('bad-input-test', [span], { name: 's' });
}

function oneLogRecord(body: string): Uint8Array {
  return encodeExportLogsServiceRequest(createLogsData('bad-input-test', [createLogRecord({ timeUnixNano: 1_700_000_000_000_000_000n, body })], { name: 's' }));
}

function jsonStatus(reply: Reply): { code: number; message: string } {
  expect(reply.headers['content-type']).toBe('application/json');
  return JSON.parse(reply.body.toString('utf8')) as { code: number; message: string };
}

describe('bad input at the OTLP/HTTP receiver', () => {
  let app: Chainwatch;
  let url: string;
  const before = '11111111111111111111111111111111';
  const after = '22222222222222222222222222222222';

  beforeAll(async () => {
    app = await startTestChainwatch(testConfig());
    url = app.otlpHttpUrl!;
    const ok = await post(url, '/v1/traces', Buffer.from(encodeExportTraceServiceRequest(oneSpan(before, 'accepted before'))), {
      'content-type': 'application/x-protobuf',
    });
    expect(ok.status).toBe(200);
    const okLogs = await post(url, '/v1/logs', Buffer.from(oneLogRecord('log accepted before')), { 'content-type': 'application/x-protobuf' });
    expect(okLogs.status).toBe(200);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('answers 400 with a google.rpc.Status in protobuf for an undecodable protobuf body', async () => {
    // Field 1 (resource_spans), length-delimited, declares 100 bytes but carries 3.
    const r = await post(url, '/v1/traces', Buffer.from([0x0a, 100, 1, 2, 3]), { 'content-type': 'application/x-protobuf' });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/x-protobuf');
    const status = decodeRpcStatusForTest(r.body);
    expect(status.code).toBe(3); // INVALID_ARGUMENT
    expect(status.message).toMatch(/^request body is not a valid protobuf ExportTraceServiceRequest: .*length 100/);
  });

  it('answers 400 with a JSON google.rpc.Status for invalid JSON', async () => {
    const r = await post(url, '/v1/traces', '{"resourceSpans": [', { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/json');
    const body = JSON.parse(r.body.toString('utf8')) as { code: number; message: string };
    expect(body.code).toBe(3);
    expect(body.message).toMatch(/^request body is not a valid OTLP\/JSON ExportTraceServiceRequest: invalid JSON/);
  });

  it('answers 400 naming the field for JSON of the wrong shape', async () => {
    const r = await post(url, '/v1/traces', JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'not-hex', spanId: '0102030405060708' }] }] }] }), {
      'content-type': 'application/json',
    });
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body.toString('utf8')) as { code: number; message: string };
    expect(body.message).toContain('resourceSpans[0].scopeSpans[0].spans[0].traceId');
  });

  it.each(['/v1/traces', '/v1/logs'])('answers 415 on %s naming the supported types for another content type', async (path) => {
    const r = await post(url, path, 'hello', { 'content-type': 'text/plain' });
    expect(r.status).toBe(415);
    const body = JSON.parse(r.body.toString('utf8')) as { code: number; message: string };
    expect(body.message).toBe('unsupported content type "text/plain": use application/x-protobuf or application/json');
  });

  it.each(['/v1/traces', '/v1/logs'])('answers 415 on %s when the content type is missing', async (path) => {
    const r = await post(url, path, 'x', {});
    expect(r.status).toBe(415);
  });

  it('answers 405 for GET and 404 for unknown paths', async () => {
    for (const path of ['/v1/traces', '/v1/logs']) {
      const get = await post(url, path, '', {}, 'GET');
      expect(get.status).toBe(405);
      expect(get.headers['allow']).toBe('POST');
    }
    const unknown = await post(url, '/v2/spans', 'x', { 'content-type': 'application/json' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body.toString('utf8')).message).toBe('unknown path "/v2/spans": send traces to /v1/traces and logs to /v1/logs');
  });

  const gzipCases = [
    {
      path: '/v1/traces',
      body: () => encodeExportTraceServiceRequest(oneSpan('33333333333333333333333333333333', 'gzipped')),
      stored: () => countStoredSpans(app.clickhouse!, "TraceId = '33333333333333333333333333333333'"),
    },
    { path: '/v1/logs', body: () => oneLogRecord('gzipped log'), stored: () => countStoredLogs(app.clickhouse!, "Body = 'gzipped log'") },
  ];
  it.each(gzipCases)('answers 400 on $path naming the encoding for an unknown Content-Encoding, and accepts gzip', async ({ path, body: encode, stored }) => {
    const body = Buffer.from(encode());
    const bad = await post(url, path, body, { 'content-type': 'application/x-protobuf', 'content-encoding': 'br' });
    expect(bad.status).toBe(400);
    expect(decodeRpcStatusForTest(bad.body).message).toBe('unsupported content encoding "br": use gzip, deflate, zstd or none');
    const good = await post(url, path, gzipSync(body), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(good.status).toBe(200);
    expect(await stored()).toBe(1);
  });

  it('accepts a zstd body (real zstd CLI output) and refuses a zstd bomb with 413 before inflating it', async () => {
    const fixture = readFileSync(new URL('../fixtures/zstd/traces-200-spans.pb.zst', import.meta.url));
    const good = await post(url, '/v1/traces', fixture, { 'content-type': 'application/x-protobuf', 'content-encoding': 'zstd' });
    expect(good.status).toBe(200);
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'zstd-fixture'")).toBe(200);
    const bomb = zstdRleFrame(512); // 64 MiB of output from ~2 KiB
    const refused = await post(url, '/v1/logs', bomb, { 'content-type': 'application/x-protobuf', 'content-encoding': 'zstd' });
    expect(refused.status).toBe(413);
    expect(decodeRpcStatusForTest(refused.body)).toEqual({ code: 8, message: `decompressed request body exceeds the limit of ${20 * 1024 * 1024} bytes` });
    const garbage = await post(url, '/v1/traces', Buffer.from('definitely not zstd'), { 'content-type': 'application/json', 'content-encoding': 'zstd' });
    expect(garbage.status).toBe(400);
    expect(jsonStatus(garbage)).toEqual({ code: 3, message: 'request body is not valid zstd data' });
  });

  it('answers 400 on /v1/logs for an undecodable protobuf body, naming the logs request and the problem', async () => {
    const r = await post(url, '/v1/logs', Buffer.from([0x0a, 100, 1, 2, 3]), { 'content-type': 'application/x-protobuf' });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/x-protobuf');
    expect(decodeRpcStatusForTest(r.body)).toEqual({
      code: 3,
      message:
        'request body is not a valid protobuf ExportLogsServiceRequest: truncated message: field 1 (ExportLogsServiceRequest.resource_logs) length 100 exceeds remaining 3 bytes at offset 1',
    });
  });

  it('answers 400 on /v1/logs for invalid JSON and for JSON of the wrong shape, naming the field', async () => {
    const invalid = await post(url, '/v1/logs', '{"resourceLogs": [', { 'content-type': 'application/json' });
    expect(invalid.status).toBe(400);
    expect(jsonStatus(invalid)).toEqual({
      code: 3,
      message: 'request body is not a valid OTLP/JSON ExportLogsServiceRequest: invalid JSON: Unexpected end of input at position 18',
    });
    const shape = await post(url, '/v1/logs', JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 7 } }] }] }] }), {
      'content-type': 'application/json',
    });
    expect(shape.status).toBe(400);
    expect(jsonStatus(shape).message).toBe(
      'request body is not a valid OTLP/JSON ExportLogsServiceRequest: resourceLogs[0].scopeLogs[0].logRecords[0].body.stringValue: expected a string, got number',
    );
  });

  it('answers 404 for /v1/metrics, saying it is not supported and where traces and logs go', async () => {
    const r = await post(url, '/v1/metrics', Buffer.from([]), { 'content-type': 'application/x-protobuf' });
    expect(r.status).toBe(404);
    expect(jsonStatus(r)).toEqual({ code: 5, message: '/v1/metrics is not supported: send traces to /v1/traces and logs to /v1/logs' });
  });

  it('answers 200 with partial_success for spans with unusable ids, storing the others', async () => {
    const valid = '66666666666666666666666666666666';
    const span = (traceId: string, spanId: string, name: string, parentSpanId = ''): Record<string, unknown> => ({
      traceId,
      spanId,
      parentSpanId,
      name,
      startTimeUnixNano: '1700000000000000000',
      endTimeUnixNano: '1700000000100000000',
    });
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'partial-success-test' } }] },
          scopeSpans: [
            {
              spans: [
                span(valid, '0102030405060708', 'kept'),
                span('0102030405060708', '0102030405060709', 'short trace id'),
                span(valid, '0000000000000000', 'zero span id'),
                span(valid, '010203040506070a', 'long parent', '0102030405060708090a'),
              ],
            },
          ],
        },
      ],
    };
    const r = await post(url, '/v1/traces', JSON.stringify(body), { 'content-type': 'application/json' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString('utf8'))).toEqual({
      partialSuccess: {
        rejectedSpans: '3',
        errorMessage: '3 of 4 spans rejected: 1 with a trace id that is not 16 bytes, 1 with an all-zero span id, 1 with a parent span id that is not 8 bytes',
      },
    });
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'partial-success-test'")).toBe(1);
    expect(await countStoredSpans(app.clickhouse!, `TraceId = '${valid}' AND SpanName = 'kept'`)).toBe(1);
  });

  it('answers partial_success in protobuf for a span time past 2262 and a log record time past 2262; a 4-byte log span id is cleared', async () => {
    const late = oneSpan('44444444444444444444444444444444', 'from the far future');
    late.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.endTimeUnixNano = (1n << 64n) - 1n;
    const r = await post(url, '/v1/traces', Buffer.from(encodeExportTraceServiceRequest(late)), { 'content-type': 'application/x-protobuf' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual(Buffer.from(encodeExportTraceServiceResponse(1, '1 of 1 span rejected: 1 with an end time after 2262-04-11 (not representable)')));
    expect(await countStoredSpans(app.clickhouse!, "TraceId = '44444444444444444444444444444444'")).toBe(0);

    const logs = createLogsData('bad-input-test', [
      createLogRecord({ timeUnixNano: 1_700_000_000_000_000_000n, body: 'partial log kept', spanId: '01020304' }),
      createLogRecord({ timeUnixNano: (1n << 63n) + 1n, body: 'partial log refused' }),
    ]);
    const l = await post(url, '/v1/logs', Buffer.from(encodeExportLogsServiceRequest(logs)), { 'content-type': 'application/x-protobuf' });
    expect(l.status).toBe(200);
    expect(l.body).toEqual(Buffer.from(encodeExportLogsServiceResponse(1, '1 of 2 log records rejected: 1 with a time after 2262-04-11 (not representable)')));
    expect(await countStoredLogs(app.clickhouse!, "Body LIKE 'partial log%'")).toBe(1);
    expect(await countStoredLogs(app.clickhouse!, "Body = 'partial log kept' AND SpanId = ''")).toBe(1);
  });

  it('keeps serving afterwards, and what was stored before is intact', async () => {
    const r = await post(url, '/v1/traces', Buffer.from(encodeExportTraceServiceRequest(oneSpan(after, 'accepted after'))), {
      'content-type': 'application/x-protobuf',
    });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0); // an empty ExportTraceServiceResponse: full success
    expect(await countStoredSpans(app.clickhouse!, `TraceId = '${before}'`)).toBe(1);
    expect(await countStoredSpans(app.clickhouse!, `TraceId = '${after}'`)).toBe(1);
    const logs = await post(url, '/v1/logs', Buffer.from(oneLogRecord('log accepted after')), { 'content-type': 'application/x-protobuf' });
    expect(logs.status).toBe(200);
    expect(logs.body.length).toBe(0); // an empty ExportLogsServiceResponse: full success
    expect(await countStoredLogs(app.clickhouse!, "Body IN ('log accepted before', 'log accepted after')")).toBe(2);
  });

  it('answers a JSON logs request with a JSON ExportLogsServiceResponse', async () => {
    const r = await post(url, '/v1/logs', JSON.stringify({ resourceLogs: [] }), { 'content-type': 'application/json' });
    expect(r.status).toBe(200);
    expect(jsonStatus(r)).toEqual({});
  });

  it('answers a JSON request with a JSON ExportTraceServiceResponse', async () => {
    const r = await post(url, '/v1/traces', JSON.stringify({ resourceSpans: [] }), { 'content-type': 'application/json; charset=utf-8' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body.toString('utf8'))).toEqual({});
  });
});
