/**
 * OTLP/protobuf codec for traces: ExportTraceServiceRequest <-> TracesData, and the two small
 * messages the receiver answers with (Export…ServiceResponse, google.rpc.Status). The wire
 * reader and writer, the messages every signal shares (AnyValue, KeyValue, Resource,
 * InstrumentationScope) and the resource/scope grouping are written once here, generic over a
 * {@link ProtobufSignalCodec}; `otlp-protobuf-logs.ts` adds the log messages on top.
 *
 * Hand-written for exactly these messages (opentelemetry-proto v1 trace.proto, common.proto,
 * resource.proto, trace_service.proto; logs.proto in otlp-protobuf-logs.ts) instead of a
 * generated or reflective codec: DESIGN.md allows a specialised decoder on a measured hot path,
 * and every received span and log record passes through here (bench/otlp-codec.bench.ts
 * measures the span path).
 *
 * Decoding guarantees, for any input bytes: the result is the signal's data or an
 * OtlpDecodeError is thrown, never another error; time and memory are linear in the input (every length is checked
 * against the bytes that remain before anything is read or allocated, AnyValue nesting is capped
 * at {@link MAX_ANY_VALUE_DEPTH}); strings must be valid UTF-8; unknown fields of wire types
 * 0/1/2/5 are skipped; a field that appears twice follows protobuf merge semantics (the last
 * scalar wins, repeated fields append, embedded messages merge). Ids are returned as lowercase hex
 * of whatever bytes were sent; checking their length is a later stage's job. Bytes values are
 * copies, so the decoded data never pins the request buffer.
 *
 * Speed comes from reading tags and short varints inline, decoding ASCII strings without
 * TextDecoder, and reusing the strings of repeated keys and names (a small process-wide cache)
 * and of repeated attribute values (a cache that lives only as long as one request).
 *
 * The reader, the message schemas, the tags and decodeKeyValue are exported for the storage stage's
 * transcoder (processors/storage/span-transcoder.ts), which walks the same wire format straight
 * into ClickHouse rows: sharing them keeps what both accept identical.
 *
 * Encoding is the exact inverse, omitting proto3 defaults. A first pass computes every embedded
 * message's size, the second writes into one buffer of exactly the total size.
 */

import { Buffer, isUtf8 } from 'node:buffer';

import type { AnyValue, InstrumentationScope, KeyValue, KeyValueList, Resource, ResourceGroup, ScopeGroup, SignalLayout } from '../schemas/otlp-common.js';
import { TRACES_LAYOUT, type ResourceSpans, type ScopeSpans, type Span, type SpanEvent, type SpanLink, type SpanStatus, type TracesData } from '../schemas/otlp-traces.js';
import { bytesToHex, writeHexBytes } from './hex.js';
import { OtlpDecodeError } from './otlp-decode-error.js';

/** Deepest AnyValue accepted (an attribute's own value is level 1); shared with the JSON codec. */
export const MAX_ANY_VALUE_DEPTH = 32;

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

const WIRE_TYPE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start group', 'end group', 'fixed32', 'invalid', 'invalid'];

// ---------------------------------------------------------------------------------------------
// Message schemas: field names and wire types, consulted only to describe errors and to tell a
// known field sent with the wrong wire type from an unknown field.

export interface MessageSchema {
  readonly name: string;
  /** Field number -> [name, wire type]. */
  readonly fields: Readonly<Record<number, readonly [string, number]>>;
}

export const REQUEST: MessageSchema = {
  name: 'ExportTraceServiceRequest',
  fields: { 1: ['resource_spans', WIRE_LEN] },
};
export const RESOURCE_SPANS: MessageSchema = {
  name: 'ResourceSpans',
  fields: { 1: ['resource', WIRE_LEN], 2: ['scope_spans', WIRE_LEN], 3: ['schema_url', WIRE_LEN] },
};
export const RESOURCE: MessageSchema = {
  name: 'Resource',
  fields: { 1: ['attributes', WIRE_LEN], 2: ['dropped_attributes_count', WIRE_VARINT] },
};
export const SCOPE_SPANS: MessageSchema = {
  name: 'ScopeSpans',
  fields: { 1: ['scope', WIRE_LEN], 2: ['spans', WIRE_LEN], 3: ['schema_url', WIRE_LEN] },
};
export const SCOPE: MessageSchema = {
  name: 'InstrumentationScope',
  fields: {
    1: ['name', WIRE_LEN],
    2: ['version', WIRE_LEN],
    3: ['attributes', WIRE_LEN],
    4: ['dropped_attributes_count', WIRE_VARINT],
  },
};
export const SPAN: MessageSchema = {
  name: 'Span',
  fields: {
    1: ['trace_id', WIRE_LEN],
    2: ['span_id', WIRE_LEN],
    3: ['trace_state', WIRE_LEN],
    4: ['parent_span_id', WIRE_LEN],
    5: ['name', WIRE_LEN],
    6: ['kind', WIRE_VARINT],
    7: ['start_time_unix_nano', WIRE_FIXED64],
    8: ['end_time_unix_nano', WIRE_FIXED64],
    9: ['attributes', WIRE_LEN],
    10: ['dropped_attributes_count', WIRE_VARINT],
    11: ['events', WIRE_LEN],
    12: ['dropped_events_count', WIRE_VARINT],
    13: ['links', WIRE_LEN],
    14: ['dropped_links_count', WIRE_VARINT],
    15: ['status', WIRE_LEN],
    16: ['flags', WIRE_FIXED32],
  },
};
export const EVENT: MessageSchema = {
  name: 'Span.Event',
  fields: {
    1: ['time_unix_nano', WIRE_FIXED64],
    2: ['name', WIRE_LEN],
    3: ['attributes', WIRE_LEN],
    4: ['dropped_attributes_count', WIRE_VARINT],
  },
};
export const LINK: MessageSchema = {
  name: 'Span.Link',
  fields: {
    1: ['trace_id', WIRE_LEN],
    2: ['span_id', WIRE_LEN],
    3: ['trace_state', WIRE_LEN],
    4: ['attributes', WIRE_LEN],
    5: ['dropped_attributes_count', WIRE_VARINT],
    6: ['flags', WIRE_FIXED32],
  },
};
// Field 1 is reserved (the deprecated code): skipped like any unknown field.
export const STATUS: MessageSchema = {
  name: 'Status',
  fields: { 2: ['message', WIRE_LEN], 3: ['code', WIRE_VARINT] },
};
export const KEY_VALUE: MessageSchema = {
  name: 'KeyValue',
  fields: { 1: ['key', WIRE_LEN], 2: ['value', WIRE_LEN] },
};
export const ANY_VALUE: MessageSchema = {
  name: 'AnyValue',
  fields: {
    1: ['string_value', WIRE_LEN],
    2: ['bool_value', WIRE_VARINT],
    3: ['int_value', WIRE_VARINT],
    4: ['double_value', WIRE_FIXED64],
    5: ['array_value', WIRE_LEN],
    6: ['kvlist_value', WIRE_LEN],
    7: ['bytes_value', WIRE_LEN],
  },
};
export const ARRAY_VALUE: MessageSchema = { name: 'ArrayValue', fields: { 1: ['values', WIRE_LEN] } };
const KEY_VALUE_LIST: MessageSchema = { name: 'KeyValueList', fields: { 1: ['values', WIRE_LEN] } };

