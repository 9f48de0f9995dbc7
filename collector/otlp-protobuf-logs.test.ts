/**
 * The OTLP/protobuf logs codec against the real OpenTelemetry JS SDK serializer
 * (ProtobufLogsSerializer: every LogRecord field number and value mapping), against hand-built
 * bytes and protobufjs, by round trip, and on malformed input. The wire machinery logs share with
 * traces (varints, lengths, AnyValue, resource and scope) is tested in depth in otlp-protobuf.test.ts.
 */

import type { Attributes } from '@opentelemetry/api';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { describe, expect, it } from 'vitest';

import { createLogRecord, createLogsData, type LogRecord, type LogsData } from '../schemas/otlp-logs.js';
import { LOG_SCENARIO_SPAN_ID, LOG_SCENARIO_TRACE_ID, recordLogScenario } from '../test/harness/log-scenario.js';
import { hrTimeToNs } from '../test/harness/otel-sdk.js';
import { decodeErrorMessage, fuzzProtobufDecoder } from '../test/harness/codec-checks.js';
import { OTLP_PROTO, protobufjs } from '../test/harness/otlp-proto-schema.js';
import { fixed64, lengthDelimited, tag, utf8 } from '../test/harness/protobuf-wire.js';
import { expectedAnyValue, expectedKeyValues } from '../test/harness/sdk-values.js';
import { OtlpDecodeError } from './otlp-decode-error.js';
import { decodeExportLogsServiceRequest, encodeExportLogsServiceRequest, encodeExportLogsServiceResponse } from './otlp-protobuf-logs.js';
import { MAX_ANY_VALUE_DEPTH } from './otlp-protobuf.js';

/** ExportLogsServiceRequest{resource_logs{scope_logs{log_records{<fields>}}}}. */
function requestWithRecord(...fields: number[][]): Uint8Array {
  return new Uint8Array(lengthDelimited(1, lengthDelimited(2, lengthDelimited(2, ...fields))));
}

function onlyRecord(data: LogsData): LogRecord {
  return data.resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
}

function decodeProblem(bytes: Uint8Array): string {
  return decodeErrorMessage(() => decodeExportLogsServiceRequest(bytes));
}

const TRACE_ID = LOG_SCENARIO_TRACE_ID;
const SPAN_ID = LOG_SCENARIO_SPAN_ID;

