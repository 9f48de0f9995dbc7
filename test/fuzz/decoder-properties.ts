/**
 * Property-based fuzzing of every OTLP decoder chainwatch runs on untrusted bytes — protobuf and
 * JSON, traces and logs — and of the storage transcoder, with fast-check. Shared by the test
 * (`decoders.fuzz.test.ts`, ≥ 100,000 inputs in `npm test`) and the script (`npm run fuzz`, a
 * million by default).
 *
 * Inputs reach deep: valid requests generated from the models (every field, nested AnyValue
 * arrays and key-value lists, unicode including lone surrogates) and encoded with chainwatch's
 * encoders; those encodings mutated (bytes replaced, inserted, deleted, truncated, spliced with
 * another, tags rewritten to another wire type, length prefixes inflated); and raw random bytes
 * or text. Properties:
 * - a decoder returns data or throws OtlpDecodeError — never anything else;
 * - what it accepts re-encodes to bytes it decodes to the same data (no silent corruption);
 * - a valid model survives encode → decode unchanged;
 * - the storage transcoder accepts exactly the messages the reference decoder accepts.
 */
import fc from 'fast-check';
import { OtlpDecodeError } from '../../collector/otlp-decode-error.js';
import { decodeExportLogsServiceRequestJson, encodeExportLogsServiceRequestJson } from '../../collector/otlp-json-logs.js';
import { decodeExportTraceServiceRequestJson, encodeExportTraceServiceRequestJson } from '../../collector/otlp-json.js';
import { decodeExportLogsServiceRequest, encodeExportLogsServiceRequest } from '../../collector/otlp-protobuf-logs.js';
import { decodeExportTraceServiceRequest, encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { transcodeSpanMessages } from '../../processors/storage/span-transcoder.js';
import type { AnyValue, KeyValue } from '../../schemas/otlp-common.js';
import type { LogRecord, LogsData } from '../../schemas/otlp-logs.js';
import type { Span, TracesData } from '../../schemas/otlp-traces.js';

// ---------------------------------------------------------------------------------------------
// Models

const hexId = (bytes: number): fc.Arbitrary<string> =>
  fc.oneof({ weight: 1, arbitrary: fc.constant('') }, { weight: 6, arbitrary: fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex')) });
const text = fc.oneof(fc.string({ maxLength: 24 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('', 'service.name', 'http.request.method', 'ünïcödé 日本 🚀'));
const uint64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });

const anyValue: fc.Arbitrary<AnyValue> = fc.letrec<{ value: AnyValue; kv: KeyValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.boolean(),
    fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
    fc.double({ noNaN: true }),
    fc.uint8Array({ maxLength: 16 }),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(tie('kv'), { maxLength: 4 }).map((kvlist) => ({ kvlist })),
  ),
  kv: fc.record({ key: text, value: tie('value') }),
})).value;
const attributes = fc.array(fc.record({ key: text, value: anyValue }), { maxLength: 5 });
const resource = fc.record({ attributes, droppedAttributesCount: uint32 });
const scope = fc.record({ name: text, version: text, attributes, droppedAttributesCount: uint32 });

const span: fc.Arbitrary<Span> = fc.record({
  traceId: hexId(16),
  spanId: hexId(8),
  traceState: text,
  parentSpanId: hexId(8),
  flags: uint32,
  name: text,
  kind: fc.integer({ min: 0, max: 5 }),
  startTimeUnixNano: uint64,
  endTimeUnixNano: uint64,
  attributes,
  droppedAttributesCount: uint32,
  events: fc.array(fc.record({ timeUnixNano: uint64, name: text, attributes, droppedAttributesCount: uint32 }), { maxLength: 2 }),
  droppedEventsCount: uint32,
  links: fc.array(fc.record({ traceId: hexId(16), spanId: hexId(8), traceState: text, attributes, droppedAttributesCount: uint32, flags: uint32 }), { maxLength: 2 }),
  droppedLinksCount: uint32,
  status: fc.record({ message: text, code: fc.integer({ min: 0, max: 2 }) }),
});

const logRecord: fc.Arbitrary<LogRecord> = fc.record({
  timeUnixNano: uint64,
  observedTimeUnixNano: uint64,
  severityNumber: fc.integer({ min: 0, max: 24 }),
  severityText: text,
  body: anyValue,
  attributes,
  droppedAttributesCount: uint32,
  flags: uint32,
  traceId: hexId(16),
  spanId: hexId(8),
  eventName: text,
});

