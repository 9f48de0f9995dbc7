/**
 * The OTLP/gRPC receiver with a real @grpc/grpc-js client on 127.0.0.1: exports of traces and
 * logs are decoded and handed on, answered with partial_success when records were refused; an
 * undecodable message is INVALID_ARGUMENT; a message over the limit is RESOURCE_EXHAUSTED without
 * RetryInfo; capacity (in-flight bound, full bus) is RESOURCE_EXHAUSTED and an unavailable bus
 * UNAVAILABLE, both with RetryInfo in grpc-status-details-bin; metrics are UNIMPLEMENTED; gzip
 * and deflate messages are accepted.
 */
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { BusFullError, BusUnavailableError } from '../pipeline/errors.js';
import { silentLogger } from '../pipeline/logger.js';
import { createLogRecord, createLogsData, type LogsData } from '../schemas/otlp-logs.js';
import { createSpan, createTracesData, type TracesData } from '../schemas/otlp-traces.js';
import { decodeRpcStatusDetailsForTest } from '../test/harness/rpc-status.js';
import type { ExportOutcome } from './export-outcome.js';
import { startOtlpGrpcReceiver, type OtlpGrpcReceiver } from './otlp-grpc-receiver.js';
import { encodeExportLogsServiceRequest, encodeExportLogsServiceResponse } from './otlp-protobuf-logs.js';
import { encodeExportTraceServiceRequest, encodeExportTraceServiceResponse } from './otlp-protobuf.js';

const TRACE_EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const LOGS_EXPORT = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const METRICS_EXPORT = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

function traces(name: string): Buffer {
  const span = createSpan({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '00f067aa0ba902b7', name, kind: 2, startTimeUnixNano: 1n, endTimeUnixNano: 2n });
  return Buffer.from(encodeExportTraceServiceRequest(createTracesData('svc', [span])));
}

function logs(body: string): Buffer {
  return Buffer.from(encodeExportLogsServiceRequest(createLogsData('svc', [createLogRecord({ timeUnixNano: 5n, severityNumber: 9, severityText: 'INFO', body })])));
}

type Result = { ok: true; response: Buffer } | { ok: false; error: ServiceError };

const clients: Client[] = [];
function call(address: string, method: string, message: Buffer, compression?: 'gzip' | 'deflate'): Promise<Result> {
  const options = compression ? { 'grpc.default_compression_algorithm': compression === 'gzip' ? 2 : 1 } : {};
  const client = new Client(address, credentials.createInsecure(), options);
  clients.push(client);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      message,
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (error, response) => resolve(error ? { ok: false, error } : { ok: true, response: response! }),
    );
  });
}

function failed(r: Result): ServiceError {
  if (r.ok) throw new Error('expected the call to fail');
  return r.error;
}

function retryInfo(err: ServiceError): ReturnType<typeof decodeRpcStatusDetailsForTest> | null {
  const bin = err.metadata.get('grpc-status-details-bin')[0];
  return bin ? decodeRpcStatusDetailsForTest(bin as Buffer) : null;
}

let receiver: OtlpGrpcReceiver | null = null;
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await receiver?.close(1000);
  receiver = null;
});

async function start(overrides: Partial<Parameters<typeof startOtlpGrpcReceiver>[0]> = {}): Promise<OtlpGrpcReceiver> {
  receiver = await startOtlpGrpcReceiver({ host: '127.0.0.1', port: 0, logger: silentLogger(), onTraces: async () => {}, onLogs: async () => {}, ...overrides });
  return receiver;
}

