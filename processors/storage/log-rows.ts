/**
 * Turns OTLP log records into `otel_logs` rows in ClickHouse's TabSeparated format, with the
 * values the OpenTelemetry Collector ClickHouse exporter writes, so its readers (Grafana's
 * ClickHouse data source in OTel mode) see the same data: Timestamp is the record's time, or its
 * observed time when the record has none; TraceFlags the low 8 bits of the flags; Body and
 * attribute values as pcommon's AsString (a structured body as JSON with sorted keys); ServiceName
 * from the resource's `service.name`. Escaping, maps and times come from `span-rows.ts`, shared.
 *
 * A SeverityNumber outside UInt8 (only a broken client sends one) is stored as 0, unspecified,
 * instead of making ClickHouse refuse the whole batch.
 */
import type { LogRecord, LogsData } from '../../schemas/otlp-logs.js';
import { anyValueToString, dateTime64, findServiceName, mapLiteral, tsvEscape, type EncodedRows } from './span-rows.js';

/** Column order of every row this module writes. */
export const LOG_COLUMNS = [
  'Timestamp',
  'TraceId',
  'SpanId',
  'TraceFlags',
  'SeverityText',
  'SeverityNumber',
  'ServiceName',
  'Body',
  'ResourceSchemaUrl',
  'ResourceAttributes',
  'ScopeSchemaUrl',
  'ScopeName',
  'ScopeVersion',
  'ScopeAttributes',
  'LogAttributes',
  'EventName',
] as const;

/** Encodes every log record of every request into one TSV body. */
export function encodeLogRows(requests: readonly LogsData[]): EncodedRows {
  const lines: string[] = [];
  for (const request of requests) {
    for (const rl of request.resourceLogs) {
      const serviceName = tsvEscape(findServiceName(rl.resource.attributes));
      const resourceColumns = `${tsvEscape(rl.schemaUrl)}\t${mapLiteral(rl.resource.attributes)}`;
      for (const sl of rl.scopeLogs) {
        // ResourceSchemaUrl … ScopeAttributes: the same for every record of the scope.
        const resourceAndScope = `${resourceColumns}\t${tsvEscape(sl.schemaUrl)}\t${tsvEscape(sl.scope.name)}\t${tsvEscape(sl.scope.version)}\t${mapLiteral(sl.scope.attributes)}`;
        for (const record of sl.logRecords) lines.push(logLine(record, serviceName, resourceAndScope));
      }
    }
  }
  return { text: lines.length > 0 ? `${lines.join('\n')}\n` : '', rows: lines.length };
}

/** `serviceName` and `resourceAndScope` (ResourceSchemaUrl … ScopeAttributes) are already encoded. */
function logLine(record: LogRecord, serviceName: string, resourceAndScope: string): string {
  const severity = record.severityNumber >= 0 && record.severityNumber <= 255 ? record.severityNumber : 0;
  return (
    `${dateTime64(record.timeUnixNano !== 0n ? record.timeUnixNano : record.observedTimeUnixNano)}\t` +
    `${record.traceId}\t${record.spanId}\t${record.flags & 0xff}\t` +
    `${tsvEscape(record.severityText)}\t${severity}\t` +
    `${serviceName}\t${tsvEscape(anyValueToString(record.body))}\t` +
    `${resourceAndScope}\t${mapLiteral(record.attributes)}\t${tsvEscape(record.eventName)}`
  );
}
