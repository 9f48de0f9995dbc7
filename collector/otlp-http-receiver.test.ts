/**
 * The receiver's in-flight bound: while requests holding `maxInflightBytes` are being processed,
 * another request is refused with 429, Retry-After and a google.rpc.Status naming the cause —
 * before anything of it is processed — and is accepted again once capacity frees up. And the
 * outcome of accepting a request (records refused, and why) is answered as partial_success.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRpcStatusForTest } from '../test/harness/rpc-status.js';
import { silentLogger } from '../pipeline/logger.js';
import { createSpan, createTracesData, type TracesData } from '../schemas/otlp-traces.js';
import { encodeExportTraceServiceRequest, encodeExportTraceServiceResponse } from './otlp-protobuf.js';
import { startOtlpHttpReceiver, type OtlpHttpReceiver } from './otlp-http-receiver.js';

function body(name: string): Buffer {
  const span = createSpan({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '00f067aa0ba902b7', name, kind: 2, startTimeUnixNano: 1n, endTimeUnixNano: 2n });
  return Buffer.from(encodeExportTraceServiceRequest(createTracesData('svc', [span])));
}

function post(url: string, payload: Buffer): Promise<{ status: number; retryAfter: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

let receiver: OtlpHttpReceiver | null = null;
afterEach(async () => {
  await receiver?.close(1000);
  receiver = null;
});

describe('OTLP/HTTP receiver in-flight bound', () => {
  it('refuses with 429 + Retry-After while the bound is held, and accepts once it frees', async () => {
    const first = body('first');
    const seen: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    receiver = await startOtlpHttpReceiver({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger(),
      maxInflightBytes: first.length + 10,
      onLogs: async () => {},
      onTraces: async (data: TracesData) => {
        const name = data.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name;
        seen.push(name);
        if (name === 'first') await held;
      },
    });
    const pending = post(receiver.url, first);
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));

    const refused = await post(receiver.url, body('second'));
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).toBe('1');
    const status = decodeRpcStatusForTest(refused.body);
    expect(status.code).toBe(8); // RESOURCE_EXHAUSTED
    expect(status.message).toBe(`the collector is at capacity (${first.length + 10} bytes of requests in flight): retry later`);
    expect(seen).toEqual(['first']);

    release();
    expect((await pending).status).toBe(200);
    expect((await post(receiver.url, body('second'))).status).toBe(200);
    expect(seen).toEqual(['first', 'second']);
  });

  it('lets a single request larger than the bound through when nothing else is in flight', async () => {
    const seen: string[] = [];
    receiver = await startOtlpHttpReceiver({ host: '127.0.0.1', port: 0, logger: silentLogger(), maxInflightBytes: 1, onLogs: async () => {}, onTraces: async () => void seen.push('x') });
    expect((await post(receiver.url, body('big'))).status).toBe(200);
    expect(seen).toEqual(['x']);
  });
});

describe('OTLP/HTTP receiver export outcome', () => {
  it('answers 200 with partial_success when the handler refused some records, and an empty response otherwise', async () => {
    let outcome: { rejected: number; message: string } | undefined = { rejected: 2, message: '2 spans refused: trace id is not 16 bytes' };
    receiver = await startOtlpHttpReceiver({ host: '127.0.0.1', port: 0, logger: silentLogger(), onLogs: async () => {}, onTraces: async () => outcome });
    const partial = await post(receiver.url, body('x'));
    expect(partial.status).toBe(200);
    expect(partial.body).toEqual(Buffer.from(encodeExportTraceServiceResponse(2, '2 spans refused: trace id is not 16 bytes')));
    outcome = undefined;
    const full = await post(receiver.url, body('y'));
    expect(full.status).toBe(200);
    expect(full.body).toEqual(Buffer.from(encodeExportTraceServiceResponse(0, '')));
    expect(full.body.length).toBe(0);
  });
});
