/**
 * A small, deliberately awkward set of log records for codec and end-to-end tests: every severity
 * band, plain, structured (nested kvlist), array and bytes bodies and none, attributes of every
 * SDK type including maps, an event name, records inside a sampled and an unsampled trace and
 * outside any, two loggers (one with scope attributes and a schema URL), and strings that need
 * escaping on their way into ClickHouse.
 */
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { LoggerProvider, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { emitAndExportLogs, expectExported, recordLogs, type OtlpProtocol } from './otel-sdk.js';

export const LOG_SCENARIO_RESOURCE = {
  'service.name': 'checkout',
  'service.version': '2.4.1',
  'host.cores': 8,
  'feature.flags': ['a', 'b'],
};

export const LOG_SCENARIO_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
export const LOG_SCENARIO_SPAN_ID = 'b7ad6b7169203331';
export const LOG_SCENARIO_UNSAMPLED_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

/** The first record's time: 2026-01-01T00:00:00.123456789Z. */
export const LOG_SCENARIO_START: [number, number] = [1_767_225_600, 123_456_789];

/** Emits 6 records on two loggers of `provider`; attribute limits of the provider apply. */
export function emitLogScenario(provider: LoggerProvider): void {
  const [seconds, nanos] = LOG_SCENARIO_START;
  const app = provider.getLogger('checkout.app', '2.4.1', { schemaUrl: 'https://opentelemetry.io/schemas/1.29.0', attributes: { 'logger.kind': 'app' } });
  const audit = provider.getLogger('audit');
  const sampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: LOG_SCENARIO_TRACE_ID, spanId: LOG_SCENARIO_SPAN_ID, traceFlags: TraceFlags.SAMPLED });
  const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: LOG_SCENARIO_UNSAMPLED_TRACE_ID, spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.NONE });

  app.emit({
    timestamp: [seconds, nanos],
    observedTimestamp: [seconds + 1, 5],
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    eventName: 'payment.declined',
    body: "card declined\n\tquote ' backslash \\ grüße — 日本 🚀",
    attributes: { 'order.id': 1234, amount: 12.5, retry: false, tags: ['x', 'y\tz'], ctx: { region: 'eu', tries: 2 } },
    context: sampled,
  });
  app.emit({
    timestamp: [seconds + 2, 0],
    severityNumber: SeverityNumber.INFO2,
    severityText: 'info',
    body: { event: 'login', user: { id: 7, roles: ['admin', 'ops'] }, ok: true, ratio: 0.5 },
    context: unsampled,
  });
  app.emit({ timestamp: [seconds + 3, 1], severityNumber: SeverityNumber.DEBUG, body: ['one', 2, 3.5] });
  audit.emit({ timestamp: [seconds + 4, 2], severityNumber: SeverityNumber.WARN, body: new Uint8Array([0xde, 0xad]) });
  audit.emit({ timestamp: [seconds + 5, 3], severityNumber: SeverityNumber.FATAL4, attributes: { 'only.attributes': 'yes' } });
  audit.emit({ timestamp: [seconds + 6, 4], severityNumber: SeverityNumber.TRACE, body: 'inside the trace', context: sampled });
}

/**
 * The scenario's records as the SDK hands them to an exporter, for codec tests: with schema URLs
 * on resource and scope, and an attribute limit that drops one attribute of the first record.
 */
export function recordLogScenario(): ReadableLogRecord[] {
  const resource = resourceFromAttributes(LOG_SCENARIO_RESOURCE, { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' });
  return recordLogs(resource, emitLogScenario, { attributeCountLimit: 4 });
}

/**
 * Exports the scenario in one request to `${baseUrl}/v1/logs` over `protocol`, its resource
 * tagged `test.protocol`, expects success and returns the records as the SDK produced them.
 */
export async function exportLogScenario(baseUrl: string, protocol: OtlpProtocol): Promise<ReadableLogRecord[]> {
  const result = await emitAndExportLogs({ baseUrl, protocol, resourceAttributes: { ...LOG_SCENARIO_RESOURCE, 'test.protocol': protocol }, emit: emitLogScenario });
  expectExported(result);
  return result.records;
}
