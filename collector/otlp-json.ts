/**
 * OTLP/JSON codec for traces (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * ExportTraceServiceRequest <-> TracesData, and the JSON forms of the receiver's responses. The
 * field readers, AnyValue/KeyValue/Resource/InstrumentationScope and the resource/scope grouping
 * are written once here, generic over a {@link JsonSignalCodec}; `otlp-json-logs.ts` adds the
 * log records on top.
 *
 * Decoding is JSON.parse followed by a validating walk. It accepts what protobuf JSON parsers
 * accept: lowerCamelCase keys or the original snake_case field names; ids as hex of either case;
 * enums as integers or names; 64-bit integers as numbers or decimal strings; doubles as numbers,
 * numeric strings or "NaN"/"Infinity"/"-Infinity"; bytes as standard or URL-safe base64, padded or
 * not. Unknown keys are ignored, null means "default". Anything else, including a wrong type or
 * more than one member of AnyValue's oneof, throws OtlpDecodeError naming the JSON path (e.g.
 * `resourceSpans[0].scopeSpans[1].spans[2].name: expected a string, got number`); nothing else is
 * thrown. Lone UTF-16 surrogates in strings are passed through (the protobuf encoder writes them
 * as U+FFFD).
 */

import { Buffer } from 'node:buffer';

import type { AnyValue, InstrumentationScope, KeyValue, Resource, ResourceGroup, ScopeGroup, SignalLayout } from '../schemas/otlp-common.js';
import { TRACES_LAYOUT, type ResourceSpans, type ScopeSpans, type Span, type SpanEvent, type SpanLink, type SpanStatus, type TracesData } from '../schemas/otlp-traces.js';
import { normalizeHex } from './hex.js';
import { OtlpDecodeError, quoteExcerpt } from './otlp-decode-error.js';
import { MAX_ANY_VALUE_DEPTH } from './otlp-protobuf.js';

export type JsonObject = { readonly [key: string]: unknown };

/**
 * A problem at `path`, relative to the value being decoded when thrown; each enclosing level
 * prefixes its own segment on the way out, so paths cost nothing unless something is wrong.
 */
export class JsonFieldProblem {
  constructor(
    public path: string,
    readonly problem: string,
  ) {}
}

function withPathPrefix(error: unknown, segment: string): unknown {
  if (error instanceof JsonFieldProblem) {
    error.path = error.path === '' ? segment : error.path.startsWith('[') ? segment + error.path : `${segment}.${error.path}`;
  }
  return error;
}

function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** How a rejected value is shown: strings as a capped excerpt, numbers as such, else the type. */
function describeJsonValue(value: unknown): string {
  if (typeof value === 'string') return quoteExcerpt(value);
  if (typeof value === 'number') return String(value);
  return jsonTypeName(value);
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The member under its lowerCamelCase name, else under its proto field name. */
function member(object: JsonObject, camelName: string, snakeName: string): unknown {
  const value = object[camelName];
  return value !== undefined || camelName === snakeName ? value : object[snakeName];
}

/** The key a member was found under, for error paths. */
function memberKey(object: JsonObject, camelName: string, snakeName: string): string {
  return object[camelName] !== undefined ? camelName : snakeName;
}

function problemAt(object: JsonObject, camelName: string, snakeName: string, problem: string): JsonFieldProblem {
  return new JsonFieldProblem(memberKey(object, camelName, snakeName), problem);
}

export function readString(object: JsonObject, camelName: string, snakeName: string): string {
  const value = member(object, camelName, snakeName);
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') {
    throw problemAt(object, camelName, snakeName, `expected a string, got ${jsonTypeName(value)}`);
  }
  return value;
}

function readObject(object: JsonObject, camelName: string, snakeName: string): JsonObject | undefined {
  const value = member(object, camelName, snakeName);
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw problemAt(object, camelName, snakeName, `expected an object, got ${jsonTypeName(value)}`);
  return value;
}

export function readHexId(object: JsonObject, camelName: string, snakeName: string): string {
  const hex = readString(object, camelName, snakeName);
  const normalized = normalizeHex(hex);
  if (normalized === undefined) {
    throw problemAt(object, camelName, snakeName, `expected an even-length hex string, got ${quoteExcerpt(hex)}`);
  }
  return normalized;
}