/** "field 5 (Span.name)" */
function describeField(schema: MessageSchema, field: number): string {
  const known = schema.fields[field];
  return known ? `field ${field} (${schema.name}.${known[0]})` : `field ${field} of ${schema.name}`;
}

// Tags (field number << 3 | wire type) as they appear on the wire; all but SPAN_FLAGS fit one byte.
export const TAG_LEN_1 = 0x0a;
export const TAG_LEN_2 = 0x12;
export const TAG_LEN_3 = 0x1a;
export const TAG_LEN_4 = 0x22;
export const TAG_LEN_5 = 0x2a;
export const TAG_LEN_6 = 0x32;
export const TAG_LEN_7 = 0x3a;
export const TAG_VARINT_1 = 0x08;
export const TAG_VARINT_2 = 0x10;
export const TAG_VARINT_3 = 0x18;
export const TAG_VARINT_4 = 0x20;
export const TAG_VARINT_5 = 0x28;
export const TAG_VARINT_6 = 0x30;
export const TAG_FIXED64_1 = 0x09;
export const TAG_FIXED64_4 = 0x21;
export const TAG_FIXED64_7 = 0x39;
export const TAG_FIXED64_8 = 0x41;
export const TAG_FIXED32_6 = 0x35;
export const SPAN_TAG_ATTRIBUTES = 0x4a;
export const SPAN_TAG_DROPPED_ATTRIBUTES = 0x50;
export const SPAN_TAG_EVENTS = 0x5a;
export const SPAN_TAG_DROPPED_EVENTS = 0x60;
export const SPAN_TAG_LINKS = 0x6a;
export const SPAN_TAG_DROPPED_LINKS = 0x70;
export const SPAN_TAG_STATUS = 0x7a;
/** Field 16, fixed32: the only two-byte tag (0x85 0x01 on the wire). */
export const SPAN_TAG_FLAGS = (16 << 3) | WIRE_FIXED32;

// ---------------------------------------------------------------------------------------------
// Reading

/** Strings up to this many bytes are checked for ASCII in JS; longer ones go to native validation. */
const SHORT_TEXT_BYTES = 128;

/** Strings up to this many bytes are interned (see {@link AsciiInterner}). */
const INTERNED_MAX_BYTES = 40;

/**
 * What Buffer's toString('latin1' | 'utf8', start, end) and write(string, offset, length, 'utf8')
 * call after checking their arguments. Those checks took ~20% of decoding time in profiles, so
 * the codec calls these directly; they have been stable since Node 0.x but @types/node does not
 * declare them.
 */
interface BufferNatives {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  utf8Write(value: string, offset: number, length: number): number;
}

/**
 * A direct-mapped cache of short ASCII strings keyed by their bytes. Span data repeats the same
 * strings (attribute keys, span names, common values) many times; returning the cached string
 * for a repeat saves an allocation and a native call. Each slot keeps a copy of its string's
 * bytes, because comparing two byte arrays is faster than comparing bytes with charCodeAt.
 */
class AsciiInterner {
  private readonly strings: string[];
  private readonly lengths: Uint8Array;
  private readonly slotBytes: Uint8Array;
  private readonly shift: number;

  constructor(slotBits: number) {
    this.strings = new Array<string>(1 << slotBits).fill('');
    this.lengths = new Uint8Array(1 << slotBits);
    this.slotBytes = new Uint8Array((1 << slotBits) * INTERNED_MAX_BYTES);
    this.shift = 32 - slotBits;
  }

  /** bytes[start, stop) (1 to INTERNED_MAX_BYTES of them) as a string if ASCII, else undefined. */
  intern(bytes: Uint8Array, start: number, stop: number, text: Buffer & BufferNatives): string | undefined {
    const length = stop - start;
    // The slot depends on a few bytes only; the comparison below checks all of them.
    const hash = Math.imul(
      (length << 24) ^ (bytes[start]! << 16) ^ (bytes[start + (length >> 1)]! << 8) ^ bytes[stop - 1]!,
      0x9e37_79b1,
    );
    const slot = hash >>> this.shift;
    const slotBytes = this.slotBytes;
    const base = slot * INTERNED_MAX_BYTES;
    if (this.lengths[slot] === length) {
      let i = 0;
      while (i < length && slotBytes[base + i] === bytes[start + i]) i++;
      // Cached strings are ASCII, so equal bytes are ASCII too.
      if (i === length) return this.strings[slot];
    }
    // Copy while checking for ASCII; the slot is invalid until the copy is complete.
    this.lengths[slot] = 0;
    for (let i = start; i < stop; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x80) return undefined;
      slotBytes[base + i - start] = byte;
    }
    const decoded = text.latin1Slice(start, stop);
    this.lengths[slot] = length;
    this.strings[slot] = decoded;
    return decoded;
  }
}

/**
 * Attribute keys, span and event names and scope names: shared by all requests, since they repeat
 * across requests too. Only these names are cached process-wide, never values: a process-wide
 * cache must not keep user data (which may hold secrets) alive after the request that carried it.
 */
const processNames = new AsciiInterner(12);
/** Slots of the per-request cache of attribute string values. */
const REQUEST_VALUE_SLOT_BITS = 9;
/** Smaller requests skip that cache: setting it up costs more than it saves on few spans. */
const REQUEST_VALUE_CACHE_MIN_BYTES = 16 * 1024;

