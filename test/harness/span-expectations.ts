/**
 * What `otel_traces` must hold for spans the SDK produced, computed independently of the code
 * under test from the SDK's own ReadableSpans, and the query that reads the stored rows back in
 * the same shape (ids, nanosecond timestamps, maps, nested events and links).
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ClickHouse } from '../../processors/storage/clickhouse.js';
import { hrTimeToNs } from './otel-sdk.js';
import { storedAttributes as attrMap } from './sdk-values.js';

export interface StoredSpan {
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  TraceState: string;
  SpanName: string;
  SpanKind: string;
  ServiceName: string;
  ResourceAttributes: Record<string, string>;
  ScopeName: string;
  ScopeVersion: string;
  SpanAttributes: Record<string, string>;
  TimestampNs: string;
  Duration: string;
  StatusCode: string;
  StatusMessage: string;
  EventTimestampsNs: string[];
  EventNames: string[];
  EventAttributes: Record<string, string>[];
  LinkTraceIds: string[];
  LinkSpanIds: string[];
  LinkTraceStates: string[];
  LinkAttributes: Record<string, string>[];
}

export function expectedRow(span: ReadableSpan): StoredSpan {
  const start = hrTimeToNs(span.startTime);
  return {
    TraceId: span.spanContext().traceId,
    SpanId: span.spanContext().spanId,
    ParentSpanId: span.parentSpanContext?.spanId ?? '',
    TraceState: span.spanContext().traceState?.serialize() ?? '',
    SpanName: span.name,
    SpanKind: `SPAN_KIND_${SpanKind[span.kind]}`,
    ServiceName: String(span.resource.attributes['service.name'] ?? ''),
    ResourceAttributes: attrMap(span.resource.attributes),
    ScopeName: span.instrumentationScope.name,
    ScopeVersion: span.instrumentationScope.version ?? '',
    SpanAttributes: attrMap(span.attributes),
    TimestampNs: start.toString(),
    Duration: (hrTimeToNs(span.endTime) - start).toString(),
    StatusCode: `STATUS_CODE_${SpanStatusCode[span.status.code]}`,
    StatusMessage: span.status.message ?? '',
    EventTimestampsNs: span.events.map((e) => hrTimeToNs(e.time).toString()),
    EventNames: span.events.map((e) => e.name),
    EventAttributes: span.events.map((e) => attrMap(e.attributes ?? {})),
    LinkTraceIds: span.links.map((l) => l.context.traceId),
    LinkSpanIds: span.links.map((l) => l.context.spanId),
    LinkTraceStates: span.links.map((l) => l.context.traceState?.serialize() ?? ''),
    LinkAttributes: span.links.map((l) => attrMap(l.attributes ?? {})),
  };
}

/** Reads stored spans back, ordered by SpanId, with 64-bit values as exact decimal strings. */
export async function readStoredSpans(ch: ClickHouse, where = '1'): Promise<StoredSpan[]> {
  const rs = await ch.client.query({
    query: `SELECT TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
        ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes,
        toString(toUnixTimestamp64Nano(Timestamp)) AS TimestampNs, toString(Duration) AS Duration,
        StatusCode, StatusMessage,
        arrayMap(t -> toString(toUnixTimestamp64Nano(t)), Events.Timestamp) AS EventTimestampsNs,
        Events.Name AS EventNames, Events.Attributes AS EventAttributes,
        Links.TraceId AS LinkTraceIds, Links.SpanId AS LinkSpanIds, Links.TraceState AS LinkTraceStates,
        Links.Attributes AS LinkAttributes
      FROM ${ch.database}.otel_traces WHERE ${where} ORDER BY SpanId`,
    format: 'JSONEachRow',
  });
  return rs.json<StoredSpan>();
}

export async function countStoredSpans(ch: ClickHouse, where = '1'): Promise<number> {
  return countStoredRows(ch, 'otel_traces', where);
}

export async function countStoredRows(ch: ClickHouse, table: string, where = '1'): Promise<number> {
  const rs = await ch.client.query({ query: `SELECT count() AS n FROM ${ch.database}.${table} WHERE ${where}`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ n: string | number }>();
  return Number(row?.n ?? 0);
}
