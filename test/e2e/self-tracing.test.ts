/**
 * chainwatch tracing itself: a chainwatch with self_tracing on sends the spans of its own work
 * (an ingest span per request, a stage span per batch) over OTLP/HTTP to another chainwatch, which
 * stores them like any service's; none of them enters its own ingest, and none carries a record's
 * contents. Off by default, and the config refuses its own receiver as the endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { parseConfig } from '../../pipeline/config-loader.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { readStoredSpans } from '../harness/span-expectations.js';
import { waitFor } from '../harness/wait-for.js';

describe('self-tracing', () => {
  let sink: Chainwatch;
  let traced: Chainwatch;

  beforeAll(async () => {
    sink = await startTestChainwatch(testConfig());
    traced = await startTestChainwatch(testConfig({ self_tracing: { enabled: true, endpoint: sink.otlpHttpUrl, service_name: 'chainwatch-under-test' } }));
  });
  afterAll(async () => {
    await traced?.stop();
    await sink?.stop();
  });

  it('sends its ingest and stage spans to another collector, never to itself, without record contents', async () => {
    const secretName = 'POST /charge sk_live_4eC39HqLyjWDarjtT1zdp7dc';
    const body = encodeExportTraceServiceRequest(
      createTracesData('traced-service', [
        createSpan({ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: secretName, kind: 2, startTimeUnixNano: 1_767_225_600_000_000_000n, endTimeUnixNano: 1_767_225_600_100_000_000n }),
        createSpan({ traceId: '5b8efff798038103d269b633813fc60c', spanId: '0000000000000000', name: 'refused', kind: 2, startTimeUnixNano: 1_767_225_600_000_000_000n, endTimeUnixNano: 1_767_225_600_100_000_000n }),
      ], { name: 's' }),
    ); // prettier-ignore
    const res = await fetch(`${traced.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
    expect(res.status).toBe(200);

    // The batch processor exports within seconds; stopping flushes it at once.
    await traced.stop();
    const where = "ServiceName = 'chainwatch-under-test'";
    await waitFor('self spans at the sink', async () => (await readStoredSpans(sink.clickhouse!, where)).length >= 2);
    const spans = await readStoredSpans(sink.clickhouse!, where);
    const ingest = spans.find((s) => s.SpanName === 'ingest traces')!;
    expect(ingest.SpanAttributes).toEqual({ 'otlp.signal': 'traces', 'otlp.records.received': '2', 'otlp.records.accepted': '1', 'otlp.records.rejected': '1' });
    const stage = spans.find((s) => s.SpanName === 'stage storage')!;
    expect(stage.SpanAttributes).toMatchObject({ 'messaging.batch.message_count': '1', 'batch.retries': '0', 'batch.dropped': 'false' });
    expect(stage.ResourceAttributes['pipeline.roles']).toBe('collector,storage,inventory,sla,anomaly,alerting');
    expect(JSON.stringify(spans)).not.toContain('sk_live');

    // The traced instance stored the service's span, and none of its own (read through the sink's
    // connection: both databases live in this process's engine, and the traced one is stopped).
    const own = { ...sink.clickhouse!, database: traced.clickhouse!.database };
    expect(await readStoredSpans(own, "ServiceName = 'traced-service'")).toHaveLength(1);
    expect(await readStoredSpans(own, where)).toEqual([]);
  });

  it('is off by default, and refuses its own receiver as the endpoint', () => {
    expect(parseConfig({}, 'c.yaml').self_tracing).toEqual({ enabled: false, service_name: 'chainwatch', sample_ratio: 1 });
    expect(() => parseConfig({ self_tracing: { enabled: true } }, 'c.yaml')).toThrow('self_tracing.endpoint: required when self_tracing.enabled is true');
    expect(() => parseConfig({ self_tracing: { enabled: true, endpoint: 'http://127.0.0.1:4318' } }, 'c.yaml')).toThrow(
      "self_tracing.endpoint: http://127.0.0.1:4318 is this collector's own receiver: its spans would be ingested by itself; send them to another collector",
    );
    expect(parseConfig({ self_tracing: { enabled: true, endpoint: 'http://otel-collector:4318' } }, 'c.yaml').self_tracing.endpoint).toBe('http://otel-collector:4318');
  });
});