/** Every field set, bodies of every AnyValue kind, limits of every numeric field. */
const EVERY_FIELD: LogsData = {
  resourceLogs: [
    {
      resource: { attributes: [{ key: 'service.name', value: 'checkout' }], droppedAttributesCount: 2 },
      scopeLogs: [
        {
          scope: { name: 'app.logger', version: '1.0.0', attributes: [{ key: 'scope.attr', value: true }], droppedAttributesCount: 1 },
          logRecords: [
            createLogRecord({
              timeUnixNano: 1_767_225_600_123_456_789n,
              observedTimeUnixNano: 18_446_744_073_709_551_615n,
              severityNumber: 24,
              severityText: 'FATAL',
              body: { kvlist: [{ key: 'msg', value: 'héllo ✓' }, { key: 'n', value: -(2n ** 63n) }, { key: 'list', value: [1.5, null, new Uint8Array([0, 255])] }] },
              attributes: [
                { key: 'user.id', value: 42n },
                { key: 'empty', value: '' },
              ],
              droppedAttributesCount: 4_294_967_295,
              flags: 0xffff_ffff,
              traceId: TRACE_ID,
              spanId: SPAN_ID,
              eventName: 'checkout.failed',
            }),
            createLogRecord({ body: 'plain text' }),
            createLogRecord({ body: '' }),
            createLogRecord({ body: false }),
            createLogRecord({ body: [] }),
            createLogRecord({ severityNumber: -1 }),
            createLogRecord(),
          ],
          schemaUrl: 'https://opentelemetry.io/schemas/1.29.0',
        },
      ],
      schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// The real SDK

/** The model record the OTLP mapping gives an SDK log record, computed without the codec. */
function expectedRecord(record: ReadableLogRecord): LogRecord {
  return {
    timeUnixNano: hrTimeToNs(record.hrTime),
    observedTimeUnixNano: hrTimeToNs(record.hrTimeObserved),
    severityNumber: record.severityNumber ?? 0,
    severityText: record.severityText ?? '',
    body: record.body === undefined ? null : expectedAnyValue(record.body),
    attributes: expectedKeyValues(record.attributes as Attributes),
    droppedAttributesCount: record.droppedAttributesCount,
    flags: record.spanContext?.traceFlags ?? 0,
    traceId: record.spanContext?.traceId ?? '',
    spanId: record.spanContext?.spanId ?? '',
    eventName: record.eventName ?? '',
  };
}

describe('decodeExportLogsServiceRequest against the OpenTelemetry JS SDK serializer', () => {
  const sdkRecords = recordLogScenario();
  const decoded = decodeExportLogsServiceRequest(ProtobufLogsSerializer.serializeRequest(sdkRecords)!);

  it('groups the records under their resource and scopes', () => {
    expect(decoded.resourceLogs).toHaveLength(1);
    const resourceLogs = decoded.resourceLogs[0]!;
    expect(resourceLogs.schemaUrl).toBe('https://opentelemetry.io/schemas/1.30.0');
    expect(resourceLogs.resource).toEqual({
      attributes: [
        { key: 'service.name', value: 'checkout' },
        { key: 'service.version', value: '2.4.1' },
        { key: 'host.cores', value: 8n },
        { key: 'feature.flags', value: ['a', 'b'] },
      ],
      droppedAttributesCount: 0,
    });
    expect(resourceLogs.scopeLogs.map((s) => [s.scope.name, s.scope.version, s.scope.attributes, s.schemaUrl, s.logRecords.length])).toEqual([
      ['checkout.app', '2.4.1', [{ key: 'logger.kind', value: 'app' }], 'https://opentelemetry.io/schemas/1.29.0', 3],
      ['audit', '', [], '', 3],
    ]);
  });

  it('decodes every log record field exactly as the SDK numbered and encoded it', () => {
    const records = decoded.resourceLogs[0]!.scopeLogs.flatMap((s) => s.logRecords);
    expect(records).toEqual(sdkRecords.map(expectedRecord));
  });

  it('maps severity, body kinds, trace context and dropped attributes as the OTLP mapping says', () => {
    const [declined, login, array] = decoded.resourceLogs[0]!.scopeLogs[0]!.logRecords;
    expect(declined).toMatchObject({
      timeUnixNano: 1_767_225_600_123_456_789n,
      observedTimeUnixNano: 1_767_225_601_000_000_005n,
      severityNumber: 17,
      severityText: 'ERROR',
      eventName: 'payment.declined',
      body: "card declined\n\tquote ' backslash \\ grüße — 日本 🚀",
      flags: 1,
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      droppedAttributesCount: 1,
    });
    expect(declined!.attributes.map((kv) => kv.key)).toEqual(['order.id', 'amount', 'retry', 'tags']);
    expect(login!.body).toEqual({
      kvlist: [
        { key: 'event', value: 'login' },
        { key: 'user', value: { kvlist: [{ key: 'id', value: 7n }, { key: 'roles', value: ['admin', 'ops'] }] } },
        { key: 'ok', value: true },
        { key: 'ratio', value: 0.5 },
      ],
    });
    expect(login).toMatchObject({ severityNumber: 10, flags: 0, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(array!.body).toEqual(['one', 2n, 3.5]);
    const [bytes, noBody] = decoded.resourceLogs[0]!.scopeLogs[1]!.logRecords;
    expect(bytes!.body).toEqual(new Uint8Array([0xde, 0xad]));
    expect(noBody!.body).toBeNull();
    expect(noBody!.traceId).toBe('');
    expect(noBody!.severityNumber).toBe(24);
  });

  it('re-encodes to bytes that decode to the same data', () => {
    expect(decodeExportLogsServiceRequest(encodeExportLogsServiceRequest(decoded))).toEqual(decoded);
  });
});

describe('encodeExportLogsServiceRequest', () => {
  it('round-trips every field and every body kind', () => {
    expect(decodeExportLogsServiceRequest(encodeExportLogsServiceRequest(EVERY_FIELD))).toEqual(EVERY_FIELD);
  });

  it('writes each LogRecord field under its logs.proto number and wire type, in field order', () => {
    const record = createLogRecord({
      timeUnixNano: 1n,
      severityNumber: 9,
      severityText: 'I',
      body: 'b',
      attributes: [{ key: 'k', value: 'v' }],
      droppedAttributesCount: 3,
      flags: 1,
      traceId: '0102',
      spanId: '03',
      observedTimeUnixNano: 2n,
      eventName: 'e',
    });
    const bytes = encodeExportLogsServiceRequest(createLogsData('', [record]));
    const recordBytes = [
      ...tag(1, 1), ...fixed64(1n),
      ...tag(2, 0), 9,
      ...lengthDelimited(3, utf8('I')),
      ...lengthDelimited(5, lengthDelimited(1, utf8('b'))),
      ...lengthDelimited(6, lengthDelimited(1, utf8('k')), lengthDelimited(2, lengthDelimited(1, utf8('v')))),
      ...tag(7, 0), 3,
      ...tag(8, 5), 1, 0, 0, 0,
      ...lengthDelimited(9, [1, 2]),
      ...lengthDelimited(10, [3]),
      ...tag(11, 1), ...fixed64(2n),
      ...lengthDelimited(12, utf8('e')),
    ];
    const resource = lengthDelimited(1, lengthDelimited(1, lengthDelimited(1, utf8('service.name')), lengthDelimited(2, lengthDelimited(1))));
    expect([...bytes]).toEqual(lengthDelimited(1, resource, lengthDelimited(2, lengthDelimited(2, recordBytes))));
  });

  it('omits proto3 defaults and an absent body, but writes a body holding a default value', () => {
    expect(encodeExportLogsServiceRequest({ resourceLogs: [] })).toHaveLength(0);
    const empty = encodeExportLogsServiceRequest({ resourceLogs: [{ resource: { attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', scopeLogs: [{ scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', logRecords: [createLogRecord()] }] }] });
    expect([...empty]).toEqual([0x0a, 0x04, 0x12, 0x02, 0x12, 0x00]);
    const emptyString = encodeExportLogsServiceRequest(createLogsData('', [createLogRecord({ body: '' })]));
    expect([...emptyString.subarray(emptyString.length - 4)]).toEqual([...lengthDelimited(2, lengthDelimited(5, lengthDelimited(1)))].slice(-4));
    expect(onlyRecord(decodeExportLogsServiceRequest(emptyString)).body).toBe('');
  });

  it('rejects ids that are not hex, without quoting them', () => {
    expect(() => encodeExportLogsServiceRequest(createLogsData('s', [createLogRecord({ traceId: 'zz' })]))).toThrow(
      new TypeError('cannot encode LogRecord.traceId: not an even-length hex string (2 characters)'),
    );
  });
});

describe('decodeExportLogsServiceRequest on unusual and malformed input', () => {
  it('skips unknown and reserved fields, lets the last scalar win and merges a body sent twice', () => {
    const record = onlyRecord(decodeExportLogsServiceRequest(requestWithRecord(
      lengthDelimited(4, utf8('reserved field 4')),
      [...tag(99, 0), 1],
      lengthDelimited(3, utf8('first')),
      lengthDelimited(3, utf8('INFO')),
      lengthDelimited(5, lengthDelimited(6, lengthDelimited(1, lengthDelimited(1, utf8('a'))))),
      lengthDelimited(5, lengthDelimited(6, lengthDelimited(1, lengthDelimited(1, utf8('b'))))),
    )));
    expect(record.severityText).toBe('INFO');
    expect(record.body).toEqual({ kvlist: [{ key: 'a', value: null }, { key: 'b', value: null }] });
  });

  it('names the LogRecord field of a wrong wire type, a truncation or bad UTF-8', () => {
    expect(decodeProblem(requestWithRecord([...tag(5, 0), 1]))).toBe('field 5 (LogRecord.body) has wire type 0 (varint), expected 2 (length-delimited) at offset 6');
    expect(decodeProblem(requestWithRecord([...tag(8, 1), ...fixed64(1n)]))).toBe('field 8 (LogRecord.flags) has wire type 1 (fixed64), expected 5 (fixed32) at offset 6');
    expect(decodeProblem(requestWithRecord([...tag(11, 1), 1, 2]))).toBe('truncated message: field 11 (LogRecord.observed_time_unix_nano) needs 8 bytes but 2 remain at offset 7');
    expect(decodeProblem(requestWithRecord(lengthDelimited(3, [0xc3, 0x28])))).toBe('invalid UTF-8 in field 3 (LogRecord.severity_text) at offset 8');
    expect(decodeProblem(requestWithRecord(lengthDelimited(5, lengthDelimited(1, [0xff]))))).toMatch(/^invalid UTF-8 in field 1 \(AnyValue.string_value\) at offset \d+$/);
    expect(decodeProblem(new Uint8Array([0x0a, 0x05]))).toBe(
      'truncated message: field 1 (ExportLogsServiceRequest.resource_logs) length 5 exceeds remaining 0 bytes at offset 1',
    );
    expect(decodeProblem(new Uint8Array(lengthDelimited(1, lengthDelimited(2, [...tag(2, 2), 9]))))).toBe(
      'truncated message: field 2 (ScopeLogs.log_records) length 9 exceeds remaining 0 bytes at offset 5',
    );
  });

  it('accepts a body nested up to the AnyValue limit and rejects one level more', () => {
    const nested = (levels: number) => {
      let value: number[] = lengthDelimited(1, utf8('leaf'));
      for (let level = 1; level < levels; level++) value = lengthDelimited(5, lengthDelimited(1, value));
      return requestWithRecord(lengthDelimited(5, value));
    };
    expect(() => decodeExportLogsServiceRequest(nested(MAX_ANY_VALUE_DEPTH))).not.toThrow();
    expect(decodeProblem(nested(MAX_ANY_VALUE_DEPTH + 1))).toMatch(/^AnyValue nested deeper than 32 levels at offset \d+$/);
  });

  it('fails at every truncation point except between top-level fields', () => {
    const bytes = encodeExportLogsServiceRequest(EVERY_FIELD);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(() => decodeExportLogsServiceRequest(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(OtlpDecodeError);
    }
  });

  it('throws nothing but OtlpDecodeError on random corruption, and what it accepts re-encodes', () => {
    const accepted = fuzzProtobufDecoder(encodeExportLogsServiceRequest(EVERY_FIELD), decodeExportLogsServiceRequest, encodeExportLogsServiceRequest, 0x1badb002);
    expect(accepted).toBeGreaterThan(0);
  });
});

describe('ExportLogsServiceResponse', () => {
  it('is empty on full success and carries rejected_log_records the SDK reads back', () => {
    expect(encodeExportLogsServiceResponse(0, '')).toHaveLength(0);
    expect(ProtobufLogsSerializer.deserializeResponse(encodeExportLogsServiceResponse(0, ''))).toEqual({});
    expect(ProtobufLogsSerializer.deserializeResponse(encodeExportLogsServiceResponse(12, 'records without a body'))).toEqual({
      partialSuccess: { rejectedLogRecords: 12, errorMessage: 'records without a body' },
    });
  });
});

describe.skipIf(protobufjs === undefined)('logs against protobufjs', () => {
  const root = protobufjs!.parse(OTLP_PROTO, { keepCase: true }).root;
  const request = root.lookupType('otlp.ExportLogsServiceRequest');

  it('decodes what we encode, and re-encodes it to bytes we decode identically', () => {
    const theirs = request.encode(request.decode(encodeExportLogsServiceRequest(EVERY_FIELD))).finish();
    expect(decodeExportLogsServiceRequest(theirs)).toEqual(EVERY_FIELD);
  });

  it('reads our field values under their logs.proto names', () => {
    const message = request.toObject(request.decode(encodeExportLogsServiceRequest(EVERY_FIELD)), { longs: String, bytes: String, enums: String });
    const record = (message as { resource_logs: { scope_logs: { log_records: Record<string, unknown>[] }[] }[] }).resource_logs[0]!.scope_logs[0]!.log_records[0]!;
    expect(record).toMatchObject({
      time_unix_nano: '1767225600123456789',
      observed_time_unix_nano: '18446744073709551615',
      severity_number: 'SEVERITY_NUMBER_FATAL4',
      severity_text: 'FATAL',
      dropped_attributes_count: 4_294_967_295,
      flags: 0xffff_ffff,
      trace_id: Buffer.from(TRACE_ID, 'hex').toString('base64'),
      span_id: Buffer.from(SPAN_ID, 'hex').toString('base64'),
      event_name: 'checkout.failed',
    });
    expect((record['body'] as { kvlist_value: { values: unknown[] } }).kvlist_value.values[0]).toEqual({ key: 'msg', value: { string_value: 'héllo ✓' } });
    const response = root.lookupType('otlp.ExportLogsServiceResponse');
    expect(response.toObject(response.decode(encodeExportLogsServiceResponse(7, 'bad')), { longs: String })).toEqual({
      partial_success: { rejected_log_records: '7', error_message: 'bad' },
    });
  });
});
