/**
 * What `otel_logs` must hold for log records the SDK produced, computed independently of the code
 * under test from the SDK's own ReadableLogRecords, and the query that reads the stored rows back
 * in the same shape (ids, nanosecond timestamps, maps).
 */
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ClickHouse } from '../../processors/storage/clickhouse.js';
import { hrTimeToNs } from './otel-sdk.js';
import { storedAttributes, storedValue } from './sdk-values.js';
import { countStoredRows } from './span-expectations.js';

export interface StoredLog {
  TimestampNs: string;
  TraceId: string;
  SpanId: string;
  TraceFlags: number;
  SeverityText: string;
  SeverityNumber: number;
  ServiceName: string;
  Body: string;
  ResourceSchemaUrl: string;
  ResourceAttributes: Record<string, string>;
  ScopeSchemaUrl: string;
  ScopeName: string;
  ScopeVersion: string;
  ScopeAttributes: Record<string, string>;
  LogAttributes: Record<string, string>;
  EventName: string;
}

export function expectedLogRow(record: ReadableLogRecord): StoredLog {
  const time = hrTimeToNs(record.hrTime);
  return {
    TimestampNs: (time !== 0n ? time : hrTimeToNs(record.hrTimeObserved)).toString(),
    TraceId: record.spanContext?.traceId ?? '',
    SpanId: record.spanContext?.spanId ?? '',
    TraceFlags: (record.spanContext?.traceFlags ?? 0) & 0xff,
    SeverityText: record.severityText ?? '',
    SeverityNumber: record.severityNumber ?? 0,
    ServiceName: String(record.resource.attributes['service.name'] ?? ''),
    Body: storedValue(record.body),
    ResourceSchemaUrl: record.resource.schemaUrl ?? '',
    ResourceAttributes: storedAttributes(record.resource.attributes),
    ScopeSchemaUrl: record.instrumentationScope.schemaUrl ?? '',
    ScopeName: record.instrumentationScope.name,
    ScopeVersion: record.instrumentationScope.version ?? '',
    ScopeAttributes: storedAttributes(record.instrumentationScope.attributes ?? {}),
    LogAttributes: storedAttributes(record.attributes),
    EventName: record.eventName ?? '',
  };
}

/** The expected rows of `records`, in the order {@link readStoredLogs} returns them. */
export function expectedLogRows(records: readonly ReadableLogRecord[]): StoredLog[] {
  return records.map(expectedLogRow).sort((a, b) => (BigInt(a.TimestampNs) < BigInt(b.TimestampNs) ? -1 : 1));
}

/** Reads stored log records back, ordered by time, with 64-bit values as exact decimal strings. */
export async function readStoredLogs(ch: ClickHouse, where = '1'): Promise<StoredLog[]> {
  const rs = await ch.client.query({
    query: `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS TimestampNs, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber,
        ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes,
        LogAttributes, EventName
      FROM ${ch.database}.otel_logs WHERE ${where} ORDER BY Timestamp`,
    format: 'JSONEachRow',
  });
  return rs.json<StoredLog>();
}

export async function countStoredLogs(ch: ClickHouse, where = '1'): Promise<number> {
  return countStoredRows(ch, 'otel_logs', where);
}
