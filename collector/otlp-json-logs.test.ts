/**
 * The OTLP/JSON logs codec against the real OpenTelemetry JS SDK serializer (JsonLogsSerializer,
 * and through it our protobuf decoder), by round trip, on accepted input variants and on malformed
 * input with the exact error messages. JSON parsing, AnyValue and the field readers logs share
 * with traces are tested in depth in otlp-json.test.ts.
 */

import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';

import type { KeyValueList } from '../schemas/otlp-common.js';
import { createLogRecord, createLogsData, type LogRecord, type LogsData } from '../schemas/otlp-logs.js';
import { decodeErrorMessage, fuzzJsonDecoder } from '../test/harness/codec-checks.js';
import { recordLogScenario } from '../test/harness/log-scenario.js';
import { decodeExportLogsServiceRequestJson, encodeExportLogsServiceRequestJson, encodeExportLogsServiceResponseJson } from './otlp-json-logs.js';
import { decodeExportLogsServiceRequest, encodeExportLogsServiceRequest } from './otlp-protobuf-logs.js';

const IN_RECORD = 'resourceLogs[0].scopeLogs[0].logRecords[0]';

/** A request with one resource, one scope and the given log record objects, as JSON text. */
function requestWithRecords(...logRecords: unknown[]): string {
  return JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords }] }] });
}

function onlyRecord(data: LogsData): LogRecord {
  return data.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
}

function decodeProblem(body: string): string {
  return decodeErrorMessage(() => decodeExportLogsServiceRequestJson(body));
}

/** Values where the JSON mapping differs from plain JSON, in every LogRecord field. */
const JSON_EDGE_CASES: LogsData = createLogsData(
  'checkout',
  [
    createLogRecord({
      timeUnixNano: 18_446_744_073_709_551_615n,
      observedTimeUnixNano: 1_767_225_600_123_456_789n,
      severityNumber: 21,
      severityText: 'FATAL',
      body: { kvlist: [{ key: 'n', value: -(2n ** 63n) }, { key: 'nan', value: Number.NaN }, { key: 'raw', value: new Uint8Array([0xfb, 0xff]) }, { key: 'none', value: null }] },
      attributes: [{ key: 'quote', value: 'say "hi" \\ \u0001' }],
      droppedAttributesCount: 3,
      flags: 0xffff_ffff,
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      eventName: 'session.end',
    }),
    createLogRecord({ body: -0 }),
    createLogRecord({ body: [] }),
    createLogRecord(),
  ],
  { name: 'scope', version: '1' },
);

describe('decodeExportLogsServiceRequestJson against the OpenTelemetry JS SDK serializer', () => {
  it('decodes to exactly what the protobuf serialization of the same records decodes to', () => {
    const sdkRecords = recordLogScenario();
    const fromJson = decodeExportLogsServiceRequestJson(JsonLogsSerializer.serializeRequest(sdkRecords)!);
    expect(fromJson).toEqual(decodeExportLogsServiceRequest(ProtobufLogsSerializer.serializeRequest(sdkRecords)!));
    expect((fromJson.resourceLogs[0]!.scopeLogs[0]!.logRecords[1]!.body as KeyValueList).kvlist[0]).toEqual({ key: 'event', value: 'login' });
  });
});

describe('encodeExportLogsServiceRequestJson', () => {
  it('round-trips, and agrees with the protobuf codec', () => {
    expect(decodeExportLogsServiceRequestJson(encodeExportLogsServiceRequestJson(JSON_EDGE_CASES))).toEqual(JSON_EDGE_CASES);
    expect(decodeExportLogsServiceRequest(encodeExportLogsServiceRequest(JSON_EDGE_CASES))).toEqual(JSON_EDGE_CASES);
  });

  it('writes the OTLP JSON mapping: hex ids, int64 as strings, severity as a number, body as an AnyValue, no defaults', () => {
    const data = createLogsData('', [
      createLogRecord({ timeUnixNano: 1n, severityNumber: 9, body: 'hello', traceId: '0af7651916cd43dd8448eb211c80319c', flags: 1, attributes: [{ key: 'i', value: -5n }] }),
      createLogRecord(),
    ]);
    data.resourceLogs[0]!.resource.attributes = [];
    expect(encodeExportLogsServiceRequestJson(data)).toBe(
      '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","severityNumber":9,"body":{"stringValue":"hello"},' +
        '"attributes":[{"key":"i","value":{"intValue":"-5"}}],"flags":1,"traceId":"0af7651916cd43dd8448eb211c80319c"},{}]}]}]}',
    );
  });
});

