/**
 * The in-memory shape of OTLP log data (opentelemetry-proto `logs/v1/logs.proto`), shared by the
 * protobuf and JSON codecs, the encoder that writes bus messages, and every stage. Values,
 * attributes, resource and scope are the ones traces use (`otlp-common.ts`), with the same
 * conventions: hex ids ('' when absent), bigint nanosecond timestamps, proto3 defaults for
 * everything not sent.
 */

import {
  countRecords,
  singleResourceRequest,
  type AnyValue,
  type InstrumentationScope,
  type KeyValue,
  type Resource,
  type SignalLayout,
} from './otlp-common.js';

/** `SeverityNumber` enum: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL. */
export const SEVERITY_NUMBER_NAMES = [
  'SEVERITY_NUMBER_UNSPECIFIED',
  ...['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].flatMap((level) =>
    ['', '2', '3', '4'].map((n) => `SEVERITY_NUMBER_${level}${n}`),
  ),
] as const;

export interface LogRecord {
  /** When the event happened; 0 when unknown. */
  timeUnixNano: bigint;
  /** When the collection system saw it. */
  observedTimeUnixNano: bigint;
  /** A `SeverityNumber` value; 0 when unspecified. */
  severityNumber: number;
  severityText: string;
  /** The message: a string, or structured (kvlist, array); null when not sent. */
  body: AnyValue;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  /** W3C trace flags in the low 8 bits. */
  flags: number;
  traceId: string;
  spanId: string;
  eventName: string;
}

export interface ScopeLogs {
  scope: InstrumentationScope;
  logRecords: LogRecord[];
  schemaUrl: string;
}

export interface ResourceLogs {
  resource: Resource;
  scopeLogs: ScopeLogs[];
  schemaUrl: string;
}

/** `ExportLogsServiceRequest` / `LogsData`: the unit the collector receives and the bus carries. */
export interface LogsData {
  resourceLogs: ResourceLogs[];
}

/** How a logs request nests, for code written once for every signal. */
export const LOGS_LAYOUT: SignalLayout<LogsData, ResourceLogs, ScopeLogs, LogRecord> = {
  resourceGroups: (data) => data.resourceLogs,
  scopeGroups: (resource) => resource.scopeLogs,
  records: (scope) => scope.logRecords,
  request: (resourceLogs) => ({ resourceLogs }),
  resourceGroup: (resource, schemaUrl) => ({ resource, scopeLogs: [], schemaUrl }),
  scopeGroup: (scope, schemaUrl) => ({ scope, logRecords: [], schemaUrl }),
};

/** Tells a logs request from a trace request, for code that takes either. */
export function isLogsData(data: object): data is LogsData {
  return Array.isArray((data as Partial<LogsData>).resourceLogs);
}

/** Counts the log records in a request without allocating. */
export function countLogRecords(data: LogsData): number {
  return countRecords(LOGS_LAYOUT, data);
}

/** A log record with every field at its proto3 default, then `fields` on top. */
export function createLogRecord(fields: Partial<LogRecord> = {}): LogRecord {
  return {
    timeUnixNano: 0n,
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: '',
    body: null,
    attributes: [],
    droppedAttributesCount: 0,
    flags: 0,
    traceId: '',
    spanId: '',
    eventName: '',
    ...fields,
  };
}

/** A request of one resource (`service.name` = `serviceName`) and one scope holding `records`. */
export function createLogsData(serviceName: string, records: LogRecord[], scope: Partial<InstrumentationScope> = {}): LogsData {
  return singleResourceRequest(LOGS_LAYOUT, serviceName, records, scope);
}