const DECIMAL_DIGITS = /^\d+$/;
const SIGNED_DECIMAL = /^-?\d+$/;
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

const UINT32_MAX = 0xffff_ffff;
const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** uint32 and fixed32 fields: an integer number or a decimal string. */
export function readUint32(object: JsonObject, camelName: string, snakeName: string): number {
  const value = member(object, camelName, snakeName);
  if (value === undefined || value === null) return 0;
  const number = typeof value === 'string' && DECIMAL_DIGITS.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > UINT32_MAX) {
    throw problemAt(object, camelName, snakeName, `expected a uint32, got ${describeJsonValue(value)}`);
  }
  return number;
}

/** Enum fields: an int32 or one of the value names. */
export function readEnum(
  object: JsonObject,
  camelName: string,
  snakeName: string,
  enumName: string,
  valuesByName: Readonly<Record<string, number>>,
): number {
  const value = member(object, camelName, snakeName);
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) return value;
  if (typeof value === 'string' && Object.hasOwn(valuesByName, value)) return valuesByName[value]!;
  throw problemAt(object, camelName, snakeName, `expected a ${enumName} number or name, got ${describeJsonValue(value)}`);
}

const SPAN_KIND_BY_NAME: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

const STATUS_CODE_BY_NAME: Readonly<Record<string, number>> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

/** An integral JSON number or decimal string as a bigint within [min, max]; undefined if not. */
function toBigIntInRange(value: unknown, min: bigint, max: bigint): bigint | undefined {
  let result: bigint;
  if (typeof value === 'number' && Number.isInteger(value)) result = BigInt(value);
  else if (typeof value === 'string' && SIGNED_DECIMAL.test(value)) result = BigInt(value);
  else return undefined;
  return result >= min && result <= max ? result : undefined;
}

/** fixed64 timestamps. JSON numbers above 2^53 have already lost precision in JSON.parse; strings do not. */
export function readFixed64(object: JsonObject, camelName: string, snakeName: string): bigint {
  const value = member(object, camelName, snakeName);
  if (value === undefined || value === null) return 0n;
  const result = toBigIntInRange(value, 0n, UINT64_MAX);
  if (result === undefined) {
    throw problemAt(object, camelName, snakeName, `expected an unsigned 64-bit integer, got ${describeJsonValue(value)}`);
  }
  return result;
}

const NON_FINITE_DOUBLES: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

function toDouble(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  if (Object.hasOwn(NON_FINITE_DOUBLES, value)) return NON_FINITE_DOUBLES[value];
  return JSON_NUMBER.test(value) ? Number(value) : undefined;
}

const BASE64_TEXT = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/** Standard or URL-safe base64, padding optional (as protobuf JSON parsers accept). */
function toBytes(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string' || !BASE64_TEXT.test(value)) return undefined;
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  const dataLength = value.length - padding;
  if ((padding > 0 && value.length % 4 !== 0) || dataLength % 4 === 1) return undefined;
  return new Uint8Array(Buffer.from(value, 'base64'));
}

/** Decodes a JSON array member element by element, prefixing errors with `key[index]`. */
export function readList<T>(
  object: JsonObject,
  camelName: string,
  snakeName: string,
  decodeElement: (element: unknown, depth: number) => T,
  depth: number,
): T[] {
  const value = member(object, camelName, snakeName);
  if (value === undefined || value === null) return [];
  const key = memberKey(object, camelName, snakeName);
  if (!Array.isArray(value)) throw new JsonFieldProblem(key, `expected an array, got ${jsonTypeName(value)}`);
  const result: T[] = [];
  for (let i = 0; i < value.length; i++) {
    try {
      result.push(decodeElement(value[i], depth));
    } catch (error) {
      throw withPathPrefix(error, `${key}[${i}]`);
    }
  }
  return result;
}

/** Decodes an object member, prefixing errors with its key. */
function readMessage<T>(
  object: JsonObject,
  camelName: string,
  snakeName: string,
  decodeMessage: (message: JsonObject) => T,
): T {
  const message = readObject(object, camelName, snakeName) ?? {};
  try {
    return decodeMessage(message);
  } catch (error) {
    throw withPathPrefix(error, memberKey(object, camelName, snakeName));
  }
}