describe('decodeExportLogsServiceRequestJson input variants', () => {
  it('accepts the proto field names, upper-case hex, severity names, and 64-bit integers as numbers or strings', () => {
    const record = onlyRecord(decodeExportLogsServiceRequestJson(JSON.stringify({
      resource_logs: [{ scope_logs: [{ log_records: [{
        time_unix_nano: 1_767_225_600_000,
        observed_time_unix_nano: '18446744073709551615',
        severity_number: 'SEVERITY_NUMBER_WARN3',
        severity_text: 'warning',
        body: { int_value: '-9223372036854775808' },
        trace_id: '0AF7651916CD43DD8448EB211C80319C',
        span_id: 'B7AD6B7169203331',
        event_name: 'e',
        dropped_attributes_count: '2',
      }] }] }],
    })));
    expect(record).toEqual(createLogRecord({
      timeUnixNano: 1_767_225_600_000n,
      observedTimeUnixNano: 18_446_744_073_709_551_615n,
      severityNumber: 15,
      severityText: 'warning',
      body: -(2n ** 63n),
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      eventName: 'e',
      droppedAttributesCount: 2,
    }));
  });

  it('treats a null or empty body as no value and ignores unknown keys', () => {
    expect(onlyRecord(decodeExportLogsServiceRequestJson(requestWithRecords({ body: null, unknown: [1] })))).toEqual(createLogRecord());
    expect(onlyRecord(decodeExportLogsServiceRequestJson(requestWithRecords({ body: {} }))).body).toBeNull();
  });
});

describe('decodeExportLogsServiceRequestJson on malformed input', () => {
  it('names the JSON path of a log record field of the wrong type or shape', () => {
    expect(decodeProblem('{"resourceLogs": {}}')).toBe('resourceLogs: expected an array, got object');
    expect(decodeProblem(JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{}, 5] }] }] }))).toBe(
      'resourceLogs[0].scopeLogs[0].logRecords[1]: expected an object, got number',
    );
    expect(decodeProblem(requestWithRecords({ severityNumber: 'LOUD' }))).toBe(`${IN_RECORD}.severityNumber: expected a SeverityNumber number or name, got "LOUD"`);
    expect(decodeProblem(requestWithRecords({ severityText: 3 }))).toBe(`${IN_RECORD}.severityText: expected a string, got number`);
    expect(decodeProblem(requestWithRecords({ body: 'plain' }))).toBe(`${IN_RECORD}.body: expected an object, got string`);
    expect(decodeProblem(requestWithRecords({ body: { kvlistValue: { values: [{ key: 'a', value: { intValue: 'x' } }] } } }))).toBe(
      `${IN_RECORD}.body.kvlistValue.values[0].value.intValue: expected a signed 64-bit integer, got "x"`,
    );
    expect(decodeProblem(requestWithRecords({ body: { stringValue: 'a', boolValue: true } }))).toBe(`${IN_RECORD}.body: expected one value, got both stringValue and boolValue`);
    expect(decodeProblem(requestWithRecords({ timeUnixNano: -1 }))).toBe(`${IN_RECORD}.timeUnixNano: expected an unsigned 64-bit integer, got -1`);
    expect(decodeProblem(requestWithRecords({ flags: 2 ** 32 }))).toBe(`${IN_RECORD}.flags: expected a uint32, got 4294967296`);
    expect(decodeProblem(requestWithRecords({ traceId: 'not-hex' }))).toBe(`${IN_RECORD}.traceId: expected an even-length hex string, got "not-hex"`);
    expect(decodeProblem(requestWithRecords({ span_id: 12 }))).toBe(`${IN_RECORD}.span_id: expected a string, got number`);
    expect(decodeProblem(requestWithRecords({ attributes: [{ key: 'k', value: { bytesValue: '@@' } }] }))).toBe(
      `${IN_RECORD}.attributes[0].value.bytesValue: expected base64, got "@@"`,
    );
  });

  it('describes invalid JSON by position without quoting it', () => {
    const secret = 'sk_live_0123456789abcdefghijklmnopqrstuvwxyz';
    const text = `{"resourceLogs": [{"body": "${secret}"}, oops]}`;
    const message = decodeProblem(text);
    expect(message).toBe(`invalid JSON: Unexpected token o at position ${text.indexOf('oops')}`);
    expect(message).not.toContain('sk_live');
  });

  it('throws nothing but OtlpDecodeError for any value of any type at any position', () => {
    const valid = JSON.parse(encodeExportLogsServiceRequestJson(JSON_EDGE_CASES)) as unknown;
    const replacements: unknown[] = [null, 0, -1, 1.5, 2 ** 64, '', 'x', 'NaN', true, [], [null], {}, { stringValue: 1 }];
    expect(fuzzJsonDecoder(valid, decodeExportLogsServiceRequestJson, replacements)).toBeGreaterThan(500);
  });
});

describe('ExportLogsServiceResponse as JSON', () => {
  it('is {} on full success and carries rejectedLogRecords as a string the SDK reads back', () => {
    expect(encodeExportLogsServiceResponseJson(0, '')).toBe('{}');
    expect(encodeExportLogsServiceResponseJson(4, 'no body')).toBe('{"partialSuccess":{"rejectedLogRecords":"4","errorMessage":"no body"}}');
    expect(JsonLogsSerializer.deserializeResponse(Buffer.from(encodeExportLogsServiceResponseJson(4, 'x')))).toEqual({
      partialSuccess: { rejectedLogRecords: '4', errorMessage: 'x' },
    });
  });
});