export class WireReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** The same memory as a Buffer, for Node's native string decoding. */
  readonly text: Buffer & BufferNatives;
  pos = 0;
  /** Where the tag of the field being read started, for error offsets. */
  tagStart = 0;
  /** Low and high 32 bits (unsigned) of the varint last read by readVarint64. */
  lo = 0;
  hi = 0;
  /** Attribute string values repeat within a request; this cache dies with the request. */
  private readonly values: AsciiInterner | undefined;

  /** cacheValues: whether attribute string values go through a per-request cache (see `values`). */
  constructor(input: Uint8Array, cacheValues = input.byteLength >= REQUEST_VALUE_CACHE_MIN_BYTES) {
    // A plain Uint8Array view even when given a Buffer: Buffer#slice would not copy.
    this.bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
    this.text = Buffer.from(input.buffer, input.byteOffset, input.byteLength) as Buffer & BufferNatives;
    this.values = cacheValues ? new AsciiInterner(REQUEST_VALUE_SLOT_BITS) : undefined;
  }

  fail(problem: string, offset: number): OtlpDecodeError {
    return new OtlpDecodeError(`${problem} at offset ${offset}`);
  }

  /** Reads a tag; the caller guarantees pos < end. */
  readTag(end: number, schema: MessageSchema): number {
    const bytes = this.bytes;
    const pos = this.pos;
    this.tagStart = pos;
    const b0 = bytes[pos]!;
    if (b0 < 0x80) {
      this.pos = pos + 1;
      if (b0 < 8) throw this.fail(`invalid field number 0 in ${schema.name}`, pos);
      return b0;
    }
    if (pos + 1 < end) {
      const b1 = bytes[pos + 1]!;
      if (b1 < 0x80) {
        this.pos = pos + 2;
        const tag = (b0 & 0x7f) | (b1 << 7);
        if (tag < 8) throw this.fail(`invalid field number 0 in ${schema.name}`, pos);
        return tag;
      }
    }
    this.readVarint64(end, schema, 0);
    if (this.hi !== 0 || this.lo < 8) throw this.fail(`invalid tag in ${schema.name}`, pos);
    return this.lo;
  }

  /**
   * Reads a varint of up to 10 bytes into lo/hi. `field` only labels errors (0: the tag itself).
   * Rejects varints that run past end, are longer than 10 bytes, or overflow 64 bits.
   */
  readVarint64(end: number, schema: MessageSchema, field: number): void {
    const bytes = this.bytes;
    const start = this.pos;
    let pos = start;
    let lo = 0;
    let hi = 0;
    let b = 0;
    // Bytes 0-3 carry bits 0-27.
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw this.truncatedVarint(start, schema, field);
      b = bytes[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) return this.setVarint(pos, lo, 0);
    }
    // Byte 4 carries bits 28-34, straddling the two halves.
    if (pos >= end) throw this.truncatedVarint(start, schema, field);
    b = bytes[pos++]!;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b < 0x80) return this.setVarint(pos, lo, hi);
    // Bytes 5-8 carry bits 35-62.
    for (let shift = 3; shift < 31; shift += 7) {
      if (pos >= end) throw this.truncatedVarint(start, schema, field);
      b = bytes[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) return this.setVarint(pos, lo, hi);
    }
    // Byte 9 carries bit 63 and nothing else.
    if (pos >= end) throw this.truncatedVarint(start, schema, field);
    b = bytes[pos++]!;
    if (b >= 0x80) throw this.fail(`varint longer than 10 bytes in ${this.varintOwner(schema, field)}`, start);
    if (b > 1) throw this.fail(`varint overflows 64 bits in ${this.varintOwner(schema, field)}`, start);
    return this.setVarint(pos, lo, hi | (b << 31));
  }

  private setVarint(pos: number, lo: number, hi: number): void {
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  private varintOwner(schema: MessageSchema, field: number): string {
    return field === 0 ? `a tag of ${schema.name}` : describeField(schema, field);
  }

  private truncatedVarint(start: number, schema: MessageSchema, field: number): OtlpDecodeError {
    return this.fail(`truncated message: varint of ${this.varintOwner(schema, field)} runs past the end`, start);
  }

  /** uint32 fields take the low 32 bits of the varint, as protobuf does. */
  readUint32(end: number, schema: MessageSchema, field: number): number {
    const pos = this.pos;
    if (pos < end) {
      const b = this.bytes[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    this.readVarint64(end, schema, field);
    return this.lo;
  }

  /** int32 and enum fields: the low 32 bits, signed (negative values are sign-extended to 10 bytes). */
  readInt32(end: number, schema: MessageSchema, field: number): number {
    return this.readUint32(end, schema, field) | 0;
  }

  readBool(end: number, schema: MessageSchema, field: number): boolean {
    const pos = this.pos;
    if (pos < end) {
      const b = this.bytes[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b !== 0;
      }
    }
    this.readVarint64(end, schema, field);
    return (this.lo | this.hi) !== 0;
  }

  readInt64(end: number, schema: MessageSchema, field: number): bigint {
    const pos = this.pos;
    if (pos < end) {
      const b = this.bytes[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return BigInt(b);
      }
    }
    this.readVarint64(end, schema, field);
    const { lo, hi } = this;
    // Below 2^53 a double holds the value exactly: one BigInt allocation instead of four.
    if (hi < 0x200000) return BigInt(hi * 0x1_0000_0000 + lo);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  private needFixed(size: number, end: number, schema: MessageSchema, field: number): void {
    if (end - this.pos < size) {
      throw this.fail(
        `truncated message: ${describeField(schema, field)} needs ${size} bytes but ${end - this.pos} remain`,
        this.pos,
      );
    }
  }

  readFixed64(end: number, schema: MessageSchema, field: number): bigint {
    this.needFixed(8, end, schema, field);
    const value = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return value;
  }

  readFixed32(end: number, schema: MessageSchema, field: number): number {
    this.needFixed(4, end, schema, field);
    const value = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return value;
  }

  readDouble(end: number, schema: MessageSchema, field: number): number {
    this.needFixed(8, end, schema, field);
    const value = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** Reads a length prefix and returns where the payload ends; pos is left at the payload start. */
  readDelimitedEnd(end: number, schema: MessageSchema, field: number): number {
    const start = this.pos;
    let length: number;
    const b = start < end ? this.bytes[start]! : 0x80;
    if (b < 0x80) {
      this.pos = start + 1;
      length = b;
    } else {
      this.readVarint64(end, schema, field);
      length = this.hi * 0x1_0000_0000 + this.lo;
    }
    if (length > end - this.pos) throw this.lengthExceeds(start, end, schema, field);
    return this.pos + length;
  }

  /** The error for a length prefix at `start` longer than what remains; apart, so that readDelimitedEnd inlines. */
  private lengthExceeds(start: number, end: number, schema: MessageSchema, field: number): OtlpDecodeError {
    const b = this.bytes[start]!;
    const exactLength = b < 0x80 ? BigInt(b) : (BigInt(this.hi) << 32n) | BigInt(this.lo);
    return this.fail(
      `truncated message: ${describeField(schema, field)} length ${exactLength} exceeds remaining ${end - this.pos} bytes`,
      start,
    );
  }

  readString(end: number, schema: MessageSchema, field: number): string {
    const stop = this.readDelimitedEnd(end, schema, field);
    const start = this.pos;
    this.pos = stop;
    return start === stop ? '' : this.decodeText(start, stop, schema, field);
  }

  /** readString for keys and names, through the process-wide cache. */
  readName(end: number, schema: MessageSchema, field: number): string {
    return this.readInterned(end, schema, field, processNames);
  }

  /** readString for attribute string values, through the per-request cache. */
  readValue(end: number, schema: MessageSchema, field: number): string {
    return this.values ? this.readInterned(end, schema, field, this.values) : this.readString(end, schema, field);
  }

  private readInterned(end: number, schema: MessageSchema, field: number, interner: AsciiInterner): string {
    const stop = this.readDelimitedEnd(end, schema, field);
    const start = this.pos;
    this.pos = stop;
    const length = stop - start;
    if (length === 0) return '';
    if (length <= INTERNED_MAX_BYTES) {
      const interned = interner.intern(this.bytes, start, stop, this.text);
      if (interned !== undefined) return interned;
    }
    return this.decodeText(start, stop, schema, field);
  }

  private decodeText(start: number, stop: number, schema: MessageSchema, field: number): string {
    const bytes = this.bytes;
    if (stop - start <= SHORT_TEXT_BYTES) {
      // Short ASCII strings are the bulk of span data; checking them here beats a native call.
      let i = start;
      while (i < stop && bytes[i]! < 0x80) i++;
      if (i === stop) return this.text.latin1Slice(start, stop);
    }
    if (!isUtf8(bytes.subarray(start, stop))) {
      throw this.fail(`invalid UTF-8 in ${describeField(schema, field)}`, start);
    }
    return this.text.utf8Slice(start, stop);
  }

  readBytes(end: number, schema: MessageSchema, field: number): Uint8Array {
    const stop = this.readDelimitedEnd(end, schema, field);
    const start = this.pos;
    this.pos = stop;
    // A copy, so that a retained attribute does not pin the whole request buffer.
    return this.bytes.slice(start, stop);
  }

  readHexId(end: number, schema: MessageSchema, field: number): string {
    const stop = this.readDelimitedEnd(end, schema, field);
    const start = this.pos;
    this.pos = stop;
    return start === stop ? '' : bytesToHex(this.bytes, start, stop);
  }

  /** Skips a field the message does not define; a known field with the wrong wire type is an error. */
  skipField(tag: number, end: number, schema: MessageSchema): void {
    const field = tag >>> 3;
    const wireType = tag & 7;
    const known = schema.fields[field];
    if (known) {
      throw this.fail(
        `${describeField(schema, field)} has wire type ${wireType} (${WIRE_TYPE_NAMES[wireType]}), expected ${known[1]} (${WIRE_TYPE_NAMES[known[1]]})`,
        this.tagStart,
      );
    }
    switch (wireType) {
      case WIRE_VARINT:
        this.readVarint64(end, schema, field);
        return;
      case WIRE_FIXED64:
        this.needFixed(8, end, schema, field);
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.pos = this.readDelimitedEnd(end, schema, field);
        return;
      case WIRE_FIXED32:
        this.needFixed(4, end, schema, field);
        this.pos += 4;
        return;
      case WIRE_START_GROUP:
      case WIRE_END_GROUP:
        throw this.fail(`unsupported wire type ${wireType} (${WIRE_TYPE_NAMES[wireType]}) for ${describeField(schema, field)}`, this.tagStart);
      default:
        throw this.fail(`invalid wire type ${wireType} for ${describeField(schema, field)}`, this.tagStart);
    }
  }
}

/**
 * What the generic parts of the codec need to know about one signal: how its request nests, the
 * names of its envelope messages (for errors), and how to read, size and write one record.
 */
export interface ProtobufSignalCodec<D, R extends ResourceGroup, S extends ScopeGroup, I> {
  readonly layout: SignalLayout<D, R, S, I>;
  /** `Export…ServiceRequest` {1: repeated resource group}. */
  readonly request: MessageSchema;
  /** `Resource…` {1: resource, 2: repeated scope group, 3: schema_url}. */
  readonly resourceGroup: MessageSchema;
  /** `Scope…` {1: scope, 2: repeated record, 3: schema_url}. */
  readonly scopeGroup: MessageSchema;
  decodeRecord(r: WireReader, end: number): I;
  /** Sizing pass for one record (see {@link reserveSize}); returns its size. */
  sizeRecord(record: I, sizes: number[]): number;
  writeRecord(w: WireWriter, record: I): void;
}

/** Decodes an Export…ServiceRequest of `codec`'s signal. Throws OtlpDecodeError on malformed input. */
export function decodeExportRequest<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, buf: Uint8Array): D {
  const reader = new WireReader(buf);
  const end = buf.byteLength;
  const schema = codec.request;
  const resourceGroups: R[] = [];
  while (reader.pos < end) {
    const tag = reader.readTag(end, schema);
    if (tag === TAG_LEN_1) resourceGroups.push(decodeResourceGroup(codec, reader, reader.readDelimitedEnd(end, schema, 1)));
    else reader.skipField(tag, end, schema);
  }
  return codec.layout.request(resourceGroups);
}

function decodeResourceGroup<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, r: WireReader, end: number): R {
  const schema = codec.resourceGroup;
  const group = codec.layout.resourceGroup({ attributes: [], droppedAttributesCount: 0 }, '');
  const scopeGroups = codec.layout.scopeGroups(group);
  while (r.pos < end) {
    const tag = r.readTag(end, schema);
    switch (tag) {
      case TAG_LEN_1:
        decodeResourceInto(r, r.readDelimitedEnd(end, schema, 1), group.resource);
        break;
      case TAG_LEN_2:
        scopeGroups.push(decodeScopeGroup(codec, r, r.readDelimitedEnd(end, schema, 2)));
        break;
      case TAG_LEN_3:
        group.schemaUrl = r.readString(end, schema, 3);
        break;
      default:
        r.skipField(tag, end, schema);
    }
  }
  return group;
}

function decodeResourceInto(r: WireReader, end: number, resource: Resource): void {
  while (r.pos < end) {
    const tag = r.readTag(end, RESOURCE);
    if (tag === TAG_LEN_1) resource.attributes.push(decodeKeyValue(r, r.readDelimitedEnd(end, RESOURCE, 1), 1));
    else if (tag === TAG_VARINT_2) resource.droppedAttributesCount = r.readUint32(end, RESOURCE, 2);
    else r.skipField(tag, end, RESOURCE);
  }
}

function decodeScopeGroup<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, r: WireReader, end: number): S {
  const schema = codec.scopeGroup;
  const group = codec.layout.scopeGroup({ name: '', version: '', attributes: [], droppedAttributesCount: 0 }, '');
  const records = codec.layout.records(group);
  while (r.pos < end) {
    const tag = r.readTag(end, schema);
    switch (tag) {
      case TAG_LEN_1:
        decodeScopeInto(r, r.readDelimitedEnd(end, schema, 1), group.scope);
        break;
      case TAG_LEN_2:
        records.push(codec.decodeRecord(r, r.readDelimitedEnd(end, schema, 2)));
        break;
      case TAG_LEN_3:
        group.schemaUrl = r.readString(end, schema, 3);
        break;
      default:
        r.skipField(tag, end, schema);
    }
  }
  return group;
}

function decodeScopeInto(r: WireReader, end: number, scope: InstrumentationScope): void {
  while (r.pos < end) {
    const tag = r.readTag(end, SCOPE);
    switch (tag) {
      case TAG_LEN_1:
        scope.name = r.readName(end, SCOPE, 1);
        break;
      case TAG_LEN_2:
        scope.version = r.readName(end, SCOPE, 2);
        break;
      case TAG_LEN_3:
        scope.attributes.push(decodeKeyValue(r, r.readDelimitedEnd(end, SCOPE, 3), 1));
        break;
      case TAG_VARINT_4:
        scope.droppedAttributesCount = r.readUint32(end, SCOPE, 4);
        break;
      default:
        r.skipField(tag, end, SCOPE);
    }
  }
}

function decodeSpan(r: WireReader, end: number): Span {
  let traceId = '';
  let spanId = '';
  let traceState = '';
  let parentSpanId = '';
  let flags = 0;
  let name = '';
  let kind = 0;
  let startTimeUnixNano = 0n;
  let endTimeUnixNano = 0n;
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  const events: SpanEvent[] = [];
  let droppedEventsCount = 0;
  const links: SpanLink[] = [];
  let droppedLinksCount = 0;
  const status: SpanStatus = { message: '', code: 0 };
  while (r.pos < end) {
    const tag = r.readTag(end, SPAN);
    switch (tag) {
      case TAG_LEN_1:
        traceId = r.readHexId(end, SPAN, 1);
        break;
      case TAG_LEN_2:
        spanId = r.readHexId(end, SPAN, 2);
        break;
      case TAG_LEN_3:
        traceState = r.readString(end, SPAN, 3);
        break;
      case TAG_LEN_4:
        parentSpanId = r.readHexId(end, SPAN, 4);
        break;
      case TAG_LEN_5:
        name = r.readName(end, SPAN, 5);
        break;
      case TAG_VARINT_6:
        kind = r.readInt32(end, SPAN, 6);
        break;
      case TAG_FIXED64_7:
        startTimeUnixNano = r.readFixed64(end, SPAN, 7);
        break;
      case TAG_FIXED64_8:
        endTimeUnixNano = r.readFixed64(end, SPAN, 8);
        break;
      case SPAN_TAG_ATTRIBUTES:
        attributes.push(decodeKeyValue(r, r.readDelimitedEnd(end, SPAN, 9), 1));
        break;
      case SPAN_TAG_DROPPED_ATTRIBUTES:
        droppedAttributesCount = r.readUint32(end, SPAN, 10);
        break;
      case SPAN_TAG_EVENTS:
        events.push(decodeEvent(r, r.readDelimitedEnd(end, SPAN, 11)));
        break;
      case SPAN_TAG_DROPPED_EVENTS:
        droppedEventsCount = r.readUint32(end, SPAN, 12);
        break;
      case SPAN_TAG_LINKS:
        links.push(decodeLink(r, r.readDelimitedEnd(end, SPAN, 13)));
        break;
      case SPAN_TAG_DROPPED_LINKS:
        droppedLinksCount = r.readUint32(end, SPAN, 14);
        break;
      case SPAN_TAG_STATUS:
        decodeStatusInto(r, r.readDelimitedEnd(end, SPAN, 15), status);
        break;
      case SPAN_TAG_FLAGS:
        flags = r.readFixed32(end, SPAN, 16);
        break;
      default:
        r.skipField(tag, end, SPAN);
    }
  }
  return {
    traceId,
    spanId,
    traceState,
    parentSpanId,
    flags,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    attributes,
    droppedAttributesCount,
    events,
    droppedEventsCount,
    links,
    droppedLinksCount,
    status,
  };
}

function decodeEvent(r: WireReader, end: number): SpanEvent {
  let timeUnixNano = 0n;
  let name = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  while (r.pos < end) {
    const tag = r.readTag(end, EVENT);
    switch (tag) {
      case TAG_FIXED64_1:
        timeUnixNano = r.readFixed64(end, EVENT, 1);
        break;
      case TAG_LEN_2:
        name = r.readName(end, EVENT, 2);
        break;
      case TAG_LEN_3:
        attributes.push(decodeKeyValue(r, r.readDelimitedEnd(end, EVENT, 3), 1));
        break;
      case TAG_VARINT_4:
        droppedAttributesCount = r.readUint32(end, EVENT, 4);
        break;
      default:
        r.skipField(tag, end, EVENT);
    }
  }
  return { timeUnixNano, name, attributes, droppedAttributesCount };
}

function decodeLink(r: WireReader, end: number): SpanLink {
  let traceId = '';
  let spanId = '';
  let traceState = '';
  const attributes: KeyValue[] = [];
  let droppedAttributesCount = 0;
  let flags = 0;
  while (r.pos < end) {
    const tag = r.readTag(end, LINK);
    switch (tag) {
      case TAG_LEN_1:
        traceId = r.readHexId(end, LINK, 1);
        break;
      case TAG_LEN_2:
        spanId = r.readHexId(end, LINK, 2);
        break;
      case TAG_LEN_3:
        traceState = r.readString(end, LINK, 3);
        break;
      case TAG_LEN_4:
        attributes.push(decodeKeyValue(r, r.readDelimitedEnd(end, LINK, 4), 1));
        break;
      case TAG_VARINT_5:
        droppedAttributesCount = r.readUint32(end, LINK, 5);
        break;
      case TAG_FIXED32_6:
        flags = r.readFixed32(end, LINK, 6);
        break;
      default:
        r.skipField(tag, end, LINK);
    }
  }
  return { traceId, spanId, traceState, attributes, droppedAttributesCount, flags };
}

function decodeStatusInto(r: WireReader, end: number, status: SpanStatus): void {
  while (r.pos < end) {
    const tag = r.readTag(end, STATUS);
    if (tag === TAG_LEN_2) status.message = r.readString(end, STATUS, 2);
    else if (tag === TAG_VARINT_3) status.code = r.readInt32(end, STATUS, 3);
    else r.skipField(tag, end, STATUS);
  }
}

/** depth: nesting level of this pair's value (1 for a span, resource, scope, event or link attribute). */
export function decodeKeyValue(r: WireReader, end: number, depth: number): KeyValue {
  let key = '';
  let value: AnyValue = null;
  while (r.pos < end) {
    const tag = r.readTag(end, KEY_VALUE);
    if (tag === TAG_LEN_1) key = r.readName(end, KEY_VALUE, 1);
    else if (tag === TAG_LEN_2) value = decodeAnyValue(r, r.readDelimitedEnd(end, KEY_VALUE, 2), depth, value);
    else r.skipField(tag, end, KEY_VALUE);
  }
  return { key, value };
}

function isKeyValueList(value: AnyValue): value is KeyValueList {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * `previous` is the value of an earlier occurrence of the same field, which this one merges into:
 * an array or kvlist appends to a previous array or kvlist; any other value replaces it.
 */
export function decodeAnyValue(r: WireReader, end: number, depth: number, previous: AnyValue): AnyValue {
  if (depth > MAX_ANY_VALUE_DEPTH) throw r.fail(`AnyValue nested deeper than ${MAX_ANY_VALUE_DEPTH} levels`, r.pos);
  let value = previous;
  while (r.pos < end) {
    const tag = r.readTag(end, ANY_VALUE);
    switch (tag) {
      case TAG_LEN_1:
        value = r.readValue(end, ANY_VALUE, 1);
        break;
      case TAG_VARINT_2:
        value = r.readBool(end, ANY_VALUE, 2);
        break;
      case TAG_VARINT_3:
        value = r.readInt64(end, ANY_VALUE, 3);
        break;
      case TAG_FIXED64_4:
        value = r.readDouble(end, ANY_VALUE, 4);
        break;
      case TAG_LEN_5: {
        const stop = r.readDelimitedEnd(end, ANY_VALUE, 5);
        value = decodeArrayValue(r, stop, depth, Array.isArray(value) ? value : []);
        break;
      }
      case TAG_LEN_6: {
        const stop = r.readDelimitedEnd(end, ANY_VALUE, 6);
        value = decodeKeyValueList(r, stop, depth, isKeyValueList(value) ? value : { kvlist: [] });
        break;
      }
      case TAG_LEN_7:
        value = r.readBytes(end, ANY_VALUE, 7);
        break;
      default:
        r.skipField(tag, end, ANY_VALUE);
    }
  }
  return value;
}

function decodeArrayValue(r: WireReader, end: number, depth: number, values: AnyValue[]): AnyValue[] {
  while (r.pos < end) {
    const tag = r.readTag(end, ARRAY_VALUE);
    if (tag === TAG_LEN_1) values.push(decodeAnyValue(r, r.readDelimitedEnd(end, ARRAY_VALUE, 1), depth + 1, null));
    else r.skipField(tag, end, ARRAY_VALUE);
  }
  return values;
}

function decodeKeyValueList(r: WireReader, end: number, depth: number, list: KeyValueList): KeyValueList {
  while (r.pos < end) {
    const tag = r.readTag(end, KEY_VALUE_LIST);
    if (tag === TAG_LEN_1) list.kvlist.push(decodeKeyValue(r, r.readDelimitedEnd(end, KEY_VALUE_LIST, 1), depth + 1));
    else r.skipField(tag, end, KEY_VALUE_LIST);
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// Writing

function varint32Size(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}

/** Size of a length-delimited field with a one-byte tag and a payload of `length` bytes. */
export function delimitedFieldSize(length: number): number {
  return 1 + varint32Size(length) + length;
}

/** Strings this short take at most 126 UTF-8 bytes, so their length prefix is one byte. */
const ONE_BYTE_PREFIX_MAX_CHARS = 42;

function utf8Length(value: string): number {
  if (value.length <= ONE_BYTE_PREFIX_MAX_CHARS) {
    let i = 0;
    while (i < value.length && value.charCodeAt(i) < 0x80) i++;
    if (i === value.length) return i;
  }
  return Buffer.byteLength(value, 'utf8');
}

export function stringFieldSize(value: string): number {
  return value === '' ? 0 : delimitedFieldSize(utf8Length(value));
}

export function hexIdFieldSize(hex: string): number {
  return hex === '' ? 0 : delimitedFieldSize(hex.length >>> 1);
}

// uint32 and int32 (enum) fields are normalised to their 32-bit value the same way when sized and
// when written, so that sloppy numbers cannot make the two passes disagree.

export function uint32FieldSize(value: number): number {
  const v = value >>> 0;
  return v === 0 ? 0 : 1 + varint32Size(v);
}

export function int32FieldSize(value: number): number {
  const v = value | 0;
  if (v === 0) return 0;
  return 1 + (v < 0 ? 10 : varint32Size(v));
}

/** Size of an int64 varint: negative values take all ten bytes (two's complement). */
function int64VarintSize(value: bigint): number {
  if (value >= 0n && value < 0x8000_0000n) return varint32Size(Number(value));
  const bits = BigInt.asUintN(64, value);
  const high = Number(bits >> 32n);
  if (high === 0) return varint32Size(Number(bits));
  return Math.ceil((64 - Math.clz32(high)) / 7);
}

export class WireWriter {
  readonly out: Buffer & BufferNatives;
  readonly view: DataView;
  pos = 0;
  /** Sizes of embedded messages from the sizing pass, consumed in the same (pre-)order. */
  private readonly sizes: readonly number[];
  private nextSizeIndex = 0;

  constructor(length: number, sizes: readonly number[]) {
    // Unpooled and uninitialised: every byte is written (checked by finish()).
    this.out = Buffer.allocUnsafeSlow(length) as Buffer & BufferNatives;
    this.view = new DataView(this.out.buffer, this.out.byteOffset, length);
    this.sizes = sizes;
  }

  nextSize(): number {
    return this.sizes[this.nextSizeIndex++]!;
  }

  finish(): Uint8Array {
    if (this.pos !== this.out.length || this.nextSizeIndex !== this.sizes.length) {
      throw new Error(`protobuf encoder bug: wrote ${this.pos} of ${this.out.length} bytes`);
    }
    return this.out;
  }

  byte(value: number): void {
    this.out[this.pos++] = value;
  }

  varint32(value: number): void {
    const out = this.out;
    let pos = this.pos;
    let v = value >>> 0;
    while (v >= 0x80) {
      out[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[pos++] = v;
    this.pos = pos;
  }

  /** A varint of the 64-bit two's complement of lo/hi (both uint32). */
  varint64(lo: number, hi: number): void {
    if (hi === 0) return this.varint32(lo);
    const out = this.out;
    let pos = this.pos;
    // Four full groups of seven bits from the low half, then the remaining 4 bits joined with hi.
    for (let i = 0; i < 4; i++) {
      out[pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    const v = lo | ((hi & 0x07) << 4);
    hi >>>= 3;
    if (hi === 0) {
      out[pos++] = v;
      this.pos = pos;
      return;
    }
    out[pos++] = v | 0x80;
    while (hi >= 0x80) {
      out[pos++] = (hi & 0x7f) | 0x80;
      hi >>>= 7;
    }
    out[pos++] = hi;
    this.pos = pos;
  }

  int32(value: number): void {
    if (value >= 0) this.varint32(value);
    else this.varint64(value >>> 0, 0xffff_ffff);
  }

  int64(value: bigint): void {
    if (value >= 0n && value < 0x8000_0000n) return this.varint32(Number(value));
    const bits = BigInt.asUintN(64, value);
    this.varint64(Number(bits & 0xffff_ffffn), Number(bits >> 32n));
  }

  fixed32(value: number): void {
    this.view.setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
  }

  fixed64(value: bigint): void {
    this.view.setBigUint64(this.pos, value, true);
    this.pos += 8;
  }

  double(value: number): void {
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** A length-prefixed UTF-8 string, sized as utf8Length() sized it. */
  string(value: string): void {
    const out = this.out;
    if (value.length <= ONE_BYTE_PREFIX_MAX_CHARS) {
      const start = this.pos + 1;
      let pos = start;
      for (let i = 0; i < value.length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) {
          pos = start + out.utf8Write(value, start, out.length - start);
          break;
        }
        out[pos++] = code;
      }
      out[this.pos] = pos - start;
      this.pos = pos;
      return;
    }
    const length = Buffer.byteLength(value, 'utf8');
    this.varint32(length);
    this.pos += out.utf8Write(value, this.pos, length);
  }

  bytes(value: Uint8Array): void {
    this.varint32(value.length);
    this.out.set(value, this.pos);
    this.pos += value.length;
  }

  hexId(hex: string, what: string): void {
    const length = hex.length >>> 1;
    this.varint32(length);
    if (!writeHexBytes(hex, this.out, this.pos)) {
      throw new TypeError(`cannot encode ${what}: not an even-length hex string (${hex.length} characters)`);
    }
    this.pos += length;
  }

  stringField(tag: number, value: string): void {
    if (value === '') return;
    this.byte(tag);
    this.string(value);
  }

  hexIdField(tag: number, hex: string, what: string): void {
    if (hex === '') return;
    this.byte(tag);
    this.hexId(hex, what);
  }

  uint32Field(tag: number, value: number): void {
    const v = value >>> 0;
    if (v === 0) return;
    this.byte(tag);
    this.varint32(v);
  }

  int32Field(tag: number, value: number): void {
    const v = value | 0;
    if (v === 0) return;
    this.byte(tag);
    this.int32(v);
  }

  /** Tag and length of an embedded message whose size the sizing pass recorded; false if omitted. */
  beginMessage(tag: number, omitIfEmpty: boolean): boolean {
    const size = this.nextSize();
    if (size === 0 && omitIfEmpty) return false;
    this.byte(tag);
    this.varint32(size);
    return true;
  }
}

// Sizing pass: each function records its message's size in `sizes` before its children's (pre-order)
// and returns it; the matching write function consumes the sizes in the same order.

function sizeRequest<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, data: D, sizes: number[]): number {
  let size = 0;
  for (const group of codec.layout.resourceGroups(data)) size += delimitedFieldSize(sizeResourceGroup(codec, group, sizes));
  return size;
}

/** Records a slot for a message's size; fill it with {@link recordSize}. */
export function reserveSize(sizes: number[]): number {
  sizes.push(0);
  return sizes.length - 1;
}

export function recordSize(sizes: number[], slot: number, size: number): number {
  sizes[slot] = size;
  return size;
}

/** Size of an optional embedded message field: omitted when empty. */
function optionalMessageFieldSize(size: number): number {
  return size === 0 ? 0 : delimitedFieldSize(size);
}

function sizeResourceGroup<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, group: R, sizes: number[]): number {
  const slot = reserveSize(sizes);
  let size = optionalMessageFieldSize(sizeResource(group.resource, sizes));
  for (const scopeGroup of codec.layout.scopeGroups(group)) size += delimitedFieldSize(sizeScopeGroup(codec, scopeGroup, sizes));
  size += stringFieldSize(group.schemaUrl);
  return recordSize(sizes, slot, size);
}

function sizeResource(resource: Resource, sizes: number[]): number {
  const slot = reserveSize(sizes);
  const size = sizeAttributes(resource.attributes, sizes) + uint32FieldSize(resource.droppedAttributesCount);
  return recordSize(sizes, slot, size);
}

function sizeScopeGroup<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, group: S, sizes: number[]): number {
  const slot = reserveSize(sizes);
  let size = optionalMessageFieldSize(sizeScope(group.scope, sizes));
  for (const record of codec.layout.records(group)) size += delimitedFieldSize(codec.sizeRecord(record, sizes));
  size += stringFieldSize(group.schemaUrl);
  return recordSize(sizes, slot, size);
}

function sizeScope(scope: InstrumentationScope, sizes: number[]): number {
  const slot = reserveSize(sizes);
  const size =
    stringFieldSize(scope.name) +
    stringFieldSize(scope.version) +
    sizeAttributes(scope.attributes, sizes) +
    uint32FieldSize(scope.droppedAttributesCount);
  return recordSize(sizes, slot, size);
}

function sizeSpan(span: Span, sizes: number[]): number {
  const slot = reserveSize(sizes);
  let size =
    hexIdFieldSize(span.traceId) +
    hexIdFieldSize(span.spanId) +
    stringFieldSize(span.traceState) +
    hexIdFieldSize(span.parentSpanId) +
    stringFieldSize(span.name) +
    int32FieldSize(span.kind) +
    (span.startTimeUnixNano === 0n ? 0 : 9) +
    (span.endTimeUnixNano === 0n ? 0 : 9) +
    sizeAttributes(span.attributes, sizes) +
    uint32FieldSize(span.droppedAttributesCount) +
    uint32FieldSize(span.droppedEventsCount) +
    uint32FieldSize(span.droppedLinksCount) +
    (span.flags === 0 ? 0 : 6);
  for (const event of span.events) size += delimitedFieldSize(sizeEvent(event, sizes));
  for (const link of span.links) size += delimitedFieldSize(sizeLink(link, sizes));
  size += optionalMessageFieldSize(sizeStatus(span.status, sizes));
  return recordSize(sizes, slot, size);
}

function sizeEvent(event: SpanEvent, sizes: number[]): number {
  const slot = reserveSize(sizes);
  const size =
    (event.timeUnixNano === 0n ? 0 : 9) +
    stringFieldSize(event.name) +
    sizeAttributes(event.attributes, sizes) +
    uint32FieldSize(event.droppedAttributesCount);
  return recordSize(sizes, slot, size);
}

function sizeLink(link: SpanLink, sizes: number[]): number {
  const slot = reserveSize(sizes);
  const size =
    hexIdFieldSize(link.traceId) +
    hexIdFieldSize(link.spanId) +
    stringFieldSize(link.traceState) +
    sizeAttributes(link.attributes, sizes) +
    uint32FieldSize(link.droppedAttributesCount) +
    (link.flags === 0 ? 0 : 5);
  return recordSize(sizes, slot, size);
}

function sizeStatus(status: SpanStatus, sizes: number[]): number {
  return recordSize(sizes, reserveSize(sizes), stringFieldSize(status.message) + int32FieldSize(status.code));
}

/** Size of a repeated KeyValue field with a one-byte tag. */
export function sizeAttributes(attributes: readonly KeyValue[], sizes: number[]): number {
  let size = 0;
  for (const attribute of attributes) size += delimitedFieldSize(sizeKeyValue(attribute, sizes));
  return size;
}

function sizeKeyValue(keyValue: KeyValue, sizes: number[]): number {
  const slot = reserveSize(sizes);
  // The value is always written, an empty AnyValue for null: that is what null decodes from.
  const size = stringFieldSize(keyValue.key) + delimitedFieldSize(sizeAnyValue(keyValue.value, sizes));
  return recordSize(sizes, slot, size);
}

export function sizeAnyValue(value: AnyValue, sizes: number[]): number {
  const slot = reserveSize(sizes);
  let size: number;
  // A oneof member is written even when it holds its default ('' / false / 0): otherwise it would
  // decode as an empty AnyValue (null).
  if (typeof value === 'string') size = delimitedFieldSize(utf8Length(value));
  else if (typeof value === 'boolean') size = 2;
  else if (typeof value === 'bigint') size = 1 + int64VarintSize(value);
  else if (typeof value === 'number') size = 9;
  else if (value === null || value === undefined) size = 0;
  else if (value instanceof Uint8Array) size = delimitedFieldSize(value.length);
  else if (Array.isArray(value)) {
    const arraySlot = reserveSize(sizes);
    let arraySize = 0;
    for (const element of value) arraySize += delimitedFieldSize(sizeAnyValue(element, sizes));
    size = delimitedFieldSize(recordSize(sizes, arraySlot, arraySize));
  } else if (isKeyValueList(value) && Array.isArray(value.kvlist)) {
    const listSlot = reserveSize(sizes);
    size = delimitedFieldSize(recordSize(sizes, listSlot, sizeAttributes(value.kvlist, sizes)));
  } else {
    throw new TypeError(`cannot encode an AnyValue of type ${Object.prototype.toString.call(value)}`);
  }
  return recordSize(sizes, slot, size);
}

/** Encodes a request of `codec`'s signal as an OTLP/protobuf Export…ServiceRequest. */
export function encodeExportRequest<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, data: D): Uint8Array {
  const sizes: number[] = [];
  const writer = new WireWriter(sizeRequest(codec, data, sizes), sizes);
  for (const group of codec.layout.resourceGroups(data)) {
    writer.beginMessage(TAG_LEN_1, false);
    writeResourceGroup(codec, writer, group);
  }
  return writer.finish();
}

function writeResourceGroup<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, w: WireWriter, group: R): void {
  if (w.beginMessage(TAG_LEN_1, true)) writeResource(w, group.resource);
  for (const scopeGroup of codec.layout.scopeGroups(group)) {
    w.beginMessage(TAG_LEN_2, false);
    writeScopeGroup(codec, w, scopeGroup);
  }
  w.stringField(TAG_LEN_3, group.schemaUrl);
}

function writeResource(w: WireWriter, resource: Resource): void {
  writeAttributes(w, TAG_LEN_1, resource.attributes);
  w.uint32Field(TAG_VARINT_2, resource.droppedAttributesCount);
}

function writeScopeGroup<D, R extends ResourceGroup, S extends ScopeGroup, I>(codec: ProtobufSignalCodec<D, R, S, I>, w: WireWriter, group: S): void {
  if (w.beginMessage(TAG_LEN_1, true)) writeScope(w, group.scope);
  for (const record of codec.layout.records(group)) {
    w.beginMessage(TAG_LEN_2, false);
    codec.writeRecord(w, record);
  }
  w.stringField(TAG_LEN_3, group.schemaUrl);
}

function writeScope(w: WireWriter, scope: InstrumentationScope): void {
  w.stringField(TAG_LEN_1, scope.name);
  w.stringField(TAG_LEN_2, scope.version);
  writeAttributes(w, TAG_LEN_3, scope.attributes);
  w.uint32Field(TAG_VARINT_4, scope.droppedAttributesCount);
}

function writeSpan(w: WireWriter, span: Span): void {
  w.hexIdField(TAG_LEN_1, span.traceId, 'Span.traceId');
  w.hexIdField(TAG_LEN_2, span.spanId, 'Span.spanId');
  w.stringField(TAG_LEN_3, span.traceState);
  w.hexIdField(TAG_LEN_4, span.parentSpanId, 'Span.parentSpanId');
  w.stringField(TAG_LEN_5, span.name);
  w.int32Field(TAG_VARINT_6, span.kind);
  if (span.startTimeUnixNano !== 0n) {
    w.byte(TAG_FIXED64_7);
    w.fixed64(span.startTimeUnixNano);
  }
  if (span.endTimeUnixNano !== 0n) {
    w.byte(TAG_FIXED64_8);
    w.fixed64(span.endTimeUnixNano);
  }
  writeAttributes(w, SPAN_TAG_ATTRIBUTES, span.attributes);
  w.uint32Field(SPAN_TAG_DROPPED_ATTRIBUTES, span.droppedAttributesCount);
  for (const event of span.events) {
    w.beginMessage(SPAN_TAG_EVENTS, false);
    writeEvent(w, event);
  }
  w.uint32Field(SPAN_TAG_DROPPED_EVENTS, span.droppedEventsCount);
  for (const link of span.links) {
    w.beginMessage(SPAN_TAG_LINKS, false);
    writeLink(w, link);
  }
  w.uint32Field(SPAN_TAG_DROPPED_LINKS, span.droppedLinksCount);
  if (w.beginMessage(SPAN_TAG_STATUS, true)) {
    w.stringField(TAG_LEN_2, span.status.message);
    w.int32Field(TAG_VARINT_3, span.status.code);
  }
  if (span.flags !== 0) {
    w.varint32(SPAN_TAG_FLAGS);
    w.fixed32(span.flags);
  }
}

function writeEvent(w: WireWriter, event: SpanEvent): void {
  if (event.timeUnixNano !== 0n) {
    w.byte(TAG_FIXED64_1);
    w.fixed64(event.timeUnixNano);
  }
  w.stringField(TAG_LEN_2, event.name);
  writeAttributes(w, TAG_LEN_3, event.attributes);
  w.uint32Field(TAG_VARINT_4, event.droppedAttributesCount);
}

function writeLink(w: WireWriter, link: SpanLink): void {
  w.hexIdField(TAG_LEN_1, link.traceId, 'Span.Link.traceId');
  w.hexIdField(TAG_LEN_2, link.spanId, 'Span.Link.spanId');
  w.stringField(TAG_LEN_3, link.traceState);
  writeAttributes(w, TAG_LEN_4, link.attributes);
  w.uint32Field(TAG_VARINT_5, link.droppedAttributesCount);
  if (link.flags !== 0) {
    w.byte(TAG_FIXED32_6);
    w.fixed32(link.flags);
  }
}

export function writeAttributes(w: WireWriter, tag: number, attributes: readonly KeyValue[]): void {
  for (const attribute of attributes) {
    w.beginMessage(tag, false);
    w.stringField(TAG_LEN_1, attribute.key);
    w.beginMessage(TAG_LEN_2, false);
    writeAnyValue(w, attribute.value);
  }
}

export function writeAnyValue(w: WireWriter, value: AnyValue): void {
  if (typeof value === 'string') {
    w.byte(TAG_LEN_1);
    w.string(value);
  } else if (typeof value === 'boolean') {
    w.byte(TAG_VARINT_2);
    w.byte(value ? 1 : 0);
  } else if (typeof value === 'bigint') {
    w.byte(TAG_VARINT_3);
    w.int64(value);
  } else if (typeof value === 'number') {
    w.byte(TAG_FIXED64_4);
    w.double(value);
  } else if (value === null || value === undefined) {
    // An empty AnyValue.
  } else if (value instanceof Uint8Array) {
    w.byte(TAG_LEN_7);
    w.bytes(value);
  } else if (Array.isArray(value)) {
    w.beginMessage(TAG_LEN_5, false);
    for (const element of value) {
      w.beginMessage(TAG_LEN_1, false);
      writeAnyValue(w, element);
    }
  } else {
    w.beginMessage(TAG_LEN_6, false);
    writeAttributes(w, TAG_LEN_1, value.kvlist);
  }
}

// ---------------------------------------------------------------------------------------------
// Traces

const TRACES_CODEC: ProtobufSignalCodec<TracesData, ResourceSpans, ScopeSpans, Span> = {
  layout: TRACES_LAYOUT,
  request: REQUEST,
  resourceGroup: RESOURCE_SPANS,
  scopeGroup: SCOPE_SPANS,
  decodeRecord: decodeSpan,
  sizeRecord: sizeSpan,
  writeRecord: writeSpan,
};

/** Decodes an OTLP/protobuf ExportTraceServiceRequest. Throws OtlpDecodeError on malformed input. */
export function decodeExportTraceServiceRequest(buf: Uint8Array): TracesData {
  return decodeExportRequest(TRACES_CODEC, buf);
}

/** Encodes TracesData as an OTLP/protobuf ExportTraceServiceRequest. */
export function encodeExportTraceServiceRequest(data: TracesData): Uint8Array {
  return encodeExportRequest(TRACES_CODEC, data);
}

// ---------------------------------------------------------------------------------------------
// Responses

/**
 * Export…ServiceResponse{partial_success = Export…PartialSuccess{rejected_<records>,
 * error_message}}: every signal's response has this layout (rejected_spans, rejected_log_records,
 * rejected_data_points are all field 1, int64). Full success (0, '') is the empty message: zero bytes.
 */
export function encodeExportResponse(rejectedRecords: number, errorMessage: string): Uint8Array {
  if (!Number.isSafeInteger(rejectedRecords)) throw new RangeError(`rejected records must be a safe integer, got ${rejectedRecords}`);
  const rejected = BigInt(rejectedRecords);
  const partialSuccessSize = (rejected === 0n ? 0 : 1 + int64VarintSize(rejected)) + stringFieldSize(errorMessage);
  if (partialSuccessSize === 0) return new Uint8Array(0);
  const w = new WireWriter(delimitedFieldSize(partialSuccessSize), [partialSuccessSize]);
  w.beginMessage(TAG_LEN_1, false);
  if (rejected !== 0n) {
    w.byte(TAG_VARINT_1);
    w.int64(rejected);
  }
  w.stringField(TAG_LEN_2, errorMessage);
  return w.finish();
}

/** ExportTraceServiceResponse{partial_success{rejected_spans, error_message}}. */
export const encodeExportTraceServiceResponse = encodeExportResponse;

/** google.rpc.Status{code, message}, without details: the body of an OTLP/HTTP error response. */
export function encodeRpcStatus(code: number, message: string): Uint8Array {
  const w = new WireWriter(int32FieldSize(code) + stringFieldSize(message), []);
  w.int32Field(TAG_VARINT_1, code);
  w.stringField(TAG_LEN_2, message);
  return w.finish();
}