export function expectObject(value: unknown): JsonObject {
  if (!isJsonObject(value)) throw new JsonFieldProblem('', `expected an object, got ${jsonTypeName(value)}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Decoding

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A JSON member's lowerCamelCase name and its proto field name. */
export type JsonName = readonly [camelName: string, snakeName: string];

/**
 * What the generic parts of the JSON codec need to know about one signal: how its request nests,
 * the names of its three lists, and how to read and write one record.
 */
export interface JsonSignalCodec<D, R extends ResourceGroup, S extends ScopeGroup, I> {
  readonly layout: SignalLayout<D, R, S, I>;
  /** `resourceSpans` / `resourceLogs`. */
  readonly resourceGroups: JsonName;
  /** `scopeSpans` / `scopeLogs`. */
  readonly scopeGroups: JsonName;
  /** `spans` / `logRecords`. */
  readonly records: JsonName;
  decodeRecord(json: unknown): I;
  recordToJson(record: I): JsonOut;
}

/** Decodes an OTLP/JSON Export…ServiceRequest of `codec`'s signal. Throws OtlpDecodeError on malformed input. */
export function decodeExportRequestJson<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: JsonSignalCodec<D, R, S, I>, body: string | Uint8Array): D {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      text = utf8.decode(body);
    } catch {
      throw new OtlpDecodeError('invalid JSON: body is not valid UTF-8');
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // V8's own message can quote the input, which may hold secrets: describe the error ourselves.
    throw new OtlpDecodeError(`invalid JSON: ${describeJsonSyntaxError(text)}`);
  }
  if (!isJsonObject(json)) throw new OtlpDecodeError(`request body: expected a JSON object, got ${jsonTypeName(json)}`);
  try {
    return codec.layout.request(readList(json, ...codec.resourceGroups, (element) => decodeResourceGroup(codec, element), 0));
  } catch (error) {
    if (error instanceof JsonFieldProblem) throw new OtlpDecodeError(`${error.path}: ${error.problem}`);
    throw error;
  }
}

function decodeResourceGroup<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: JsonSignalCodec<D, R, S, I>, json: unknown): R {
  const object = expectObject(json);
  const group = codec.layout.resourceGroup(readMessage(object, 'resource', 'resource', decodeResource), readString(object, 'schemaUrl', 'schema_url'));
  codec.layout.scopeGroups(group).push(...readList(object, ...codec.scopeGroups, (element) => decodeScopeGroup(codec, element), 0));
  return group;
}

function decodeScopeGroup<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: JsonSignalCodec<D, R, S, I>, json: unknown): S {
  const object = expectObject(json);
  const group = codec.layout.scopeGroup(readMessage(object, 'scope', 'scope', decodeScope), readString(object, 'schemaUrl', 'schema_url'));
  codec.layout.records(group).push(...readList(object, ...codec.records, codec.decodeRecord, 0));
  return group;
}

function decodeResource(object: JsonObject): Resource {
  return {
    attributes: readList(object, 'attributes', 'attributes', decodeKeyValue, 1),
    droppedAttributesCount: readUint32(object, 'droppedAttributesCount', 'dropped_attributes_count'),
  };
}

function decodeScope(object: JsonObject): InstrumentationScope {
  return {
    name: readString(object, 'name', 'name'),
    version: readString(object, 'version', 'version'),
    attributes: readList(object, 'attributes', 'attributes', decodeKeyValue, 1),
    droppedAttributesCount: readUint32(object, 'droppedAttributesCount', 'dropped_attributes_count'),
  };
}

function decodeSpan(json: unknown): Span {
  const object = expectObject(json);
  return {
    traceId: readHexId(object, 'traceId', 'trace_id'),
    spanId: readHexId(object, 'spanId', 'span_id'),
    traceState: readString(object, 'traceState', 'trace_state'),
    parentSpanId: readHexId(object, 'parentSpanId', 'parent_span_id'),
    flags: readUint32(object, 'flags', 'flags'),
    name: readString(object, 'name', 'name'),
    kind: readEnum(object, 'kind', 'kind', 'SpanKind', SPAN_KIND_BY_NAME),
    startTimeUnixNano: readFixed64(object, 'startTimeUnixNano', 'start_time_unix_nano'),
    endTimeUnixNano: readFixed64(object, 'endTimeUnixNano', 'end_time_unix_nano'),
    attributes: readList(object, 'attributes', 'attributes', decodeKeyValue, 1),
    droppedAttributesCount: readUint32(object, 'droppedAttributesCount', 'dropped_attributes_count'),
    events: readList(object, 'events', 'events', decodeEvent, 0),
    droppedEventsCount: readUint32(object, 'droppedEventsCount', 'dropped_events_count'),
    links: readList(object, 'links', 'links', decodeLink, 0),
    droppedLinksCount: readUint32(object, 'droppedLinksCount', 'dropped_links_count'),
    status: readMessage(object, 'status', 'status', decodeStatus),
  };
}

function decodeEvent(json: unknown): SpanEvent {
  const object = expectObject(json);
  return {
    timeUnixNano: readFixed64(object, 'timeUnixNano', 'time_unix_nano'),
    name: readString(object, 'name', 'name'),
    attributes: readList(object, 'attributes', 'attributes', decodeKeyValue, 1),
    droppedAttributesCount: readUint32(object, 'droppedAttributesCount', 'dropped_attributes_count'),
  };
}

function decodeLink(json: unknown): SpanLink {
  const object = expectObject(json);
  return {
    traceId: readHexId(object, 'traceId', 'trace_id'),
    spanId: readHexId(object, 'spanId', 'span_id'),
    traceState: readString(object, 'traceState', 'trace_state'),
    attributes: readList(object, 'attributes', 'attributes', decodeKeyValue, 1),
    droppedAttributesCount: readUint32(object, 'droppedAttributesCount', 'dropped_attributes_count'),
    flags: readUint32(object, 'flags', 'flags'),
  };
}

function decodeStatus(object: JsonObject): SpanStatus {
  return {
    message: readString(object, 'message', 'message'),
    code: readEnum(object, 'code', 'code', 'StatusCode', STATUS_CODE_BY_NAME),
  };
}

const TRACES_JSON_CODEC: JsonSignalCodec<TracesData, ResourceSpans, ScopeSpans, Span> = {
  layout: TRACES_LAYOUT,
  resourceGroups: ['resourceSpans', 'resource_spans'],
  scopeGroups: ['scopeSpans', 'scope_spans'],
  records: ['spans', 'spans'],
  decodeRecord: decodeSpan,
  recordToJson: spanToJson,
};

/** Decodes an OTLP/JSON ExportTraceServiceRequest. Throws OtlpDecodeError on malformed input. */
export function decodeExportTraceServiceRequestJson(body: string | Uint8Array): TracesData {
  return decodeExportRequestJson(TRACES_JSON_CODEC, body);
}

/** Encodes TracesData as OTLP/JSON, omitting default values as the protobuf JSON mapping does. */
export function encodeExportTraceServiceRequestJson(data: TracesData): string {
  return encodeExportRequestJson(TRACES_JSON_CODEC, data);
}

/** depth: nesting level of the pair's value (1 for an attribute of a span, resource, scope, event or link). */
export function decodeKeyValue(json: unknown, depth: number): KeyValue {
  const object = expectObject(json);
  return { key: readString(object, 'key', 'key'), value: readAnyValue(object, 'value', 'value', depth) };
}

/** An AnyValue member (a pair's value, a log body) at nesting level `depth`; null when absent. */
export function readAnyValue(object: JsonObject, camelName: string, snakeName: string, depth: number): AnyValue {
  const value = member(object, camelName, snakeName);
  if (value === undefined || value === null) return null;
  try {
    return decodeAnyValue(value, depth);
  } catch (error) {
    throw withPathPrefix(error, memberKey(object, camelName, snakeName));
  }
}

export function decodeAnyValue(json: unknown, depth: number): AnyValue {
  if (depth > MAX_ANY_VALUE_DEPTH) throw new JsonFieldProblem('', `AnyValue nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`);
  const object = expectObject(json);
  let value: AnyValue = null;
  let setBy: string | undefined;
  // One pass over the keys actually present: usually exactly one.
  for (const key in object) {
    const member = object[key];
    if (member === null || member === undefined) continue;
    let decoded: AnyValue;
    switch (key) {
      case 'stringValue':
      case 'string_value':
        if (typeof member !== 'string') throw new JsonFieldProblem(key, `expected a string, got ${jsonTypeName(member)}`);
        decoded = member;
        break;
      case 'boolValue':
      case 'bool_value':
        if (typeof member !== 'boolean') throw new JsonFieldProblem(key, `expected a boolean, got ${jsonTypeName(member)}`);
        decoded = member;
        break;
      case 'intValue':
      case 'int_value': {
        const int = toBigIntInRange(member, INT64_MIN, INT64_MAX);
        if (int === undefined) throw new JsonFieldProblem(key, `expected a signed 64-bit integer, got ${describeJsonValue(member)}`);
        decoded = int;
        break;
      }
      case 'doubleValue':
      case 'double_value': {
        const double = toDouble(member);
        if (double === undefined) throw new JsonFieldProblem(key, `expected a number, got ${describeJsonValue(member)}`);
        decoded = double;
        break;
      }
      case 'bytesValue':
      case 'bytes_value': {
        const bytes = toBytes(member);
        if (bytes === undefined) throw new JsonFieldProblem(key, `expected base64, got ${describeJsonValue(member)}`);
        decoded = bytes;
        break;
      }
      case 'arrayValue':
      case 'array_value':
        decoded = readMessage(object, key, key, (array) => readList(array, 'values', 'values', decodeAnyValue, depth + 1));
        break;
      case 'kvlistValue':
      case 'kvlist_value':
        decoded = readMessage(object, key, key, (list) => ({
          kvlist: readList(list, 'values', 'values', decodeKeyValue, depth + 1),
        }));
        break;
      default:
        continue;
    }
    if (setBy !== undefined) throw new JsonFieldProblem('', `expected one value, got both ${setBy} and ${key}`);
    setBy = key;
    value = decoded;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// JSON syntax errors

function describeToken(text: string, offset: number): string {
  if (offset >= text.length) return `Unexpected end of input at position ${offset}`;
  const code = text.charCodeAt(offset);
  const token = code > 0x20 && code < 0x7f ? text[offset] : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return `Unexpected token ${token} at position ${offset}`;
}

/**
 * Why and where JSON.parse rejected text, found by a second, validate-only scan. Only runs on the
 * error path; reports at most one character of the input.
 */
function describeJsonSyntaxError(text: string): string {
  let i = 0;
  const n = text.length;
  const closers: number[] = [];
  const skipWhitespace = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
  };
  const skipDigits = (): boolean => {
    const start = i;
    while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
    return i > start;
  };
  /** Scans a string starting at its opening quote; returns a problem or undefined. */
  const scanString = (): string | undefined => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return undefined;
      }
      if (c < 0x20) return `Bad control character in string at position ${i}`;
      if (c === 0x5c) {
        const escape = text[i + 1];
        if (escape === undefined) return describeToken(text, n);
        if (escape === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return `Bad Unicode escape in string at position ${i}`;
          i += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(escape)) return `Bad escape in string at position ${i}`;
        i += 2;
        continue;
      }
      i++;
    }
    return describeToken(text, n);
  };
  const scanNumber = (): string | undefined => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (!skipDigits()) return describeToken(text, i);
    if (text[i] === '.') {
      i++;
      if (!skipDigits()) return describeToken(text, i);
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!skipDigits()) return describeToken(text, i);
    }
    return undefined;
  };
  /** Scans an object key and its colon. */
  const scanKey = (): string | undefined => {
    skipWhitespace();
    if (text[i] !== '"') return describeToken(text, i);
    const problem = scanString();
    if (problem) return problem;
    skipWhitespace();
    if (text[i] !== ':') return describeToken(text, i);
    i++;
    return undefined;
  };

  for (;;) {
    // A value.
    skipWhitespace();
    const c = text[i];
    let problem: string | undefined;
    if (c === '{' || c === '[') {
      i++;
      skipWhitespace();
      const closer = c === '{' ? '}' : ']';
      if (text[i] === closer) {
        i++;
      } else {
        closers.push(closer.charCodeAt(0));
        if (c === '{') {
          problem = scanKey();
          if (problem) return problem;
        }
        continue;
      }
    } else if (c === '"') {
      problem = scanString();
    } else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      problem = scanNumber();
    } else if (c === 't' || c === 'f' || c === 'n') {
      const literal = c === 't' ? 'true' : c === 'f' ? 'false' : 'null';
      for (let k = 0; k < literal.length; k++, i++) {
        if (text[i] !== literal[k]) return describeToken(text, i);
      }
    } else {
      return describeToken(text, i);
    }
    if (problem) return problem;
    // After a value: close containers, or a comma and the next value.
    for (;;) {
      skipWhitespace();
      const closer = closers[closers.length - 1];
      if (closer === undefined) {
        return i < n ? describeToken(text, i) : 'could not be parsed';
      }
      if (text.charCodeAt(i) === closer) {
        closers.pop();
        i++;
        continue;
      }
      if (text[i] !== ',') return describeToken(text, i);
      i++;
      if (closer === 0x7d /* } */) {
        problem = scanKey();
        if (problem) return problem;
      }
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Encodes a request of `codec`'s signal as OTLP/JSON, omitting default values as the protobuf JSON mapping does. */
export function encodeExportRequestJson<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: JsonSignalCodec<D, R, S, I>, data: D): string {
  return JSON.stringify({ [codec.resourceGroups[0]]: codec.layout.resourceGroups(data).map((group) => resourceGroupToJson(codec, group)) });
}

export type JsonOut = Record<string, unknown>;

export function setIf(json: JsonOut, key: string, value: unknown, present: boolean): void {
  if (present) json[key] = value;
}

function resourceGroupToJson<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: JsonSignalCodec<D, R, S, I>, group: R): JsonOut {
  const json: JsonOut = {};
  const resource = resourceToJson(group.resource);
  const scopeGroups = codec.layout.scopeGroups(group);
  setIf(json, 'resource', resource, Object.keys(resource).length > 0);
  setIf(json, codec.scopeGroups[0], scopeGroups.map((scopeGroup) => scopeGroupToJson(codec, scopeGroup)), scopeGroups.length > 0);
  setIf(json, 'schemaUrl', group.schemaUrl, group.schemaUrl !== '');
  return json;
}

function resourceToJson(resource: Resource): JsonOut {
  const json: JsonOut = {};
  setIf(json, 'attributes', resource.attributes.map(keyValueToJson), resource.attributes.length > 0);
  setIf(json, 'droppedAttributesCount', resource.droppedAttributesCount, resource.droppedAttributesCount !== 0);
  return json;
}

function scopeGroupToJson<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: JsonSignalCodec<D, R, S, I>, group: S): JsonOut {
  const json: JsonOut = {};
  const scope = scopeToJson(group.scope);
  const records = codec.layout.records(group);
  setIf(json, 'scope', scope, Object.keys(scope).length > 0);
  setIf(json, codec.records[0], records.map(codec.recordToJson), records.length > 0);
  setIf(json, 'schemaUrl', group.schemaUrl, group.schemaUrl !== '');
  return json;
}

function scopeToJson(scope: InstrumentationScope): JsonOut {
  const json: JsonOut = {};
  setIf(json, 'name', scope.name, scope.name !== '');
  setIf(json, 'version', scope.version, scope.version !== '');
  setIf(json, 'attributes', scope.attributes.map(keyValueToJson), scope.attributes.length > 0);
  setIf(json, 'droppedAttributesCount', scope.droppedAttributesCount, scope.droppedAttributesCount !== 0);
  return json;
}

function spanToJson(span: Span): JsonOut {
  const json: JsonOut = {};
  setIf(json, 'traceId', span.traceId, span.traceId !== '');
  setIf(json, 'spanId', span.spanId, span.spanId !== '');
  setIf(json, 'traceState', span.traceState, span.traceState !== '');
  setIf(json, 'parentSpanId', span.parentSpanId, span.parentSpanId !== '');
  setIf(json, 'flags', span.flags, span.flags !== 0);
  setIf(json, 'name', span.name, span.name !== '');
  setIf(json, 'kind', span.kind, span.kind !== 0);
  setIf(json, 'startTimeUnixNano', String(span.startTimeUnixNano), span.startTimeUnixNano !== 0n);
  setIf(json, 'endTimeUnixNano', String(span.endTimeUnixNano), span.endTimeUnixNano !== 0n);
  setIf(json, 'attributes', span.attributes.map(keyValueToJson), span.attributes.length > 0);
  setIf(json, 'droppedAttributesCount', span.droppedAttributesCount, span.droppedAttributesCount !== 0);
  setIf(json, 'events', span.events.map(eventToJson), span.events.length > 0);
  setIf(json, 'droppedEventsCount', span.droppedEventsCount, span.droppedEventsCount !== 0);
  setIf(json, 'links', span.links.map(linkToJson), span.links.length > 0);
  setIf(json, 'droppedLinksCount', span.droppedLinksCount, span.droppedLinksCount !== 0);
  const status: JsonOut = {};
  setIf(status, 'message', span.status.message, span.status.message !== '');
  setIf(status, 'code', span.status.code, span.status.code !== 0);
  setIf(json, 'status', status, Object.keys(status).length > 0);
  return json;
}

function eventToJson(event: SpanEvent): JsonOut {
  const json: JsonOut = {};
  setIf(json, 'timeUnixNano', String(event.timeUnixNano), event.timeUnixNano !== 0n);
  setIf(json, 'name', event.name, event.name !== '');
  setIf(json, 'attributes', event.attributes.map(keyValueToJson), event.attributes.length > 0);
  setIf(json, 'droppedAttributesCount', event.droppedAttributesCount, event.droppedAttributesCount !== 0);
  return json;
}

function linkToJson(link: SpanLink): JsonOut {
  const json: JsonOut = {};
  setIf(json, 'traceId', link.traceId, link.traceId !== '');
  setIf(json, 'spanId', link.spanId, link.spanId !== '');
  setIf(json, 'traceState', link.traceState, link.traceState !== '');
  setIf(json, 'attributes', link.attributes.map(keyValueToJson), link.attributes.length > 0);
  setIf(json, 'droppedAttributesCount', link.droppedAttributesCount, link.droppedAttributesCount !== 0);
  setIf(json, 'flags', link.flags, link.flags !== 0);
  return json;
}

export function keyValueToJson(keyValue: KeyValue): JsonOut {
  return { key: keyValue.key, value: anyValueToJson(keyValue.value) };
}

function doubleToJson(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  // JSON.stringify writes -0 as 0; the string form keeps the sign.
  return Object.is(value, -0) ? '-0' : value;
}

export function anyValueToJson(value: AnyValue): JsonOut {
  // A oneof member is written even when it holds its default, unlike plain fields.
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'bigint') return { intValue: String(value) };
  if (typeof value === 'number') return { doubleValue: doubleToJson(value) };
  if (value === null || value === undefined) return {};
  if (value instanceof Uint8Array) {
    return { bytesValue: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (Array.isArray(value)) return { arrayValue: value.length > 0 ? { values: value.map(anyValueToJson) } : {} };
  return { kvlistValue: value.kvlist.length > 0 ? { values: value.kvlist.map(keyValueToJson) } : {} };
}

// ---------------------------------------------------------------------------------------------
// Responses

/**
 * An Export…ServiceResponse as JSON: `{}` on full success (the spec has the server leave
 * partial_success unset), otherwise the non-default fields of partialSuccess with the rejected
 * count (`rejectedKey`: rejectedSpans, rejectedLogRecords) as a decimal string, as the
 * OpenTelemetry Collector writes int64.
 */
export function encodeExportResponseJson(rejectedKey: string, rejectedRecords: number, errorMessage: string): string {
  if (!Number.isSafeInteger(rejectedRecords)) throw new RangeError(`${rejectedKey} must be a safe integer, got ${rejectedRecords}`);
  if (rejectedRecords === 0 && errorMessage === '') return '{}';
  const partialSuccess: JsonOut = {};
  setIf(partialSuccess, rejectedKey, String(rejectedRecords), rejectedRecords !== 0);
  setIf(partialSuccess, 'errorMessage', errorMessage, errorMessage !== '');
  return JSON.stringify({ partialSuccess });
}

/** ExportTraceServiceResponse as JSON (see {@link encodeExportResponseJson}). */
export function encodeExportTraceServiceResponseJson(rejectedSpans: number, errorMessage: string): string {
  return encodeExportResponseJson('rejectedSpans', rejectedSpans, errorMessage);
}

/** google.rpc.Status as JSON, the body of an OTLP/HTTP JSON error response. */
export function encodeRpcStatusJson(code: number, message: string): string {
  return JSON.stringify({ code, message });
}