export const tracesData: fc.Arbitrary<TracesData> = fc
  .array(
    fc.record({
      resource,
      scopeSpans: fc.array(fc.record({ scope, spans: fc.array(span, { maxLength: 3 }), schemaUrl: text }), { maxLength: 2 }),
      schemaUrl: text,
    }),
    { maxLength: 2 },
  )
  .map((resourceSpans) => ({ resourceSpans }));

export const logsData: fc.Arbitrary<LogsData> = fc
  .array(
    fc.record({
      resource,
      scopeLogs: fc.array(fc.record({ scope, logRecords: fc.array(logRecord, { maxLength: 3 }), schemaUrl: text }), { maxLength: 2 }),
      schemaUrl: text,
    }),
    { maxLength: 2 },
  )
  .map((resourceLogs) => ({ resourceLogs }));

// ---------------------------------------------------------------------------------------------
// Mutations of encoded bytes

type Mutation =
  | { kind: 'replace'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'wire-type'; at: number; wire: number }
  | { kind: 'inflate-length'; at: number; varint: Uint8Array };

const at = fc.nat({ max: 1 << 16 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('delete' as const), at, count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at }),
  fc.record({ kind: fc.constant('wire-type' as const), at, wire: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('inflate-length' as const),
    at,
    varint: fc.constantFrom(Uint8Array.of(0x7f), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80)),
  }),
);

export function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(bytes);
  for (const m of mutations) {
    const i = b.length === 0 ? 0 : m.at % (b.length + (m.kind === 'insert' ? 1 : 0));
    switch (m.kind) {
      case 'replace':
        if (b.length > 0) b[i] = m.byte;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, i), m.bytes, b.subarray(i)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.count)]);
        break;
      case 'truncate':
        b = b.subarray(0, i);
        break;
      case 'wire-type':
        if (b.length > 0) b[i] = (b[i]! & 0xf8) | m.wire;
        break;
      case 'inflate-length':
        // Replace the byte after a tag-looking byte (a length prefix, often) with a huge varint.
        b = Buffer.concat([b.subarray(0, i + 1), m.varint, b.subarray(i + 2)]);
        break;
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Properties

export type Outcome<T> = { ok: true; value: T } | { ok: false };

/** What the decoders did with the inputs so far (for the script's report). */
export const decodeStats = { accepted: 0, rejected: 0, slowestMs: 0, slowestBytes: 0 };

/** Runs `decode`; OtlpDecodeError is a rejection, anything else thrown fails the property. */
export function decodeOrReject<T>(decode: () => T, inputBytes = 0): Outcome<T> {
  const started = performance.now();
  try {
    const value = decode();
    decodeStats.accepted++;
    return { ok: true, value };
  } catch (err) {
    decodeStats.rejected++;
    if (err instanceof OtlpDecodeError) return { ok: false };
    throw new Error(`decoder threw ${(err as Error)?.constructor?.name ?? typeof err} instead of OtlpDecodeError: ${(err as Error)?.message}`, { cause: err });
  } finally {
    const ms = performance.now() - started;
    if (ms > decodeStats.slowestMs) {
      decodeStats.slowestMs = ms;
      decodeStats.slowestBytes = inputBytes;
    }
  }
}

interface Codec<D> {
  decode(bytes: Uint8Array): D;
  encode(data: D): Uint8Array;
}

const protobufTraces: Codec<TracesData> = { decode: decodeExportTraceServiceRequest, encode: encodeExportTraceServiceRequest };
const protobufLogs: Codec<LogsData> = { decode: decodeExportLogsServiceRequest, encode: encodeExportLogsServiceRequest };
const jsonTraces: Codec<TracesData> = { decode: decodeExportTraceServiceRequestJson, encode: (d) => Buffer.from(encodeExportTraceServiceRequestJson(d)) };
const jsonLogs: Codec<LogsData> = { decode: decodeExportLogsServiceRequestJson, encode: (d) => Buffer.from(encodeExportLogsServiceRequestJson(d)) };

/** Accepted input re-encodes to bytes that decode to the same data. */
function stable<D>(codec: Codec<D>, bytes: Uint8Array): boolean {
  const first = decodeOrReject(() => codec.decode(bytes), bytes.length);
  if (!first.ok) return true;
  const again = codec.decode(codec.encode(first.value));
  return sameEncoding(codec, again, first.value);
}

