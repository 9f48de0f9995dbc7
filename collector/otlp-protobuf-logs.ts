/**
 * OTLP/protobuf codec for logs: ExportLogsServiceRequest <-> LogsData (opentelemetry-proto v1
 * logs.proto, logs_service.proto), and ExportLogsServiceResponse.
 *
 * Only the LogRecord message is written here; the wire reader and writer, AnyValue, KeyValue,
 * Resource, InstrumentationScope and the resource/scope grouping are the trace codec's
 * (`otlp-protobuf.ts`), so both signals share one implementation and its guarantees: for any
 * input bytes the result is a LogsData or an OtlpDecodeError, linear time and memory, valid UTF-8,
 * unknown fields skipped, protobuf merge semantics for repeated fields (a body sent twice merges
 * as an AnyValue does), ids as lowercase hex of whatever bytes were sent. Encoding omits proto3
 * defaults; an absent body (null) is not written.
 */

import type { AnyValue, KeyValue } from '../schemas/otlp-common.js';
import { LOGS_LAYOUT, type LogRecord, type LogsData, type ResourceLogs, type ScopeLogs } from '../schemas/otlp-logs.js';
import {
  decodeAnyValue,
  decodeExportRequest,
  decodeKeyValue,
  delimitedFieldSize,
  encodeExportRequest,
  encodeExportResponse,
  hexIdFieldSize,
  int32FieldSize,
  recordSize,
  reserveSize,
  sizeAnyValue,
  sizeAttributes,
  stringFieldSize,
  uint32FieldSize,
  writeAnyValue,
  writeAttributes,
  TAG_FIXED64_1,
  TAG_LEN_3,
  TAG_LEN_5,
  TAG_LEN_6,
  TAG_VARINT_2,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
  type MessageSchema,
  type ProtobufSignalCodec,
  type WireReader,
  type WireWriter,
} from './otlp-protobuf.js';

const REQUEST: MessageSchema = {
  name: 'ExportLogsServiceRequest',
  fields: { 1: ['resource_logs', WIRE_LEN] },
};
const RESOURCE_LOGS: MessageSchema = {
  name: 'ResourceLogs',
  fields: { 1: ['resource', WIRE_LEN], 2: ['scope_logs', WIRE_LEN], 3: ['schema_url', WIRE_LEN] },
};
const SCOPE_LOGS: MessageSchema = {
  name: 'ScopeLogs',
  fields: { 1: ['scope', WIRE_LEN], 2: ['log_records', WIRE_LEN], 3: ['schema_url', WIRE_LEN] },
};
// Field 4 is reserved: skipped like any unknown field.
const LOG_RECORD: MessageSchema = {
  name: 'LogRecord',
  fields: {
    1: ['time_unix_nano', WIRE_FIXED64],
    2: ['severity_number', WIRE_VARINT],
    3: ['severity_text', WIRE_LEN],
    5: ['body', WIRE_LEN],
    6: ['attributes', WIRE_LEN],
    7: ['dropped_attributes_count', WIRE_VARINT],
    8: ['flags', WIRE_FIXED32],
    9: ['trace_id', WIRE_LEN],
    10: ['span_id', WIRE_LEN],
    11: ['observed_time_unix_nano', WIRE_FIXED64],
    12: ['event_name', WIRE_LEN],
  },
};

const TAG_DROPPED_ATTRIBUTES = (7 << 3) | WIRE_VARINT;
const TAG_FLAGS = (8 << 3) | WIRE_FIXED32;
const TAG_TRACE_ID = (9 << 3) | WIRE_LEN;
const TAG_SPAN_ID = (10 << 3) | WIRE_LEN;
const TAG_OBSERVED_TIME = (11 << 3) | WIRE_FIXED64;
const TAG_EVENT_NAME = (12 << 3) | WIRE_LEN;

