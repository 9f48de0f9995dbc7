/**
 * Turns OTLP spans into `otel_traces` rows in ClickHouse's TabSeparated format.
 *
 * Why TSV: `@clickhouse/client` inserts text formats only, and on the embedded engine TSV parses
 * about 4× faster than JSONEachRow (shared/notes/otlp-kafka-clickhouse.md). Values follow the
 * OpenTelemetry Collector ClickHouse exporter exactly (attribute values as pcommon's AsString,
 * `SPAN_KIND_*` and `STATUS_CODE_*` names, duration in ns), so its readers — Grafana's ClickHouse
 * data source in OTel mode above all — see the same data.
 *
 * Escaping: a plain String field is TSV-escaped; strings inside Map and Array values use the
 * quoted form ('…' with backslash escapes), which ClickHouse reads directly from the TSV stream.
 * Those encoders (escaping, maps, DateTime64, attribute values) are exported for the other row
 * encoders (`log-rows.ts`), so every table is written the same way.
 */
import type { AnyValue, KeyValue, Span, TracesData } from '../../schemas/otlp-traces.js';

/** Column order of every row this module writes. */
export const SPAN_COLUMNS = [
  'Timestamp',
  'TraceId',
  'SpanId',
  'ParentSpanId',
  'TraceState',
  'SpanName',
  'SpanKind',
  'ServiceName',
  'ResourceAttributes',
  'ScopeName',
  'ScopeVersion',
  'SpanAttributes',
  'Duration',
  'StatusCode',
  'StatusMessage',
  'Events.Timestamp',
  'Events.Name',
  'Events.Attributes',
  'Links.TraceId',
  'Links.SpanId',
  'Links.TraceState',
  'Links.Attributes',
] as const;

/** `SpanKind` and `StatusCode` names by enum value; other values are written as the first. */
export const SPAN_KIND_NAMES = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
export const STATUS_CODE_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

/** DateTime64(9) holds 1900-01-01 … 2262-04-11; OTLP times are unsigned, so only the top needs a clamp. */
export const MAX_DATETIME64_NS = 9_223_372_036_854_775_807n;
const NS_PER_SECOND = 1_000_000_000n;

export interface EncodedRows {
  /** The TSV body, one line per span. */
  text: string;
  rows: number;
}

/** Encodes every span of every request into one TSV body. */
export function encodeSpanRows(requests: readonly TracesData[]): EncodedRows {
  const lines: string[] = [];
  for (const request of requests) {
    for (const rs of request.resourceSpans) {
      const resourceAttrs = rs.resource.attributes;
      const serviceName = tsvEscape(findServiceName(resourceAttrs));
      const resourceMap = mapLiteral(resourceAttrs);
      for (const ss of rs.scopeSpans) {
        const scopeName = tsvEscape(ss.scope.name);
        const scopeVersion = tsvEscape(ss.scope.version);
        for (const span of ss.spans) {
          lines.push(spanLine(span, serviceName, resourceMap, scopeName, scopeVersion));
        }
      }
    }
  }
  return { text: lines.length > 0 ? `${lines.join('\n')}\n` : '', rows: lines.length };
}

function spanLine(span: Span, serviceName: string, resourceMap: string, scopeName: string, scopeVersion: string): string {
  const duration = span.endTimeUnixNano > span.startTimeUnixNano ? span.endTimeUnixNano - span.startTimeUnixNano : 0n;
  let eventTimes = '[';
  let eventNames = '[';
  let eventAttrs = '[';
  for (let i = 0; i < span.events.length; i++) {
    const e = span.events[i]!;
    const sep = i === 0 ? '' : ',';
    eventTimes += `${sep}'${dateTime64(e.timeUnixNano)}'`;
    eventNames += sep + quoted(e.name);
    eventAttrs += sep + mapLiteral(e.attributes);
  }
  let linkTraceIds = '[';
  let linkSpanIds = '[';
  let linkStates = '[';
  let linkAttrs = '[';
  for (let i = 0; i < span.links.length; i++) {
    const l = span.links[i]!;
    const sep = i === 0 ? '' : ',';
    linkTraceIds += `${sep}'${l.traceId}'`;
    linkSpanIds += `${sep}'${l.spanId}'`;
    linkStates += sep + quoted(l.traceState);
    linkAttrs += sep + mapLiteral(l.attributes);
  }
  return [
    dateTime64(span.startTimeUnixNano),
    span.traceId,
    span.spanId,
    span.parentSpanId,
    tsvEscape(span.traceState),
    tsvEscape(span.name),
    SPAN_KIND_NAMES[span.kind] ?? SPAN_KIND_NAMES[0],
    serviceName,
    resourceMap,
    scopeName,
    scopeVersion,
    mapLiteral(span.attributes),
    duration.toString(),
    STATUS_CODE_NAMES[span.status.code] ?? STATUS_CODE_NAMES[0],
    tsvEscape(span.status.message),
    `${eventTimes}]`,
    `${eventNames}]`,
    `${eventAttrs}]`,
    `${linkTraceIds}]`,
    `${linkSpanIds}]`,
    `${linkStates}]`,
    `${linkAttrs}]`,
  ].join('\t');
}