describe('OTLP/gRPC receiver', () => {
  it('hands decoded traces and logs on and answers with an empty Export response', async () => {
    const seenTraces: TracesData[] = [];
    const seenLogs: LogsData[] = [];
    const r = await start({ onTraces: async (d) => void seenTraces.push(d), onLogs: async (d) => void seenLogs.push(d) });
    const t = await call(r.address, TRACE_EXPORT, traces('GET /cart'));
    expect(t).toEqual({ ok: true, response: Buffer.from(encodeExportTraceServiceResponse(0, '')) });
    const l = await call(r.address, LOGS_EXPORT, logs('hello'));
    expect(l).toEqual({ ok: true, response: Buffer.from(encodeExportLogsServiceResponse(0, '')) });
    expect(seenTraces.map((d) => d.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name)).toEqual(['GET /cart']);
    expect(seenTraces[0]!.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(seenLogs.map((d) => d.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!.body)).toEqual(['hello']);
  });

  it('accepts gzip- and deflate-compressed messages', async () => {
    const names: string[] = [];
    const r = await start({ onTraces: async (d) => void names.push(d.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name) });
    expect((await call(r.address, TRACE_EXPORT, traces('gzipped'), 'gzip')).ok).toBe(true);
    expect((await call(r.address, TRACE_EXPORT, traces('deflated'), 'deflate')).ok).toBe(true);
    expect(names).toEqual(['gzipped', 'deflated']);
  });

  it('answers partial_success with the records the pipeline refused', async () => {
    const outcome: ExportOutcome = { rejected: 1, message: '1 span refused: trace id is not 16 bytes' };
    const r = await start({ onTraces: async () => outcome });
    const t = await call(r.address, TRACE_EXPORT, traces('x'));
    expect(t).toEqual({ ok: true, response: Buffer.from(encodeExportTraceServiceResponse(1, '1 span refused: trace id is not 16 bytes')) });
  });

  it('refuses an undecodable message with INVALID_ARGUMENT naming the problem, and hands nothing on', async () => {
    let calls = 0;
    const r = await start({ onTraces: async () => void calls++ });
    const err = failed(await call(r.address, TRACE_EXPORT, traces('x').subarray(0, 20)));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/^request is not a valid protobuf ExportTraceServiceRequest: /);
    const wrongWire = failed(await call(r.address, LOGS_EXPORT, Buffer.from([0x0b, 0x01])));
    expect(wrongWire.code).toBe(status.INVALID_ARGUMENT);
    expect(wrongWire.details).toMatch(/^request is not a valid protobuf ExportLogsServiceRequest: /);
    expect(calls).toBe(0);
  });

  it('refuses a message over the size limit with RESOURCE_EXHAUSTED and no RetryInfo (retrying cannot help)', async () => {
    const r = await start({ maxMessageBytes: 64 });
    const err = failed(await call(r.address, TRACE_EXPORT, Buffer.concat([traces('x'), Buffer.alloc(100)])));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/larger than max/);
    expect(retryInfo(err)).toBeNull();
  });

  it('refuses with RESOURCE_EXHAUSTED + RetryInfo while the in-flight bound is held, and accepts once it frees', async () => {
    const first = traces('first');
    const seen: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const r = await start({
      maxInflightBytes: first.length + 10,
      onTraces: async (d) => {
        const name = d.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name;
        seen.push(name);
        if (name === 'first') await held;
      },
    });
    const pending = call(r.address, TRACE_EXPORT, first);
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const err = failed(await call(r.address, TRACE_EXPORT, traces('second')));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toBe(`the collector is at capacity (${first.length + 10} bytes of requests in flight): retry later`);
    expect(retryInfo(err)).toEqual({ code: status.RESOURCE_EXHAUSTED, message: err.details, details: ['type.googleapis.com/google.rpc.RetryInfo'], retryDelayS: 1 });
    release();
    expect((await pending).ok).toBe(true);
    expect((await call(r.address, TRACE_EXPORT, traces('second'))).ok).toBe(true);
    expect(seen).toEqual(['first', 'second']);
  });

  it('turns a full bus into RESOURCE_EXHAUSTED and an unavailable bus into UNAVAILABLE, both with RetryInfo', async () => {
    let failure: Error = new BusFullError('queue full', 2000);
    const r = await start({
      onTraces: async () => {
        throw failure;
      },
    });
    const full = failed(await call(r.address, TRACE_EXPORT, traces('x')));
    expect(full.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(full.details).toBe('the pipeline is at capacity: retry later');
    expect(retryInfo(full)?.retryDelayS).toBe(2);
    failure = new BusUnavailableError('broker down', 5000);
    const down = failed(await call(r.address, TRACE_EXPORT, traces('x')));
    expect(down.code).toBe(status.UNAVAILABLE);
    expect(down.details).toBe('the pipeline is temporarily unavailable: retry later');
    expect(retryInfo(down)).toEqual({ code: status.UNAVAILABLE, message: down.details, details: ['type.googleapis.com/google.rpc.RetryInfo'], retryDelayS: 5 });
    failure = new TypeError('a bug');
    const bug = failed(await call(r.address, TRACE_EXPORT, traces('x')));
    expect(bug.code).toBe(status.INTERNAL);
    expect(bug.details).toBe('internal error');
  });

  it('answers metrics with UNIMPLEMENTED saying what is supported', async () => {
    const r = await start();
    const err = failed(await call(r.address, METRICS_EXPORT, Buffer.alloc(0)));
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toBe(`metrics are not supported: export traces (${TRACE_EXPORT}) and logs (${LOGS_EXPORT})`);
  });

  it('lets a call in flight finish when closing, and takes no new call', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const r = await start({
      onTraces: async () => {
        started++;
        await held;
      },
    });
    const pending = call(r.address, TRACE_EXPORT, traces('in flight'));
    while (started === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const closed = r.close(5000);
    const late = failed(await call(r.address, TRACE_EXPORT, traces('late')));
    expect(late.code).toBe(status.UNAVAILABLE);
    expect(started).toBe(1);
    release();
    expect((await pending).ok).toBe(true);
    await closed;
    receiver = null;
  });
});
