/**
 * End to end, embedded mode: the real OpenTelemetry JS SDK exports traces and logs over OTLP/HTTP
 * (protobuf and JSON) and OTLP/gRPC (plain and gzip) to chainwatch running with the in-process bus and the embedded ClickHouse
 * engine; the rows in otel_traces and otel_logs must hold exactly what the SDK produced, with
 * secrets in log records masked and reported as findings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { expectedLogRows, readStoredLogs } from '../harness/log-expectations.js';
import { exportLogScenario, LOG_SCENARIO_SPAN_ID, LOG_SCENARIO_TRACE_ID } from '../harness/log-scenario.js';
import { emitLogSecrets, expectLogSecretsMasked } from '../harness/log-secrets.js';
import { emitAndExport, emitAndExportLogs, expectExported, ExportResultCode, otlpEndpoint, type OtlpProtocol } from '../harness/otel-sdk.js';
import { SCENARIO_RESOURCE, emitScenario } from '../harness/span-scenario.js';
import { countStoredSpans, expectedRow, readStoredSpans } from '../harness/span-expectations.js';

describe('embedded end to end', () => {
  let app: Chainwatch;

  beforeAll(async () => {
    app = await startTestChainwatch(testConfig());
  });
  afterAll(async () => {
    await app?.stop();
  });

  it.each<OtlpProtocol>(['http/protobuf', 'http/json', 'grpc', 'grpc+gzip'])('stores exactly what the SDK exported over %s', async (protocol) => {
    const result = await emitAndExport({
      baseUrl: otlpEndpoint(app, protocol),
      protocol,
      resourceAttributes: { ...SCENARIO_RESOURCE, 'test.protocol': protocol },
      emit: emitScenario,
    });
    expect(result.error?.message).toBeUndefined();
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    expect(result.spans).toHaveLength(6);

    // Acknowledged means stored: no waiting, the rows are there when the export returns.
    const traceIds = [...new Set(result.spans.map((s) => s.spanContext().traceId))];
    const where = `TraceId IN (${traceIds.map((t) => `'${t}'`).join(',')})`;
    const stored = await readStoredSpans(app.clickhouse!, where);
    const expected = result.spans.map(expectedRow).sort((a, b) => (a.SpanId < b.SpanId ? -1 : 1));
    expect(stored).toEqual(expected);

    // The spot checks a reader would make, stated plainly.
    const pay = stored.find((s) => s.SpanName === 'POST api.stripe.com/v1/charges')!;
    expect(pay.SpanKind).toBe('SPAN_KIND_CLIENT');
    expect(pay.StatusCode).toBe('STATUS_CODE_ERROR');
    expect(pay.StatusMessage).toBe('payment failed\nsee logs');
    expect(pay.EventNames).toEqual(['retry', 'exception']);
    expect(pay.EventAttributes[0]).toEqual({ attempt: '1', 'backoff.ms': '12.5' });
    expect(pay.EventAttributes[1]!['exception.message']).toBe('card_declined: insufficient funds');
    const root = stored.find((s) => s.SpanName === 'POST /checkout')!;
    expect(root.SpanAttributes['weird']).toBe("quote ' backslash \\ tab \t newline \n end");
    expect(root.SpanAttributes['tags']).toBe('["x","y\\tz"]');
    expect(root.ResourceAttributes['host.cores']).toBe('8');
    expect(root.ResourceAttributes['feature.flags']).toBe('["a","b"]');
    expect(root.LinkAttributes).toEqual([{ 'link.reason': 'follows', 'link.n': '2' }]);
    expect(BigInt(pay.Duration)).toBe(28_000_000n);
    expect(root.ServiceName).toBe('checkout');
  });

  it('fills the trace-id lookup table through its materialized view', async () => {
    const result = await emitAndExport({ baseUrl: app.otlpHttpUrl!, protocol: 'http/protobuf', resourceAttributes: SCENARIO_RESOURCE, emit: emitScenario });
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    const root = result.spans.find((s) => s.name === 'POST /checkout')!;
    const traceId = root.spanContext().traceId;
    const rs = await app.clickhouse!.client.query({
      query: `SELECT count() AS n, toUnixTimestamp(min(Start)) AS start FROM ${app.clickhouse!.database}.otel_traces_trace_id_ts WHERE TraceId = {t:String}`,
      query_params: { t: traceId },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ n: string; start: string }>();
    expect(Number(row!.n)).toBe(1);
    expect(Number(row!.start)).toBe(root.startTime[0]);
    expect(await countStoredSpans(app.clickhouse!, `TraceId = '${traceId}'`)).toBe(5);
  });

  it.each<OtlpProtocol>(['http/protobuf', 'http/json', 'grpc', 'grpc+gzip'])('stores exactly the log records the SDK exported over %s', async (protocol) => {
    const records = await exportLogScenario(otlpEndpoint(app, protocol), protocol);
    expect(records).toHaveLength(6);

    // Acknowledged means stored.
    const stored = await readStoredLogs(app.clickhouse!, `ResourceAttributes['test.protocol'] = '${protocol}'`);
    expect(stored).toEqual(expectedLogRows(records));

    // The spot checks a reader would make, stated plainly.
    const declined = stored.find((row) => row.EventName === 'payment.declined')!;
    expect(declined).toMatchObject({
      TimestampNs: '1767225600123456789',
      TraceId: LOG_SCENARIO_TRACE_ID,
      SpanId: LOG_SCENARIO_SPAN_ID,
      TraceFlags: 1,
      SeverityText: 'ERROR',
      SeverityNumber: 17,
      ServiceName: 'checkout',
      Body: "card declined\n\tquote ' backslash \\ grüße — 日本 🚀",
      ScopeName: 'checkout.app',
      ScopeVersion: '2.4.1',
      ScopeSchemaUrl: 'https://opentelemetry.io/schemas/1.29.0',
      ScopeAttributes: { 'logger.kind': 'app' },
    });
    expect(declined.LogAttributes).toEqual({ 'order.id': '1234', amount: '12.5', retry: 'false', tags: '["x","y\\tz"]', ctx: '{"region":"eu","tries":2}' });
    expect(declined.ResourceAttributes['feature.flags']).toBe('["a","b"]');
    const login = stored.find((row) => row.SeverityText === 'info')!;
    expect(login.Body).toBe('{"event":"login","ok":true,"ratio":0.5,"user":{"id":7,"roles":["admin","ops"]}}');
    expect(login.TraceFlags).toBe(0);
    expect(stored.find((row) => row.SeverityNumber === 24)).toMatchObject({ Body: '', TraceId: '', SpanId: '', ScopeName: 'audit' });
    expect(stored.find((row) => row.SeverityNumber === 13)!.Body).toBe('3q0=');
  });

  it('masks a JWT and an API key in log bodies and attributes before they are stored, and stores their findings', async () => {
    const service = 'secret-logs-embedded';
    expectExported(await emitAndExportLogs({ baseUrl: app.otlpHttpUrl!, protocol: 'http/protobuf', resourceAttributes: { 'service.name': service }, emit: emitLogSecrets }));
    await expectLogSecretsMasked(app.clickhouse!, service);
  });
});
