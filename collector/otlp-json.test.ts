/**
 * The OTLP/JSON codec against the real OpenTelemetry JS SDK serializer (and, through it, against
 * our protobuf decoder), by round trip, on every accepted input variant, and on malformed input
 * with the exact error messages.
 */

import { context, SpanKind, SpanStatusCode, trace, type AttributeValue } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';

import { createSpan, type Span, type TracesData } from '../schemas/otlp-traces.js';
import { OtlpDecodeError } from './otlp-decode-error.js';
import {
  decodeExportTraceServiceRequestJson,
  encodeExportTraceServiceRequestJson,
  encodeExportTraceServiceResponseJson,
  encodeRpcStatusJson,
} from './otlp-json.js';
import { decodeExportTraceServiceRequest, encodeExportTraceServiceRequest, MAX_ANY_VALUE_DEPTH } from './otlp-protobuf.js';
import { decodeErrorMessage, fuzzJsonDecoder, seededIntegers } from '../test/harness/codec-checks.js';

function decodeError(body: string | Uint8Array): string {
  return decodeErrorMessage(() => decodeExportTraceServiceRequestJson(body));
}

/** A request with one resource, one scope and the given span objects, as JSON text. */
function requestWithSpans(...spans: unknown[]): string {
  return JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
}

function onlySpan(data: TracesData): Span {
  return data.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
}


const EMPTY_SCOPE = { name: '', version: '', attributes: [], droppedAttributesCount: 0 };

/** Values where the JSON mapping differs from plain JSON: 64-bit integers, non-finite doubles, bytes, defaults. */
const JSON_EDGE_CASES: TracesData = {
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: 'checkout' }], droppedAttributesCount: 1 },
      scopeSpans: [
        {
          scope: { name: 'scope', version: '1.0.0', attributes: [{ key: 'a', value: 1n }], droppedAttributesCount: 2 },
          spans: [
            createSpan({
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: 'b7ad6b7169203331',
              traceState: 'vendor=value',
              parentSpanId: '00f067aa0ba902b7',
              flags: 0xffff_ffff,
              name: 'héllo "quoted" \\ \u0001 🚀',
              kind: 5,
              startTimeUnixNano: 1_767_225_600_123_456_789n,
              endTimeUnixNano: 18_446_744_073_709_551_615n,
              attributes: [
                { key: 'int.min', value: -(2n ** 63n) },
                { key: 'int.max', value: 2n ** 63n - 1n },
                { key: 'int.zero', value: 0n },
                { key: 'double', value: 0.1 },
                { key: 'double.nan', value: Number.NaN },
                { key: 'double.infinity', value: Number.POSITIVE_INFINITY },
                { key: 'double.negative.infinity', value: Number.NEGATIVE_INFINITY },
                { key: 'double.negative.zero', value: -0 },
                { key: 'double.integral', value: 7 },
                { key: 'bytes', value: new Uint8Array([0xfb, 0xff, 0xfe, 0, 1]) },
                { key: 'bytes.empty', value: new Uint8Array(0) },
                { key: 'string.empty', value: '' },
                { key: 'bool.false', value: false },
                { key: 'null', value: null },
                { key: 'array', value: ['a', 1n, null, [], [true]] },
                { key: 'kvlist', value: { kvlist: [{ key: 'inner', value: { kvlist: [] } }, { key: 'nothing', value: null }] } },
              ],
              droppedAttributesCount: 3,
              events: [{ timeUnixNano: 5n, name: 'event', attributes: [{ key: 'k', value: 'v' }], droppedAttributesCount: 4 }],
              droppedEventsCount: 5,
              links: [
                { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceState: 'k=v', attributes: [], droppedAttributesCount: 6, flags: 0x301 },
              ],
              droppedLinksCount: 7,
              status: { message: 'failed', code: 2 },
            }),
            createSpan(),
          ],
          schemaUrl: 'https://opentelemetry.io/schemas/1.29.0',
        },
      ],
      schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
    },
  ],
};