function decodeLogRecord(r: WireReader, end: number): LogRecord {
  let timeUnixNano = 0n;
  let observedTimeUnixNano = 0n;
  let severityNumber = 0;
  let severityText = '';
  let body: AnyValue = null;
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  let traceId = '';
  let spanId = '';
  let eventName = '';
  while (r.pos < end) {
    const tag = r.readTag(end, LOG_RECORD);
    switch (tag) {
      case TAG_FIXED64_1:
        timeUnixNano = r.readFixed64(end, LOG_RECORD, 1);
        break;
      case TAG_VARINT_2:
        severityNumber = r.readInt32(end, LOG_RECORD, 2);
        break;
      case TAG_LEN_3:
        severityText = r.readName(end, LOG_RECORD, 3);
        break;
      case TAG_LEN_5:
        // The body is a value at the level of an attribute's value.
        body = decodeAnyValue(r, r.readDelimitedEnd(end, LOG_RECORD, 5), 1, body);
        break;
      case TAG_LEN_6:
        attributes.push(decodeKeyValue(r, r.readDelimitedEnd(end, LOG_RECORD, 6), 1));
        break;
      case TAG_DROPPED_ATTRIBUTES:
        droppedAttributesCount = r.readUint32(end, LOG_RECORD, 7);
        break;
      case TAG_FLAGS:
        flags = r.readFixed32(end, LOG_RECORD, 8);
        break;
      case TAG_TRACE_ID:
        traceId = r.readHexId(end, LOG_RECORD, 9);
        break;
      case TAG_SPAN_ID:
        spanId = r.readHexId(end, LOG_RECORD, 10);
        break;
      case TAG_OBSERVED_TIME:
        observedTimeUnixNano = r.readFixed64(end, LOG_RECORD, 11);
        break;
      case TAG_EVENT_NAME:
        eventName = r.readName(end, LOG_RECORD, 12);
        break;
      default:
        r.skipField(tag, end, LOG_RECORD);
    }
  }
  return { timeUnixNano, observedTimeUnixNano, severityNumber, severityText, body, attributes, droppedAttributesCount, flags, traceId, spanId, eventName };
}

function sizeLogRecord(record: LogRecord, sizes: number[]): number {
  const slot = reserveSize(sizes);
  const size =
    (record.timeUnixNano === 0n ? 0 : 9) +
    int32FieldSize(record.severityNumber) +
    stringFieldSize(record.severityText) +
    (record.body === null ? 0 : delimitedFieldSize(sizeAnyValue(record.body, sizes))) +
    sizeAttributes(record.attributes, sizes) +
    uint32FieldSize(record.droppedAttributesCount) +
    (record.flags === 0 ? 0 : 5) +
    hexIdFieldSize(record.traceId) +
    hexIdFieldSize(record.spanId) +
    (record.observedTimeUnixNano === 0n ? 0 : 9) +
    stringFieldSize(record.eventName);
  return recordSize(sizes, slot, size);
}

function writeLogRecord(w: WireWriter, record: LogRecord): void {
  if (record.timeUnixNano !== 0n) {
    w.byte(TAG_FIXED64_1);
    w.fixed64(record.timeUnixNano);
  }
  w.int32Field(TAG_VARINT_2, record.severityNumber);
  w.stringField(TAG_LEN_3, record.severityText);
  if (record.body !== null) {
    w.beginMessage(TAG_LEN_5, false);
    writeAnyValue(w, record.body);
  }
  writeAttributes(w, TAG_LEN_6, record.attributes);
  w.uint32Field(TAG_DROPPED_ATTRIBUTES, record.droppedAttributesCount);
  if (record.flags !== 0) {
    w.byte(TAG_FLAGS);
    w.fixed32(record.flags);
  }
  w.hexIdField(TAG_TRACE_ID, record.traceId, 'LogRecord.traceId');
  w.hexIdField(TAG_SPAN_ID, record.spanId, 'LogRecord.spanId');
  if (record.observedTimeUnixNano !== 0n) {
    w.byte(TAG_OBSERVED_TIME);
    w.fixed64(record.observedTimeUnixNano);
  }
  w.stringField(TAG_EVENT_NAME, record.eventName);
}

const LOGS_CODEC: ProtobufSignalCodec<LogsData, ResourceLogs, ScopeLogs, LogRecord> = {
  layout: LOGS_LAYOUT,
  request: REQUEST,
  resourceGroup: RESOURCE_LOGS,
  scopeGroup: SCOPE_LOGS,
  decodeRecord: decodeLogRecord,
  sizeRecord: sizeLogRecord,
  writeRecord: writeLogRecord,
};

/** Decodes an OTLP/protobuf ExportLogsServiceRequest. Throws OtlpDecodeError on malformed input. */
export function decodeExportLogsServiceRequest(buf: Uint8Array): LogsData {
  return decodeExportRequest(LOGS_CODEC, buf);
}

/** Encodes LogsData as an OTLP/protobuf ExportLogsServiceRequest. */
export function encodeExportLogsServiceRequest(data: LogsData): Uint8Array {
  return encodeExportRequest(LOGS_CODEC, data);
}

/** ExportLogsServiceResponse{partial_success{rejected_log_records, error_message}}. */
export const encodeExportLogsServiceResponse = encodeExportResponse;