function sameEncoding<D>(codec: Codec<D>, a: D, b: D): boolean {
  return Buffer.from(codec.encode(a)).equals(Buffer.from(codec.encode(b)));
}

/** A property and its share of the runs. */
export interface FuzzProperty {
  name: string;
  share: number;
  property: fc.IProperty<unknown[]>;
}

function roundTrip<D>(name: string, share: number, model: fc.Arbitrary<D>, codec: Codec<D>): FuzzProperty {
  return {
    name,
    share,
    property: fc.property(model, (data) => {
      const decoded = codec.decode(codec.encode(data));
      return sameEncoding(codec, decoded, data);
    }) as fc.IProperty<unknown[]>,
  };
}

function mutated<D>(name: string, share: number, model: fc.Arbitrary<D>, codec: Codec<D>): FuzzProperty {
  return {
    name,
    share,
    property: fc.property(model, fc.array(mutation, { minLength: 1, maxLength: 4 }), (data, mutations) => stable(codec, mutate(codec.encode(data), mutations))) as fc.IProperty<
      unknown[]
    >,
  };
}

function randomBytes<D>(name: string, share: number, codec: Codec<D>, bytes: fc.Arbitrary<Uint8Array>): FuzzProperty {
  return { name, share, property: fc.property(bytes, (b) => stable(codec, b)) as fc.IProperty<unknown[]> };
}

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const jsonish = fc.oneof(
  fc.json({ maxDepth: 6 }).map(utf8),
  fc.string({ unit: 'binary', maxLength: 64 }).map(utf8),
  // Deep nesting: arrays and objects far beyond any sane depth.
  fc.integer({ min: 1, max: 20_000 }).map((n) => utf8('['.repeat(n) + ']'.repeat(n))),
  fc.integer({ min: 1, max: 5_000 }).map((n) => utf8(`{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":${'{"arrayValue":{"values":['.repeat(n)}${']}}'.repeat(n)}}]}}]}`)),
  fc.uint8Array({ maxLength: 64 }),
);

/** The transcoder accepts and rejects exactly what the reference decoder does. */
const transcoderAgrees: FuzzProperty = {
  name: 'storage transcoder agrees with the reference decoder (mutated traces)',
  share: 8,
  property: fc.property(tracesData, fc.array(mutation, { maxLength: 3 }), (data, mutations) => {
    const bytes = mutate(encodeExportTraceServiceRequest(data), mutations);
    const reference = decodeOrReject(() => decodeExportTraceServiceRequest(bytes), bytes.length);
    const rejected: string[] = [];
    let batch;
    try {
      batch = transcodeSpanMessages([{ key: null, offset: '0', value: bytes }], (_m, reason) => rejected.push(reason));
    } catch (err) {
      throw new Error(`transcoder threw ${(err as Error).constructor.name}: ${(err as Error).message}`, { cause: err });
    }
    batch.release();
    return reference.ok ? rejected.length === 0 : rejected.length === 1;
  }) as fc.IProperty<unknown[]>,
};

/** Every property, with its share of the runs (shares sum to 100). */
export const FUZZ_PROPERTIES: readonly FuzzProperty[] = [
  roundTrip('protobuf traces round trip', 6, tracesData, protobufTraces),
  mutated('protobuf traces, mutated encodings', 16, tracesData, protobufTraces),
  randomBytes('protobuf traces, random bytes', 8, protobufTraces, fc.uint8Array({ maxLength: 256 })),
  roundTrip('protobuf logs round trip', 5, logsData, protobufLogs),
  mutated('protobuf logs, mutated encodings', 12, logsData, protobufLogs),
  randomBytes('protobuf logs, random bytes', 6, protobufLogs, fc.uint8Array({ maxLength: 256 })),
  roundTrip('JSON traces round trip', 5, tracesData, jsonTraces),
  mutated('JSON traces, mutated text', 10, tracesData, jsonTraces),
  randomBytes('JSON traces, random and deeply nested text', 6, jsonTraces, jsonish),
  roundTrip('JSON logs round trip', 4, logsData, jsonLogs),
  mutated('JSON logs, mutated text', 8, logsData, jsonLogs),
  randomBytes('JSON logs, random and deeply nested text', 6, jsonLogs, jsonish),
  transcoderAgrees,
];