describe('decodeExportTraceServiceRequestJson against the OpenTelemetry JS SDK serializer', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'checkout', 'host.cpus': 8 }, { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('chainwatch-json-test', '1.2.3');
  const root = tracer.startSpan('root', {
    kind: SpanKind.SERVER,
    startTime: [1_767_225_600, 123_456_789],
    attributes: {
      str: 'value',
      bool: true,
      int: 42,
      'int.negative': -42,
      'int.large': Number.MAX_SAFE_INTEGER,
      double: 3.25,
      array: [1, 2],
      // SDK 2.x drops bytes and map attribute values; JSON_EDGE_CASES covers both mappings.
    },
  });
  root.addEvent('event', { 'event.attr': 'x' }, [1_767_225_600, 500_000_000]);
  root.setStatus({ code: SpanStatusCode.ERROR, message: 'failed' });
  for (const kind of [SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]) {
    tracer
      .startSpan(`child ${kind}`, { kind, links: [{ context: root.spanContext(), attributes: { attempt: kind } }] }, trace.setSpan(context.active(), root))
      .end();
  }
  root.end([1_767_225_601, 0]);
  const sdkSpans = exporter.getFinishedSpans();
  const fromJson = decodeExportTraceServiceRequestJson(JsonTraceSerializer.serializeRequest(sdkSpans)!);

  it('decodes to exactly what the protobuf serialization of the same spans decodes to', () => {
    expect(fromJson).toEqual(decodeExportTraceServiceRequest(ProtobufTraceSerializer.serializeRequest(sdkSpans)!));
  });

  it('maps hex ids, string timestamps, numeric enums, int/double values', () => {
    const spans = fromJson.resourceSpans[0]!.scopeSpans[0]!.spans;
    const decodedRoot = spans.find((span) => span.name === 'root')!;
    expect(decodedRoot.traceId).toBe(root.spanContext().traceId);
    expect(decodedRoot.spanId).toBe(root.spanContext().spanId);
    expect(decodedRoot.startTimeUnixNano).toBe(1_767_225_600_123_456_789n);
    expect(decodedRoot.kind).toBe(2);
    expect(decodedRoot.status).toEqual({ message: 'failed', code: 2 });
    expect(decodedRoot.attributes).toEqual([
      { key: 'str', value: 'value' },
      { key: 'bool', value: true },
      { key: 'int', value: 42n },
      { key: 'int.negative', value: -42n },
      { key: 'int.large', value: BigInt(Number.MAX_SAFE_INTEGER) },
      { key: 'double', value: 3.25 },
      { key: 'array', value: [1n, 2n] },
    ]);
    const children = spans.filter((span) => span.name.startsWith('child '));
    expect(children.map((span) => span.kind)).toEqual([1, 3, 4, 5]);
    expect(children.every((span) => span.parentSpanId === decodedRoot.spanId && span.links[0]!.spanId === decodedRoot.spanId)).toBe(true);
  });
});

