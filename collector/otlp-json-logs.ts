/**
 * OTLP/JSON codec for logs (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * ExportLogsServiceRequest <-> LogsData, and the JSON ExportLogsServiceResponse.
 *
 * Only the LogRecord mapping is written here; everything else — JSON parsing and its error
 * messages, field readers, AnyValue, KeyValue, Resource, InstrumentationScope, the resource/scope
 * grouping — is the trace codec's (`otlp-json.ts`), with the same guarantees: hex ids of either
 * case, integer or named enums (`SEVERITY_NUMBER_INFO`), 64-bit integers as numbers or decimal
 * strings, lowerCamelCase or snake_case keys; any malformed input throws OtlpDecodeError naming
 * the JSON path (e.g. `resourceLogs[0].scopeLogs[0].logRecords[2].body.kvlistValue…`), nothing else.
 */

import { LOGS_LAYOUT, SEVERITY_NUMBER_NAMES, type LogRecord, type LogsData, type ResourceLogs, type ScopeLogs } from '../schemas/otlp-logs.js';
import {
  anyValueToJson,
  decodeExportRequestJson,
  decodeKeyValue,
  encodeExportRequestJson,
  encodeExportResponseJson,
  expectObject,
  keyValueToJson,
  readAnyValue,
  readEnum,
  readFixed64,
  readHexId,
  readList,
  readString,
  readUint32,
  setIf,
  type JsonOut,
  type JsonSignalCodec,
} from './otlp-json.js';

const SEVERITY_NUMBER_BY_NAME: Readonly<Record<string, number>> = Object.fromEntries(SEVERITY_NUMBER_NAMES.map((name, value) => [name, value]));

function decodeLogRecord(json: unknown): LogRecord {
  const object = expectObject(json);
  return {
    timeUnixNano: readFixed64(object, 'timeUnixNano', 'time_unix_nano'),
    observedTimeUnixNano: readFixed64(object, 'observedTimeUnixNano', 'observed_time_unix_nano'),
    severityNumber: readEnum(object, 'severityNumber', 'severity_number', 'SeverityNumber', SEVERITY_NUMBER_BY_NAME),
    severityText: readString(object, 'severityText', 'severity_text'),
    // The body is a value at the level of an attribute's value.
    body: readAnyValue(object, 'body', 'body', 1),
    attributes: readList(object, 'attributes', 'attributes', decodeKeyValue, 1),
    droppedAttributesCount: readUint32(object, 'droppedAttributesCount', 'dropped_attributes_count'),
    flags: readUint32(object, 'flags', 'flags'),
    traceId: readHexId(object, 'traceId', 'trace_id'),
    spanId: readHexId(object, 'spanId', 'span_id'),
    eventName: readString(object, 'eventName', 'event_name'),
  };
}

function logRecordToJson(record: LogRecord): JsonOut {
  const json: JsonOut = {};
  setIf(json, 'timeUnixNano', String(record.timeUnixNano), record.timeUnixNano !== 0n);
  setIf(json, 'observedTimeUnixNano', String(record.observedTimeUnixNano), record.observedTimeUnixNano !== 0n);
  setIf(json, 'severityNumber', record.severityNumber, record.severityNumber !== 0);
  setIf(json, 'severityText', record.severityText, record.severityText !== '');
  setIf(json, 'body', anyValueToJson(record.body), record.body !== null);
  setIf(json, 'attributes', record.attributes.map(keyValueToJson), record.attributes.length > 0);
  setIf(json, 'droppedAttributesCount', record.droppedAttributesCount, record.droppedAttributesCount !== 0);
  setIf(json, 'flags', record.flags, record.flags !== 0);
  setIf(json, 'traceId', record.traceId, record.traceId !== '');
  setIf(json, 'spanId', record.spanId, record.spanId !== '');
  setIf(json, 'eventName', record.eventName, record.eventName !== '');
  return json;
}

const LOGS_JSON_CODEC: JsonSignalCodec<LogsData, ResourceLogs, ScopeLogs, LogRecord> = {
  layout: LOGS_LAYOUT,
  resourceGroups: ['resourceLogs', 'resource_logs'],
  scopeGroups: ['scopeLogs', 'scope_logs'],
  records: ['logRecords', 'log_records'],
  decodeRecord: decodeLogRecord,
  recordToJson: logRecordToJson,
};

/** Decodes an OTLP/JSON ExportLogsServiceRequest. Throws OtlpDecodeError on malformed input. */
export function decodeExportLogsServiceRequestJson(body: string | Uint8Array): LogsData {
  return decodeExportRequestJson(LOGS_JSON_CODEC, body);
}

/** Encodes LogsData as OTLP/JSON, omitting default values as the protobuf JSON mapping does. */
export function encodeExportLogsServiceRequestJson(data: LogsData): string {
  return encodeExportRequestJson(LOGS_JSON_CODEC, data);
}

/** ExportLogsServiceResponse as JSON: `{}` on full success, else partialSuccess with rejectedLogRecords as a string. */
export function encodeExportLogsServiceResponseJson(rejectedLogRecords: number, errorMessage: string): string {
  return encodeExportResponseJson('rejectedLogRecords', rejectedLogRecords, errorMessage);
}
