/**
 * The admin port of a running chainwatch (embedded): /healthz, /readyz and Prometheus /metrics,
 * read as Kubernetes and Prometheus read them, after real traffic over OTLP/HTTP and gRPC with
 * accepted, partly refused and refused requests and a secret to redact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { scrapeMetrics } from '../harness/metrics.js';
import { emitAndExport, expectExported, otlpEndpoint } from '../harness/otel-sdk.js';
import { emitScenario, SCENARIO_RESOURCE } from '../harness/span-scenario.js';

describe('admin port', () => {
  let app: Chainwatch;
  const get = (path: string): Promise<Response> => fetch(`${app.adminUrl}${path}`);
  const metrics = (): Promise<Map<string, number>> => scrapeMetrics(app.adminUrl!);

  beforeAll(async () => {
    app = await startTestChainwatch(testConfig());
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('answers liveness and readiness as JSON, naming each dependency it checked', async () => {
    const live = await get('/healthz');
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'alive' });
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { bus: 'ok', clickhouse: 'ok' } });
    const unknown = await get('/status');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'unknown path "/status": use /healthz, /readyz or /metrics' });
    expect((await fetch(`${app.adminUrl}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('counts requests by transport and status, records accepted and refused by reason, inserts, redactions and stage batches', async () => {
    const before = await metrics();
    const span = (spanId: string, name: string, attributes: { key: string; value: string }[] = []) =>
      createSpan({ traceId: '5b8efff798038103d269b633813fc60c', spanId, name, kind: 3, startTimeUnixNano: 1_767_225_600_000_000_000n, endTimeUnixNano: 1_767_225_600_100_000_000n, attributes });
    const body = encodeExportTraceServiceRequest(
      createTracesData('metrics-test', [span('eee19b7ec3c1b174', 'POST /charge', [{ key: 'http.request.header.authorization', value: `Bearer sk_live_${'4eC39HqLyjWDarjtT1zdp7dc'}` }]), span('0000000000000000', 'zero span id')], { name: 's' }),
    );
    const post = (b: Uint8Array | string, type: string): Promise<Response> => fetch(`${app.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': type }, body: b });
    expect((await post(body, 'application/x-protobuf')).status).toBe(200);
    expect((await post('{not json', 'application/json')).status).toBe(400);
    expectExported(await emitAndExport({ baseUrl: otlpEndpoint(app, 'grpc'), protocol: 'grpc', resourceAttributes: { ...SCENARIO_RESOURCE, 'service.name': 'metrics-grpc' }, emit: emitScenario }));

    const after = await metrics();
    const grew = (name: string): number => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(grew('chainwatch_ingest_requests_total{transport="http",signal="traces",status="200"}')).toBe(1);
    expect(grew('chainwatch_ingest_requests_total{transport="http",signal="traces",status="400"}')).toBe(1);
    expect(grew('chainwatch_ingest_requests_total{transport="grpc",signal="traces",status="OK"}')).toBe(1);
    expect(grew('chainwatch_records_received_total{signal="traces"}')).toBe(2 + 6);
    expect(grew('chainwatch_records_accepted_total{signal="traces"}')).toBe(1 + 6);
    expect(grew('chainwatch_records_rejected_total{signal="traces",reason="an all-zero span id"}')).toBe(1);
    expect(grew('chainwatch_redaction_matches_total{family="payments"}')).toBeGreaterThanOrEqual(1);
    expect(grew('chainwatch_insert_batch_rows_count{table="' + app.clickhouse!.database + '.otel_traces"}')).toBeGreaterThanOrEqual(1);
    expect(grew('chainwatch_insert_batch_rows_sum{table="' + app.clickhouse!.database + '.otel_traces"}')).toBe(7);
    expect(grew('chainwatch_insert_duration_seconds_count{table="' + app.clickhouse!.database + '.otel_traces",outcome="ok"}')).toBeGreaterThanOrEqual(1);
    expect(grew('chainwatch_stage_batches_total{stage="storage"}')).toBeGreaterThanOrEqual(1);
    expect(after.get('chainwatch_stage_retries_total{stage="storage"}')).toBe(0);
    expect(after.get('chainwatch_bus_queue_depth')).toBe(0);
    // One lag per consumer group of this process (the in-process bus has one partition); all caught up.
    const lags = [...after].filter(([name]) => name.startsWith('chainwatch_consumer_lag{'));
    expect(lags.map(([name]) => name.replace(/topic="[^"]*",/, '')).sort()).toEqual([
      'chainwatch_consumer_lag{partition="0",group="chainwatch-alerting"}',
      'chainwatch_consumer_lag{partition="0",group="chainwatch-anomaly"}',
      'chainwatch_consumer_lag{partition="0",group="chainwatch-findings-storage"}',
      'chainwatch_consumer_lag{partition="0",group="chainwatch-inventory"}',
      'chainwatch_consumer_lag{partition="0",group="chainwatch-inventory-edges"}',
      'chainwatch_consumer_lag{partition="0",group="chainwatch-logs-storage"}',
      'chainwatch_consumer_lag{partition="0",group="chainwatch-sla"}',
      'chainwatch_consumer_lag{partition="0",group="chainwatch-storage"}',
    ]);
    expect(lags.every(([, lag]) => lag === 0)).toBe(true);
    expect(after.has('chainwatch_process_resident_memory_bytes')).toBe(true);
  });

  it('never puts a secret or a record value in the metrics', async () => {
    const text = await (await get('/metrics')).text();
    expect(text).not.toContain('4eC39HqLyjWDarjtT1zdp7dc');
    expect(text).not.toContain('POST /charge');
  });
});