describe('encodeExportTraceServiceRequestJson', () => {
  it('round-trips, and agrees with the protobuf codec', () => {
    const json = encodeExportTraceServiceRequestJson(JSON_EDGE_CASES);
    expect(decodeExportTraceServiceRequestJson(json)).toEqual(JSON_EDGE_CASES);
    expect(decodeExportTraceServiceRequest(encodeExportTraceServiceRequest(JSON_EDGE_CASES))).toEqual(JSON_EDGE_CASES);
  });

  it('writes the OTLP JSON mapping: hex ids, int64 as strings, enums as numbers, base64 bytes, no defaults', () => {
    const data: TracesData = {
      resourceSpans: [
        {
          resource: { attributes: [], droppedAttributesCount: 0 },
          scopeSpans: [
            {
              scope: EMPTY_SCOPE,
              spans: [
                createSpan({
                  traceId: '0af7651916cd43dd8448eb211c80319c',
                  kind: 3,
                  startTimeUnixNano: 1n,
                  attributes: [
                    { key: 'i', value: -5n },
                    { key: 'd', value: Number.NaN },
                    { key: 'z', value: -0 },
                    { key: 'b', value: new Uint8Array([0xfb, 0xff]) },
                    { key: 'n', value: null },
                    { key: 'a', value: [] },
                  ],
                  status: { message: '', code: 1 },
                }),
              ],
              schemaUrl: '',
            },
          ],
          schemaUrl: '',
        },
      ],
    };
    expect(encodeExportTraceServiceRequestJson(data)).toBe(
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","kind":3,"startTimeUnixNano":"1",' +
        '"attributes":[{"key":"i","value":{"intValue":"-5"}},{"key":"d","value":{"doubleValue":"NaN"}},' +
        '{"key":"z","value":{"doubleValue":"-0"}},{"key":"b","value":{"bytesValue":"+/8="}},{"key":"n","value":{}},' +
        '{"key":"a","value":{"arrayValue":{}}}],"status":{"code":1}}]}]}]}',
    );
  });
});

describe('decodeExportTraceServiceRequestJson input variants', () => {
  it('accepts the proto field names, upper-case hex, enum names, and 64-bit integers as numbers or strings', () => {
    const span = onlySpan(decodeExportTraceServiceRequestJson(JSON.stringify({
      resource_spans: [{
        scope_spans: [{
          spans: [{
            trace_id: '0AF7651916CD43DD8448EB211C80319C',
            span_id: 'B7ad6b7169203331',
            parent_span_id: '',
            trace_state: 'a=b',
            kind: 'SPAN_KIND_CONSUMER',
            start_time_unix_nano: 1_767_225_600_000,
            end_time_unix_nano: '18446744073709551615',
            dropped_attributes_count: '9',
            flags: 257,
            attributes: [
              { key: 'int.number', value: { int_value: -3 } },
              { key: 'int.string', value: { intValue: '-9223372036854775808' } },
              { key: 'double.string', value: { double_value: '1.5e3' } },
              { key: 'double.nan', value: { doubleValue: 'NaN' } },
              { key: 'double.negative.infinity', value: { doubleValue: '-Infinity' } },
              { key: 'bytes.url.safe.unpadded', value: { bytes_value: '-_8' } },
              { key: 'bytes.standard', value: { bytesValue: '+/8=' } },
              { key: 'array', value: { array_value: { values: [{ string_value: 'x' }] } } },
              { key: 'kvlist', value: { kvlist_value: { values: [{ key: 'k', value: { bool_value: false } }] } } },
            ],
            status: { code: 'STATUS_CODE_OK' },
          }],
        }],
      }],
    })));
    expect(span).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceState: 'a=b',
      kind: 5,
      startTimeUnixNano: 1_767_225_600_000n,
      endTimeUnixNano: 18_446_744_073_709_551_615n,
      droppedAttributesCount: 9,
      flags: 257,
      status: { message: '', code: 1 },
    });
    expect(span.attributes).toEqual([
      { key: 'int.number', value: -3n },
      { key: 'int.string', value: -(2n ** 63n) },
      { key: 'double.string', value: 1500 },
      { key: 'double.nan', value: Number.NaN },
      { key: 'double.negative.infinity', value: Number.NEGATIVE_INFINITY },
      { key: 'bytes.url.safe.unpadded', value: new Uint8Array([0xfb, 0xff]) },
      { key: 'bytes.standard', value: new Uint8Array([0xfb, 0xff]) },
      { key: 'array', value: ['x'] },
      { key: 'kvlist', value: { kvlist: [{ key: 'k', value: false }] } },
    ]);
  });

  it('treats null and missing fields as defaults and ignores unknown keys', () => {
    const decoded = decodeExportTraceServiceRequestJson(JSON.stringify({
      resourceSpans: [
        { resource: null, scopeSpans: [{ scope: null, spans: [{ name: null, attributes: null, status: null, unknown: { deeply: [1] } }, {}] }] },
        { schemaUrl: null, futureField: 1 },
      ],
      extra: true,
    }));
    expect(decoded).toEqual({
      resourceSpans: [
        {
          resource: { attributes: [], droppedAttributesCount: 0 },
          scopeSpans: [{ scope: EMPTY_SCOPE, spans: [createSpan(), createSpan()], schemaUrl: '' }],
          schemaUrl: '',
        },
        { resource: { attributes: [], droppedAttributesCount: 0 }, scopeSpans: [], schemaUrl: '' },
      ],
    });
    expect(decodeExportTraceServiceRequestJson('{}')).toEqual({ resourceSpans: [] });
  });

  it('reads AnyValue: empty object, null members and unknown keys mean an empty value', () => {
    const span = onlySpan(decodeExportTraceServiceRequestJson(requestWithSpans({
      attributes: [
        { key: 'empty', value: {} },
        { key: 'null.member', value: { stringValue: null, intValue: '5' } },
        { key: 'unknown', value: { futureValue: 1 } },
        { key: 'missing' },
      ],
    })));
    expect(span.attributes).toEqual([
      { key: 'empty', value: null },
      { key: 'null.member', value: 5n },
      { key: 'unknown', value: null },
      { key: 'missing', value: null },
    ]);
  });

  it('decodes a UTF-8 body given as bytes, with or without a byte order mark', () => {
    const json = requestWithSpans({ name: 'ünïcode ✓' });
    expect(onlySpan(decodeExportTraceServiceRequestJson(Buffer.from(json))).name).toBe('ünïcode ✓');
    expect(onlySpan(decodeExportTraceServiceRequestJson(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]))).name).toBe('ünïcode ✓');
  });

  it('accepts AnyValue nesting up to the limit', () => {
    let value: unknown = { stringValue: 'leaf' };
    for (let level = 1; level < MAX_ANY_VALUE_DEPTH; level++) value = { arrayValue: { values: [value] } };
    expect(() => decodeExportTraceServiceRequestJson(requestWithSpans({ attributes: [{ key: 'k', value }] }))).not.toThrow();
  });
});