/** The `service.name` resource attribute as the exporter's ServiceName column holds it. */
export function findServiceName(attrs: readonly KeyValue[]): string {
  for (const kv of attrs) if (kv.key === 'service.name') return anyValueToString(kv.value);
  return '';
}

/**
 * `seconds.nanoseconds`, which DateTime64(9) parses exactly as a Unix time. The seconds are padded
 * to ten digits: with fewer than nine, ClickHouse reads the number as a date (`10.5` → day 10)
 * and refuses it, which would fail a whole batch over one span with a zero or tiny timestamp.
 */
export function dateTime64(ns: bigint): string {
  const v = ns > MAX_DATETIME64_NS ? MAX_DATETIME64_NS : ns;
  const frac = (v % NS_PER_SECOND).toString();
  return `${(v / NS_PER_SECOND).toString().padStart(10, '0')}.${'000000000'.slice(frac.length)}${frac}`;
}

/** Attributes as a `Map(LowCardinality(String), String)` value inside a TSV row: `{'k':'v',…}`. */
export function mapLiteral(attrs: readonly KeyValue[]): string {
  if (attrs.length === 0) return '{}';
  let out = '{';
  for (let i = 0; i < attrs.length; i++) {
    const kv = attrs[i]!;
    if (i > 0) out += ',';
    out += `${quoted(kv.key)}:${quoted(anyValueToString(kv.value))}`;
  }
  return `${out}}`;
}

const NEEDS_TSV_ESCAPE = /[\\\t\n\r\0]/;
/** Each character a plain String field escapes, and its escape. */
export const TSV_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };

/** A String field of a TSV row. */
export function tsvEscape(s: string): string {
  return NEEDS_TSV_ESCAPE.test(s) ? s.replace(/[\\\t\n\r\0]/g, (c) => TSV_ESCAPES[c]!) : s;
}

const NEEDS_QUOTE_ESCAPE = /[\\'\t\n\r\0]/;
/** The same inside a quoted string (Map and Array values), plus the quote. */
export const QUOTE_ESCAPES: Readonly<Record<string, string>> = { ...TSV_ESCAPES, "'": "\\'" };

export function quoted(s: string): string {
  return NEEDS_QUOTE_ESCAPE.test(s) ? `'${s.replace(/[\\'\t\n\r\0]/g, (c) => QUOTE_ESCAPES[c]!)}'` : `'${s}'`;
}

/**
 * An attribute value as the OpenTelemetry Collector's `pcommon.Value.AsString` renders it:
 * strings as they are, ints in decimal, doubles like ES6 number-to-string, bytes as base64,
 * arrays and maps as JSON (map keys sorted), an empty value as ''.
 */
export function anyValueToString(v: AnyValue): string {
  if (typeof v === 'string') return v;
  if (v === null) return '';
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'number') return doubleToString(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  return anyValueToJson(v);
}

function doubleToString(d: number): string {
  if (Number.isNaN(d)) return 'NaN';
  if (!Number.isFinite(d)) return d > 0 ? '+Inf' : '-Inf';
  return String(d);
}

function anyValueToJson(v: AnyValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : JSON.stringify(doubleToString(v));
  if (v instanceof Uint8Array) return JSON.stringify(anyValueToString(v));
  if (Array.isArray(v)) return `[${v.map(anyValueToJson).join(',')}]`;
  const entries = [...v.kvlist].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return `{${entries.map((kv) => `${JSON.stringify(kv.key)}:${anyValueToJson(kv.value)}`).join(',')}}`;
}