describe('decodeExportTraceServiceRequestJson on malformed input', () => {
  it('describes JSON syntax errors by position without quoting the input', () => {
    expect(decodeError('{"a":}')).toBe('invalid JSON: Unexpected token } at position 5');
    expect(decodeError('')).toBe('invalid JSON: Unexpected end of input at position 0');
    expect(decodeError('{"resourceSpans": [')).toBe('invalid JSON: Unexpected end of input at position 19');
    expect(decodeError('{} x')).toBe('invalid JSON: Unexpected token x at position 3');
    expect(decodeError('[1,]')).toBe('invalid JSON: Unexpected token ] at position 3');
    expect(decodeError('{"a":1,}')).toBe('invalid JSON: Unexpected token } at position 7');
    expect(decodeError('{"a" 1}')).toBe('invalid JSON: Unexpected token 1 at position 5');
    expect(decodeError('{"a":tru}')).toBe('invalid JSON: Unexpected token } at position 8');
    expect(decodeError('{"a":01}')).toBe('invalid JSON: Unexpected token 1 at position 6');
    expect(decodeError('{"a":-}')).toBe('invalid JSON: Unexpected token } at position 6');
    expect(decodeError('{"a":1.}')).toBe('invalid JSON: Unexpected token } at position 7');
    expect(decodeError('{"a":"\u0001"}')).toBe('invalid JSON: Bad control character in string at position 6');
    expect(decodeError('{"a":"\\x"}')).toBe('invalid JSON: Bad escape in string at position 6');
    expect(decodeError('{"a":"\\u12"}')).toBe('invalid JSON: Bad Unicode escape in string at position 6');
    expect(decodeError('{"a":"open')).toBe('invalid JSON: Unexpected end of input at position 10');
    expect(decodeError('\u00a0{}')).toBe('invalid JSON: Unexpected token U+00A0 at position 0');
    const secret = 'sk_live_0123456789abcdefghijklmnopqrstuvwxyz';
    const message = decodeError(`{"resourceSpans": [{"token": "${secret}"}, oops]}`);
    expect(message).toBe('invalid JSON: Unexpected token o at position 78');
    expect(message).not.toContain('sk_live');
  });

  it('rejects a body that is not UTF-8 or not an object', () => {
    expect(decodeError(new Uint8Array([0x7b, 0xff, 0x7d]))).toBe('invalid JSON: body is not valid UTF-8');
    expect(decodeError('[]')).toBe('request body: expected a JSON object, got array');
    expect(decodeError('null')).toBe('request body: expected a JSON object, got null');
    expect(decodeError('"text"')).toBe('request body: expected a JSON object, got string');
  });

  it('names the JSON path of a value of the wrong type', () => {
    expect(decodeError('{"resourceSpans": {}}')).toBe('resourceSpans: expected an array, got object');
    expect(decodeError('{"resource_spans": 5}')).toBe('resource_spans: expected an array, got number');
    expect(decodeError('{"resourceSpans": [1]}')).toBe('resourceSpans[0]: expected an object, got number');
    expect(decodeError(JSON.stringify({ resourceSpans: [{ scopeSpans: [{}, { spans: [{}, {}, { name: 7 }] }] }] }))).toBe(
      'resourceSpans[0].scopeSpans[1].spans[2].name: expected a string, got number',
    );
    expect(decodeError(JSON.stringify({ resourceSpans: [{ resource: [] }] }))).toBe('resourceSpans[0].resource: expected an object, got array');
    expect(decodeError(JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 1 }] } }] }))).toBe(
      'resourceSpans[0].resource.attributes[0].key: expected a string, got number',
    );
    expect(decodeError(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ scope: { version: true } }] }] }))).toBe(
      'resourceSpans[0].scopeSpans[0].scope.version: expected a string, got boolean',
    );
    const inSpan = 'resourceSpans[0].scopeSpans[0].spans[0]';
    expect(decodeError(requestWithSpans({ status: [] }))).toBe(`${inSpan}.status: expected an object, got array`);
    expect(decodeError(requestWithSpans({ status: { code: 'BROKEN' } }))).toBe(`${inSpan}.status.code: expected a StatusCode number or name, got "BROKEN"`);
    expect(decodeError(requestWithSpans({ kind: 'SPAN_KIND_FOO' }))).toBe(`${inSpan}.kind: expected a SpanKind number or name, got "SPAN_KIND_FOO"`);
    expect(decodeError(requestWithSpans({ kind: 1.5 }))).toBe(`${inSpan}.kind: expected a SpanKind number or name, got 1.5`);
    expect(decodeError(requestWithSpans({ kind: 'toString' }))).toBe(`${inSpan}.kind: expected a SpanKind number or name, got "toString"`);
    expect(decodeError(requestWithSpans({ droppedAttributesCount: -1 }))).toBe(`${inSpan}.droppedAttributesCount: expected a uint32, got -1`);
    expect(decodeError(requestWithSpans({ flags: 2 ** 32 }))).toBe(`${inSpan}.flags: expected a uint32, got 4294967296`);
    expect(decodeError(requestWithSpans({ start_time_unix_nano: -1 }))).toBe(`${inSpan}.start_time_unix_nano: expected an unsigned 64-bit integer, got -1`);
    expect(decodeError(requestWithSpans({ endTimeUnixNano: '18446744073709551616' }))).toBe(
      `${inSpan}.endTimeUnixNano: expected an unsigned 64-bit integer, got "18446744073709551616"`,
    );
    expect(decodeError(requestWithSpans({ events: [{ timeUnixNano: '1.5' }] }))).toBe(
      `${inSpan}.events[0].timeUnixNano: expected an unsigned 64-bit integer, got "1.5"`,
    );
    expect(decodeError(requestWithSpans({ links: [{ attributes: 'none' }] }))).toBe(`${inSpan}.links[0].attributes: expected an array, got string`);
  });

  it('rejects ids that are not hex of whole bytes, quoting at most 32 characters', () => {
    const inSpan = 'resourceSpans[0].scopeSpans[0].spans[0]';
    expect(decodeError(requestWithSpans({ traceId: 'xyz' }))).toBe(`${inSpan}.traceId: expected an even-length hex string, got "xyz"`);
    expect(decodeError(requestWithSpans({ spanId: 'abc' }))).toBe(`${inSpan}.spanId: expected an even-length hex string, got "abc"`);
    expect(decodeError(requestWithSpans({ parentSpanId: 'ＡＢ' }))).toBe(`${inSpan}.parentSpanId: expected an even-length hex string, got "ＡＢ"`);
    expect(decodeError(requestWithSpans({ links: [{ trace_id: 12 }] }))).toBe(`${inSpan}.links[0].trace_id: expected a string, got number`);
    const secret = `Bearer ${'s'.repeat(100)}`;
    expect(decodeError(requestWithSpans({ traceId: secret }))).toBe(
      `${inSpan}.traceId: expected an even-length hex string, got "Bearer sssssssssssssssssssssssss"... (107 characters)`,
    );
  });

  it('rejects AnyValues of the wrong shape', () => {
    const value = (anyValue: unknown) => requestWithSpans({ attributes: [{ key: 'k', value: anyValue }] });
    const at = 'resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value';
    expect(decodeError(value('plain'))).toBe(`${at}: expected an object, got string`);
    expect(decodeError(value({ stringValue: 'a', intValue: '1' }))).toBe(`${at}: expected one value, got both stringValue and intValue`);
    expect(decodeError(value({ stringValue: 1 }))).toBe(`${at}.stringValue: expected a string, got number`);
    expect(decodeError(value({ boolValue: 'true' }))).toBe(`${at}.boolValue: expected a boolean, got string`);
    expect(decodeError(value({ intValue: 1.5 }))).toBe(`${at}.intValue: expected a signed 64-bit integer, got 1.5`);
    expect(decodeError(value({ intValue: '9223372036854775808' }))).toBe(`${at}.intValue: expected a signed 64-bit integer, got "9223372036854775808"`);
    expect(decodeError(value({ int_value: '0x10' }))).toBe(`${at}.int_value: expected a signed 64-bit integer, got "0x10"`);
    expect(decodeError(value({ doubleValue: 'fast' }))).toBe(`${at}.doubleValue: expected a number, got "fast"`);
    expect(decodeError(value({ doubleValue: true }))).toBe(`${at}.doubleValue: expected a number, got boolean`);
    expect(decodeError(value({ bytesValue: '@@@@' }))).toBe(`${at}.bytesValue: expected base64, got "@@@@"`);
    expect(decodeError(value({ bytesValue: 'abcde' }))).toBe(`${at}.bytesValue: expected base64, got "abcde"`);
    expect(decodeError(value({ bytesValue: 'ab=c' }))).toBe(`${at}.bytesValue: expected base64, got "ab=c"`);
    expect(decodeError(value({ bytesValue: 'abc==' }))).toBe(`${at}.bytesValue: expected base64, got "abc=="`);
    expect(decodeError(value({ arrayValue: [] }))).toBe(`${at}.arrayValue: expected an object, got array`);
    expect(decodeError(value({ arrayValue: { values: {} } }))).toBe(`${at}.arrayValue.values: expected an array, got object`);
    expect(decodeError(value({ arrayValue: { values: [{}, 'x'] } }))).toBe(`${at}.arrayValue.values[1]: expected an object, got string`);
    expect(decodeError(value({ kvlistValue: { values: [{ key: 'a', value: { intValue: true } }] } }))).toBe(
      `${at}.kvlistValue.values[0].value.intValue: expected a signed 64-bit integer, got boolean`,
    );
  });

  it('rejects AnyValue nesting deeper than the limit, naming the path', () => {
    let value: unknown = { stringValue: 'leaf' };
    for (let level = 1; level <= MAX_ANY_VALUE_DEPTH; level++) value = { kvlistValue: { values: [{ key: 'k', value }] } };
    const at = 'resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value';
    expect(decodeError(requestWithSpans({ attributes: [{ key: 'k', value }] }))).toBe(
      `${at}${'.kvlistValue.values[0].value'.repeat(MAX_ANY_VALUE_DEPTH)}: AnyValue nested deeper than 32 levels`,
    );
    // Nesting far beyond the limit is stopped at the limit, not by the stack.
    const levels = 50_000;
    const deep = `${'{"arrayValue":{"values":['.repeat(levels)}{}${']}}'.repeat(levels)}`;
    const body = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":${deep}}]}]}]}]}`;
    expect(decodeError(body)).toMatch(/: AnyValue nested deeper than 32 levels$/);
  });

  it('throws nothing but OtlpDecodeError for any value of any type at any position', () => {
    const valid = JSON.parse(encodeExportTraceServiceRequestJson(JSON_EDGE_CASES)) as unknown;
    const replacements: unknown[] = [null, 0, -1, 1.5, 2 ** 64, '', 'x', 'NaN', '-1', true, [], [null], {}, { key: 1 }];
    expect(fuzzJsonDecoder(valid, decodeExportTraceServiceRequestJson, replacements)).toBeGreaterThan(1000);
  });

  it('throws nothing but OtlpDecodeError on random corruption of the text', () => {
    const valid = encodeExportTraceServiceRequestJson(JSON_EDGE_CASES);
    const alphabet = '{}[]":,0123456789-.eE+ \\ux"nulltruefalse';
    const random = seededIntegers(0x1234567);
    for (let trial = 0; trial < 3000; trial++) {
      const chars = [...valid];
      for (let edits = 1 + random(3); edits > 0; edits--) chars[random(chars.length)] = alphabet[random(alphabet.length)]!;
      try {
        decodeExportTraceServiceRequestJson(chars.join(''));
      } catch (error) {
        if (!(error instanceof OtlpDecodeError)) throw error;
        expect(error.message).not.toMatch(/could not be parsed/);
      }
    }
  });
});

describe('JSON response encoders', () => {
  it('encodes full success as {} and partial success with int64 as a string', () => {
    expect(encodeExportTraceServiceResponseJson(0, '')).toBe('{}');
    expect(encodeExportTraceServiceResponseJson(3, 'bad "spans"')).toBe('{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad \\"spans\\""}}');
    expect(encodeExportTraceServiceResponseJson(0, 'warning')).toBe('{"partialSuccess":{"errorMessage":"warning"}}');
    expect(encodeExportTraceServiceResponseJson(7, '')).toBe('{"partialSuccess":{"rejectedSpans":"7"}}');
    expect(JsonTraceSerializer.deserializeResponse(Buffer.from(encodeExportTraceServiceResponseJson(3, 'x')))).toEqual({
      partialSuccess: { rejectedSpans: '3', errorMessage: 'x' },
    });
  });

  it('encodes google.rpc.Status', () => {
    expect(encodeRpcStatusJson(3, 'bad "input"')).toBe('{"code":3,"message":"bad \\"input\\""}');
    expect(encodeRpcStatusJson(14, '')).toBe('{"code":14,"message":""}');
  });
});
