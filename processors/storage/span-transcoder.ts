/**
 * The storage stage's decoder: turns bus messages (OTLP/protobuf ExportTraceServiceRequests)
 * straight into `otel_traces` TabSeparated rows, bytes in and bytes out, without building span
 * objects or decoding and re-encoding strings.
 *
 * Why hand-written: decoding into objects (decodeExportTraceServiceRequest) and rendering them as
 * text (encodeSpanRows) cost ≈13 µs of JavaScript per span, most of the storage worker's CPU; this
 * walk costs about a fifth of that (bench/storage-transcode.bench.ts measures both).
 *
 * Guarantee: for every message, the bytes written are exactly those of
 * `encodeSpanRows(decodeSpanMessages([message]))` (the reference path below, which defines the
 * result), and a message the reference path rejects is rejected with the same reason. The walk
 * reads the wire with the decoder's own reader and schemas, so tags, varints, lengths and unknown
 * fields are checked identically; every string is checked to be UTF-8, as the decoder does, while
 * it is copied. Whatever the walk cannot settle itself — invalid input of any kind — sends that one
 * message down the reference path instead, after the rows it wrote are rolled back. Attribute
 * values of the rarer kinds (double, bytes, kvlist, arrays of anything but strings, bools and ints
 * whose JSON needs no escape) are decoded by the decoder and rendered by anyValueToString, one
 * value at a time.
 *
 * How: strings are copied from the input with TSV escaping (plain String columns) or quoted-literal
 * escaping (inside Map and Array values); ids are written as hex from their bytes; times and
 * durations as decimal from their two 32-bit halves. Resource and scope columns are rendered once
 * per ResourceSpans and ScopeSpans and copied into each of their rows; since protobuf fields come in
 * any order, each level first finds its own fields and the positions of its children, then writes.
 * Attributes in the layout SDKs send are recognised from their bytes without the general walk.
 *
 * State: scratch buffers and position lists reused from batch to batch (one transcoder per
 * process, used synchronously), and up to two bodies handed back by SpanRowBatch.release() for
 * later batches. A body is reused only after its release: an aborted insert may still read it.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { writeHexAscii } from '../../collector/hex.js';
import { OtlpDecodeError } from '../../collector/otlp-decode-error.js';
import {
  ANY_VALUE,
  ARRAY_VALUE,
  decodeKeyValue,
  EVENT,
  KEY_VALUE,
  LINK,
  REQUEST,
  RESOURCE,
  RESOURCE_SPANS,
  SCOPE,
  SCOPE_SPANS,
  SPAN,
  SPAN_TAG_ATTRIBUTES,
  SPAN_TAG_DROPPED_ATTRIBUTES,
  SPAN_TAG_DROPPED_EVENTS,
  SPAN_TAG_DROPPED_LINKS,
  SPAN_TAG_EVENTS,
  SPAN_TAG_FLAGS,
  SPAN_TAG_LINKS,
  SPAN_TAG_STATUS,
  STATUS,
  TAG_FIXED32_6,
  TAG_FIXED64_1,
  TAG_FIXED64_4,
  TAG_FIXED64_7,
  TAG_FIXED64_8,
  TAG_LEN_1,
  TAG_LEN_2,
  TAG_LEN_3,
  TAG_LEN_4,
  TAG_LEN_5,
  TAG_LEN_6,
  TAG_LEN_7,
  TAG_VARINT_2,
  TAG_VARINT_3,
  TAG_VARINT_4,
  TAG_VARINT_5,
  TAG_VARINT_6,
  WireReader,
  type MessageSchema,
} from '../../collector/otlp-protobuf.js';
import type { ConsumedMessage } from '../../pipeline/bus.js';
import type { BatchDecoder } from '../../pipeline/stage-runner.js';
import type { KeyValue } from '../../schemas/otlp-traces.js';
import { decodeSpanMessages } from './storage-stage.js';
import {
  anyValueToString,
  encodeSpanRows,
  MAX_DATETIME64_NS,
  QUOTE_ESCAPES,
  quoted,
  SPAN_KIND_NAMES,
  STATUS_CODE_NAMES,
  TSV_ESCAPES,
  tsvEscape,
} from './span-rows.js';

/** What the storage stage inserts: one batch's rows. */
export interface SpanRowBatch {
  /** TabSeparated rows in SPAN_COLUMNS order, each ending in a newline. */
  body: Buffer;
  rows: number;
  /** Messages that went down the reference path (including those rejected). */
  slowPathMessages: number;
  /**
   * Hands the body's memory back for a later batch. Call it once nothing reads `body` any more
   * (its insert has succeeded or failed for good); a body never released is simply collected.
   */
  release(): void;
}

/** The storage stage's decoder: each message's spans as rows, appended to one body. */
export const transcodeSpanMessages: BatchDecoder<SpanRowBatch> = (messages, reject) => transcoder.transcode(messages, reject);

// ---------------------------------------------------------------------------------------------
// Output

/** A growable byte buffer. Writers call reserve() for what they may write, then write in place. */
class ByteSink {
  buf: Buffer;
  /** The same memory, for writing four bytes at once. */
  view: DataView;
  pos = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  /** Room for n more bytes; returns the (possibly new) buffer. */
  reserve(n: number): Buffer {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
      this.view = new DataView(next.buffer, next.byteOffset, next.length);
    }
    return this.buf;
  }
}

const EMPTY_SINK = new ByteSink(Buffer.alloc(0));
/** Released bodies kept for reuse: one in flight while the next batch is transcoded, and a spare. */
const MAX_SPARE_BUFFERS = 2;
/** Larger bodies are left to the garbage collector rather than kept for the life of the process. */
const MAX_SPARE_BUFFER_BYTES = 64 * 1024 * 1024;

/**
 * Thrown inside the walk when only the reference path can settle a message (invalid UTF-8, a
 * truncated fixed-width field): preallocated, since the walk catches it every time.
 */
const FALL_BACK: unique symbol = Symbol('fall back to the reference path');

const BACKSLASH = 0x5c;
const QUOTE = 0x27;
const TAB = 0x09;
const NEWLINE = 0x0a;
const COMMA = 0x2c;
const COLON = 0x3a;
const DOUBLE_QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Byte → the letter after the backslash of its escape, or 0 to copy it as is. */
function escapeTable(escapes: Readonly<Record<string, string>>): Uint8Array {
  const table = new Uint8Array(256);
  for (const [char, escape] of Object.entries(escapes)) {
    if (char.length !== 1 || escape.length !== 2 || escape.charCodeAt(0) !== BACKSLASH) throw new Error(`unsupported escape ${escape}`);
    table[char.charCodeAt(0)] = escape.charCodeAt(1);
  }
  return table;
}

const TSV_TABLE = escapeTable(TSV_ESCAPES);
const QUOTE_TABLE = escapeTable(QUOTE_ESCAPES);

const SPAN_KIND_BYTES = SPAN_KIND_NAMES.map(ascii);
const STATUS_CODE_BYTES = STATUS_CODE_NAMES.map(ascii);
const TRUE_BYTES = ascii('true');
const FALSE_BYTES = ascii('false');
const NULL_BYTES = ascii('null');
const SERVICE_NAME_KEY = ascii('service.name');
const SERVICE_NAME = 'service.name';
/** `]\t[`: between the array columns of events. */
const ARRAY_SEPARATOR = ascii(']\t[');
/** The seven array columns of events and links, all empty. */
const NO_EVENTS_OR_LINKS = ascii(Array(7).fill('[]').join('\t'));
const MAX_NAME_BYTES = Math.max(...SPAN_KIND_NAMES.map((n) => n.length), ...STATUS_CODE_NAMES.map((n) => n.length));

/** MAX_DATETIME64_NS as 32-bit halves: later times are written as it. */
const MAX_TIME_HI = Number(MAX_DATETIME64_NS >> 32n);
const MAX_TIME_LO = Number(MAX_DATETIME64_NS & 0xffff_ffffn);
/** Values below 2^53 (high half below this) are exact as doubles. */
const SAFE_HI_LIMIT = 0x20_0000;
const TWO_POW_32 = 0x1_0000_0000;

/** Falls back unless bytes[start, stop) is UTF-8 (what the decoder requires of every string). */
function checkUtf8(bytes: Uint8Array, start: number, stop: number): void {
  let high = 0;
  for (let i = start; i < stop; i++) high |= bytes[i]!;
  if (high >= 0x80 && !isUtf8(bytes.subarray(start, stop))) throw FALL_BACK;
}

/** True unless JSON.stringify would escape something in the UTF-8 string bytes[start, stop): a control character, '"' or '\\'. */
function isJsonSafe(bytes: Uint8Array, start: number, stop: number): boolean {
  for (let i = start; i < stop; i++) {
    const byte = bytes[i]!;
    if (byte < 0x20 || byte === DOUBLE_QUOTE || byte === BACKSLASH) return false;
  }
  return true;
}

// The put* functions write at out[o] into room the caller reserved (see the bound each states)
// and return the offset after what they wrote.

/**
 * The string r.bytes[start, stop) with `table`'s escapes into out (viewed by outView) at o: at most
 * 2 × its length. Falls back on invalid UTF-8.
 *
 * Four bytes at a time while none of them may need escaping or be part of a multi-byte character
 * (a byte below 0x20, a quote, a backslash or one of 0x80 and up): a byte loop alone measured four
 * times slower, and strings are most of a row.
 */
function putEscaped(out: Uint8Array, outView: DataView, o: number, r: WireReader, start: number, stop: number, table: Uint8Array): number {
  const bytes = r.bytes;
  const view = r.view;
  let high = 0;
  let i = start;
  while (i < stop) {
    if (stop - i >= 4) {
      const word = view.getUint32(i, true);
      const quote = word ^ 0x2727_2727;
      const backslash = word ^ 0x5c5c_5c5c;
      // Bit 7 of a byte is set where it is below 0x20, 0x27, 0x5c or 0x80 and up (exact for the word as a whole).
      const special = ((word - 0x2020_2020) & ~word) | ((quote - 0x0101_0101) & ~quote) | ((backslash - 0x0101_0101) & ~backslash) | word;
      if ((special & 0x8080_8080) === 0) {
        outView.setUint32(o, word, true);
        i += 4;
        o += 4;
        continue;
      }
    }
    const byte = bytes[i++]!;
    const escape = table[byte]!;
    if (escape === 0) {
      out[o++] = byte;
      high |= byte;
    } else {
      out[o++] = BACKSLASH;
      out[o++] = escape;
    }
  }
  // Escapes are ASCII, which never occurs inside a multi-byte sequence: escaping bytes escapes characters.
  if (high >= 0x80 && !isUtf8(bytes.subarray(start, stop))) throw FALL_BACK;
  return o;
}

/** The string bytes[start, stop) as a quoted literal: at most 2 × its length + 2. */
function putQuoted(out: Uint8Array, outView: DataView, o: number, r: WireReader, start: number, stop: number): number {
  out[o++] = QUOTE;
  o = putEscaped(out, outView, o, r, start, stop, QUOTE_TABLE);
  out[o++] = QUOTE;
  return o;
}

/** An ASCII constant, with a view for copying it four bytes at a time. */
interface AsciiConstant {
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

function ascii(text: string): AsciiConstant {
  const bytes = Buffer.from(text, 'latin1');
  return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.length) };
}

/** At most its length. */
function putConstant(out: Uint8Array, outView: DataView, o: number, constant: AsciiConstant): number {
  const { bytes, view } = constant;
  const length = bytes.length;
  let i = 0;
  for (; i + 4 <= length; i += 4, o += 4) outView.setUint32(o, view.getUint32(i, true), true);
  for (; i < length; i++) out[o++] = bytes[i]!;
  return o;
}

/** Each two-digit number as its two ASCII digits, the first one first in memory (little-endian). */
const DIGIT_PAIRS = new Uint16Array(100);
for (let n = 0; n < 100; n++) DIGIT_PAIRS[n] = (0x30 + Math.floor(n / 10)) | ((0x30 + (n % 10)) << 8);

/** value (0 ≤ value < 2^31) in exactly `digits` decimal digits, zero-padded. */
function putPaddedInt(out: Uint8Array, outView: DataView, o: number, value: number, digits: number): number {
  let v = value | 0;
  let i = o + digits;
  while (i - o >= 2) {
    const q = (v / 100) | 0;
    i -= 2;
    outView.setUint16(i, DIGIT_PAIRS[v - q * 100]!, true);
    v = q;
  }
  if (i > o) out[o] = 0x30 + v;
  return o + digits;
}

/** A non-negative integer below 2^53 in decimal: at most 16 bytes. */
function putSafeUint(out: Uint8Array, outView: DataView, o: number, value: number): number {
  if (value >= 0x8000_0000) {
    // Split so that each part is a small integer: the digits below 10^8 come out zero-padded.
    const high = Math.floor(value / 1e8);
    o = putSafeUint(out, outView, o, high);
    return putPaddedInt(out, outView, o, value - high * 1e8, 8);
  }
  let digits = 1;
  for (let limit = 10; limit <= value; limit *= 10) digits++;
  return putPaddedInt(out, outView, o, value, digits);
}

/** The uint64 hi:lo in decimal, or (signed) the int64 hi:lo as anyValueToString renders it: at most 20 bytes. */
function putInteger(out: Uint8Array, outView: DataView, o: number, lo: number, hi: number, signed: boolean): number {
  if (hi < SAFE_HI_LIMIT) return putSafeUint(out, outView, o, hi * TWO_POW_32 + lo);
  const value = (BigInt(hi) << 32n) | BigInt(lo);
  const text = (signed ? BigInt.asIntN(64, value) : value).toString();
  for (let i = 0; i < text.length; i++) out[o++] = text.charCodeAt(i);
  return o;
}

/** The seconds last written by putTimestamp and their ten digits (spans of a batch share them). */
let cachedSeconds = -1;
let cachedDigits0 = 0;
let cachedDigits4 = 0;
let cachedDigits8 = 0;

/**
 * The fixed64 nanoseconds hi:lo as dateTime64() writes them, clamped to MAX_DATETIME64_NS: ten
 * digits of seconds, a dot, nine of nanoseconds (20 bytes).
 */
function putTimestamp(out: Uint8Array, outView: DataView, o: number, lo: number, hi: number): number {
  if (hi > MAX_TIME_HI || (hi === MAX_TIME_HI && lo > MAX_TIME_LO)) {
    hi = MAX_TIME_HI;
    lo = MAX_TIME_LO;
  }
  // Long division by 1e9 with hi as one digit, then two 16-bit digits of lo: every intermediate
  // value stays below 2^53, so doubles are exact.
  let rest = hi;
  const q2 = Math.floor(rest / 1e9);
  rest -= q2 * 1e9;
  rest = rest * 0x1_0000 + (lo >>> 16);
  const q1 = Math.floor(rest / 1e9);
  rest -= q1 * 1e9;
  rest = rest * 0x1_0000 + (lo & 0xffff);
  const q0 = Math.floor(rest / 1e9);
  rest -= q0 * 1e9;
  const seconds = (q2 * 0x1_0000 + q1) * 0x1_0000 + q0;
  if (seconds === cachedSeconds) {
    outView.setUint32(o, cachedDigits0, true);
    outView.setUint32(o + 4, cachedDigits4, true);
    outView.setUint16(o + 8, cachedDigits8, true);
  } else {
    // At most 9_223_372_036: in two parts below 2^31.
    const secondsHigh = Math.floor(seconds / 1e5);
    putPaddedInt(out, outView, o, secondsHigh, 5);
    putPaddedInt(out, outView, o + 5, seconds - secondsHigh * 1e5, 5);
    cachedSeconds = seconds;
    cachedDigits0 = outView.getUint32(o, true);
    cachedDigits4 = outView.getUint32(o + 4, true);
    cachedDigits8 = outView.getUint16(o + 8, true);
  }
  out[o + 10] = 0x2e;
  return putPaddedInt(out, outView, o + 11, rest, 9);
}

/** end - start in decimal when end > start, else 0 (both uint64 as halves): at most 20 bytes. */
function putDuration(out: Uint8Array, outView: DataView, o: number, startLo: number, startHi: number, endLo: number, endHi: number): number {
  if (endHi < startHi || (endHi === startHi && endLo <= startLo)) {
    out[o] = 0x30;
    return o + 1;
  }
  let lo = endLo - startLo;
  let hi = endHi - startHi;
  if (lo < 0) {
    lo += TWO_POW_32;
    hi -= 1;
  }
  return putInteger(out, outView, o, lo, hi, false);
}

function writeByte(sink: ByteSink, byte: number): void {
  sink.reserve(1)[sink.pos++] = byte;
}

function writeConstant(sink: ByteSink, constant: AsciiConstant): void {
  const out = sink.reserve(constant.bytes.length);
  sink.pos = putConstant(out, sink.view, sink.pos, constant);
}

/** Any text, through Buffer's UTF-8 encoder (for the rare values the decoder rendered). */
function writeText(sink: ByteSink, text: string): void {
  // At most three UTF-8 bytes per UTF-16 unit.
  sink.reserve(3 * text.length);
  sink.pos += sink.buf.write(text, sink.pos, 'utf8');
}

// ---------------------------------------------------------------------------------------------
// The walk

/** What a KeyValue's value is once read: the last scalar of its AnyValue(s), or decoded. */
const VALUE_NONE = 0;
const VALUE_STRING = 1;
const VALUE_BOOL = 2;
const VALUE_INT = 3;
const VALUE_ARRAY = 4;
const VALUE_DECODED = 5;
/** Fields per array element in SpanTranscoder.elements: the kind, then start and stop (string) or lo and hi. */
const ELEMENT_FIELDS = 3;

/** Fields per event in SpanTranscoder.events: time lo, time hi, name start, name stop, first and end attribute pair. */
const EVENT_FIELDS = 6;
/** Fields per link in SpanTranscoder.links: trace id, span id, trace state (start, stop each), first and end attribute pair. */
const LINK_FIELDS = 8;

class SpanTranscoder {
  /** The body being written (one per batch). */
  private out = EMPTY_SINK;
  /**
   * Bodies handed back by release(), for later batches: writing into fresh memory costs a page
   * fault every 4 KiB, which measured more than a tenth of the transcoder's time.
   */
  private readonly spareBuffers: Buffer[] = [];
  /** Per ResourceSpans: the service name (TSV) and the resource attributes (map literal). */
  private readonly serviceName = new ByteSink(Buffer.allocUnsafeSlow(256));
  private readonly resourceMap = new ByteSink(Buffer.allocUnsafeSlow(1024));
  /** The columns ServiceName … ScopeVersion of the current scope, tab-separated, copied into each row. */
  private readonly shared = new ByteSink(Buffer.allocUnsafeSlow(2048));
  private resourceAttributes = 0;
  private serviceNameFound = false;

  // Positions (start, stop pairs) found by one level's first pass; reused.
  private readonly scopeSpansRanges: number[] = [];
  private readonly spanRanges: number[] = [];
  private readonly attributeRanges: number[] = [];
  /** Attribute pairs of events and links, referenced by index from events and links. */
  private readonly nestedAttributeRanges: number[] = [];
  private nestedCount = 0;
  /** EVENT_FIELDS numbers per event of the current span. */
  private readonly events: number[] = [];
  private eventCount = 0;
  /** LINK_FIELDS numbers per link of the current span. */
  private readonly links: number[] = [];
  private linkCount = 0;

  // The KeyValue last read by readKeyValue.
  /** ELEMENT_FIELDS numbers per element of an array value. */
  private readonly elements: number[] = [];
  private elementCount = 0;
  /** The most bytes the array value's JSON takes, escaped. */
  private arrayBytes = 0;
  private keyStart = 0;
  private keyStop = 0;
  private valueKind = VALUE_NONE;
  private valueStart = 0;
  private valueStop = 0;
  private valueLo = 0;
  private valueHi = 0;
  private decoded: KeyValue | null = null;

  transcode(messages: readonly ConsumedMessage[], reject: (message: ConsumedMessage, reason: string) => void): SpanRowBatch {
    let inputBytes = 0;
    for (const m of messages) inputBytes += m.value.byteLength;
    // Rows repeat the resource and scope columns and spell ids in hex: usually about twice the input.
    const out = new ByteSink(this.takeBuffer(Math.max(4096, 2 * inputBytes)));
    this.out = out;
    let rows = 0;
    let slowPathMessages = 0;
    for (const m of messages) {
      const mark = out.pos;
      try {
        // Without the decoder's per-request cache of values: the walk decodes few strings.
        rows += this.request(new WireReader(m.value, false));
        continue;
      } catch (err) {
        if (err !== FALL_BACK && !(err instanceof OtlpDecodeError)) throw err;
      }
      out.pos = mark;
      slowPathMessages++;
      const { text, rows: slowRows } = encodeSpanRows(decodeSpanMessages([m], reject));
      writeText(out, text);
      rows += slowRows;
    }
    this.out = EMPTY_SINK;
    let released = false;
    return {
      body: out.buf.subarray(0, out.pos),
      rows,
      slowPathMessages,
      release: () => {
        if (released) return;
        released = true;
        if (this.spareBuffers.length < MAX_SPARE_BUFFERS && out.buf.length <= MAX_SPARE_BUFFER_BYTES) this.spareBuffers.push(out.buf);
      },
    };
  }

  /** A released buffer of at least `bytes`, or a new one. */
  private takeBuffer(bytes: number): Buffer {
    const spare = this.spareBuffers.pop();
    return spare && spare.length >= bytes ? spare : Buffer.allocUnsafeSlow(bytes);
  }

  /** ExportTraceServiceRequest: returns the rows written. */
  private request(r: WireReader): number {
    const end = r.bytes.length;
    let rows = 0;
    while (r.pos < end) {
      const tag = r.readTag(end, REQUEST);
      if (tag === TAG_LEN_1) rows += this.resourceSpans(r, r.readDelimitedEnd(end, REQUEST, 1));
      else r.skipField(tag, end, REQUEST);
    }
    return rows;
  }

  private resourceSpans(r: WireReader, end: number): number {
    this.resourceMap.pos = 0;
    this.serviceName.pos = 0;
    this.resourceAttributes = 0;
    this.serviceNameFound = false;
    const scopes = this.scopeSpansRanges;
    let scopeCount = 0;
    while (r.pos < end) {
      const tag = r.readTag(end, RESOURCE_SPANS);
      if (tag === TAG_LEN_1) {
        this.resource(r, r.readDelimitedEnd(end, RESOURCE_SPANS, 1));
      } else if (tag === TAG_LEN_2) {
        const stop = r.readDelimitedEnd(end, RESOURCE_SPANS, 2);
        scopes[scopeCount++] = r.pos;
        scopes[scopeCount++] = stop;
        r.pos = stop;
      } else if (tag === TAG_LEN_3) {
        this.skipString(r, end, RESOURCE_SPANS, 3);
      } else {
        r.skipField(tag, end, RESOURCE_SPANS);
      }
    }
    const shared = this.shared;
    const serviceName = this.serviceName.buf.subarray(0, this.serviceName.pos);
    const resourceMap = this.resourceMap.buf.subarray(0, this.resourceMap.pos);
    shared.pos = 0;
    const out = shared.reserve(serviceName.length + resourceMap.length + 4);
    out.set(serviceName, 0);
    let o = serviceName.length;
    out[o++] = TAB;
    out[o++] = OPEN_BRACE;
    out.set(resourceMap, o);
    o += resourceMap.length;
    out[o++] = CLOSE_BRACE;
    out[o++] = TAB;
    const resourceEnd = o;
    let rows = 0;
    // scopeSpansRanges is not reused below this level, so indexing it stays valid.
    for (let i = 0; i < scopeCount; i += 2) {
      shared.pos = resourceEnd;
      r.pos = scopes[i]!;
      rows += this.scopeSpans(r, scopes[i + 1]!);
    }
    // Back to the end of this ResourceSpans, where the request's next field starts.
    r.pos = end;
    return rows;
  }

  /** Appends the resource's attributes to resourceMap and finds the service name. */
  private resource(r: WireReader, end: number): void {
    while (r.pos < end) {
      const tag = r.readTag(end, RESOURCE);
      if (tag === TAG_LEN_1) {
        const stop = r.readDelimitedEnd(end, RESOURCE, 1);
        this.readKeyValue(r, r.pos, stop);
        this.writeKeyValue(r, this.resourceMap, this.resourceAttributes++ > 0 ? COMMA : -1);
        if (!this.serviceNameFound && this.keyIsServiceName(r)) {
          this.serviceNameFound = true;
          if (this.valueKind === VALUE_DECODED) writeText(this.serviceName, tsvEscape(anyValueToString(this.decoded!.value)));
          else {
            const sink = this.serviceName;
            sink.pos = this.putValue(r, sink.reserve(this.maxValueBytes()), sink.view, sink.pos, TSV_TABLE);
          }
        }
      } else if (tag === TAG_VARINT_2) {
        r.readUint32(end, RESOURCE, 2);
      } else {
        r.skipField(tag, end, RESOURCE);
      }
    }
  }

  private scopeSpans(r: WireReader, end: number): number {
    let nameStart = 0;
    let nameStop = 0;
    let versionStart = 0;
    let versionStop = 0;
    const spans = this.spanRanges;
    let spanCount = 0;
    while (r.pos < end) {
      const tag = r.readTag(end, SCOPE_SPANS);
      if (tag === TAG_LEN_1) {
        const scopeEnd = r.readDelimitedEnd(end, SCOPE_SPANS, 1);
        while (r.pos < scopeEnd) {
          const scopeTag = r.readTag(scopeEnd, SCOPE);
          if (scopeTag === TAG_LEN_1) {
            // A string field sent twice: the last wins, but each must be UTF-8.
            checkUtf8(r.bytes, nameStart, nameStop);
            nameStop = r.readDelimitedEnd(scopeEnd, SCOPE, 1);
            nameStart = r.pos;
            r.pos = nameStop;
          } else if (scopeTag === TAG_LEN_2) {
            checkUtf8(r.bytes, versionStart, versionStop);
            versionStop = r.readDelimitedEnd(scopeEnd, SCOPE, 2);
            versionStart = r.pos;
            r.pos = versionStop;
          } else if (scopeTag === TAG_LEN_3) {
            // Scope attributes are not stored, but must decode.
            decodeKeyValue(r, r.readDelimitedEnd(scopeEnd, SCOPE, 3), 1);
          } else if (scopeTag === TAG_VARINT_4) {
            r.readUint32(scopeEnd, SCOPE, 4);
          } else {
            r.skipField(scopeTag, scopeEnd, SCOPE);
          }
        }
      } else if (tag === TAG_LEN_2) {
        const stop = r.readDelimitedEnd(end, SCOPE_SPANS, 2);
        spans[spanCount++] = r.pos;
        spans[spanCount++] = stop;
        r.pos = stop;
      } else if (tag === TAG_LEN_3) {
        this.skipString(r, end, SCOPE_SPANS, 3);
      } else {
        r.skipField(tag, end, SCOPE_SPANS);
      }
    }
    const shared = this.shared;
    const out = shared.reserve(2 * (nameStop - nameStart + versionStop - versionStart) + 1);
    let o = putEscaped(out, shared.view, shared.pos, r, nameStart, nameStop, TSV_TABLE);
    out[o++] = TAB;
    shared.pos = putEscaped(out, shared.view, o, r, versionStart, versionStop, TSV_TABLE);
    const columns = out.subarray(0, shared.pos);
    for (let i = 0; i < spanCount; i += 2) {
      r.pos = spans[i]!;
      this.span(r, spans[i + 1]!, columns);
    }
    return spanCount >> 1;
  }

  /** One row: finds the span's fields, then writes them in column order. */
  private span(r: WireReader, end: number, sharedColumns: Uint8Array): void {
    const bytes = r.bytes;
    const view = r.view;
    let traceIdStart = 0;
    let traceIdStop = 0;
    let spanIdStart = 0;
    let spanIdStop = 0;
    let traceStateStart = 0;
    let traceStateStop = 0;
    let parentStart = 0;
    let parentStop = 0;
    let nameStart = 0;
    let nameStop = 0;
    let kind = 0;
    let startLo = 0;
    let startHi = 0;
    let endLo = 0;
    let endHi = 0;
    let statusMessageStart = 0;
    let statusMessageStop = 0;
    let statusCode = 0;
    const attributes = this.attributeRanges;
    let attributeCount = 0;
    this.eventCount = 0;
    this.linkCount = 0;
    this.nestedCount = 0;
    while (r.pos < end) {
      const tag = r.readTag(end, SPAN);
      switch (tag) {
        // Length-delimited fields share one call of readDelimitedEnd: fewer call sites, more of them inlined.
        case TAG_LEN_1:
        case TAG_LEN_2:
        case TAG_LEN_3:
        case TAG_LEN_4:
        case TAG_LEN_5:
        case SPAN_TAG_ATTRIBUTES:
        case SPAN_TAG_EVENTS:
        case SPAN_TAG_LINKS:
        case SPAN_TAG_STATUS: {
          const stop = r.readDelimitedEnd(end, SPAN, tag >>> 3);
          const start = r.pos;
          r.pos = stop;
          switch (tag) {
            case TAG_LEN_1:
              traceIdStart = start;
              traceIdStop = stop;
              break;
            case TAG_LEN_2:
              spanIdStart = start;
              spanIdStop = stop;
              break;
            case TAG_LEN_3:
              // A string field sent twice: the last wins, but each must be UTF-8.
              checkUtf8(bytes, traceStateStart, traceStateStop);
              traceStateStart = start;
              traceStateStop = stop;
              break;
            case TAG_LEN_4:
              parentStart = start;
              parentStop = stop;
              break;
            case TAG_LEN_5:
              checkUtf8(bytes, nameStart, nameStop);
              nameStart = start;
              nameStop = stop;
              break;
            case SPAN_TAG_ATTRIBUTES:
              attributes[attributeCount++] = start;
              attributes[attributeCount++] = stop;
              break;
            case SPAN_TAG_EVENTS:
              r.pos = start;
              this.event(r, stop);
              break;
            case SPAN_TAG_LINKS:
              r.pos = start;
              this.link(r, stop);
              break;
            default: {
              // Status messages sent twice merge: the last message and the last code win.
              r.pos = start;
              while (r.pos < stop) {
                const statusTag = r.readTag(stop, STATUS);
                if (statusTag === TAG_LEN_2) {
                  checkUtf8(bytes, statusMessageStart, statusMessageStop);
                  statusMessageStop = r.readDelimitedEnd(stop, STATUS, 2);
                  statusMessageStart = r.pos;
                  r.pos = statusMessageStop;
                } else if (statusTag === TAG_VARINT_3) {
                  statusCode = r.readInt32(stop, STATUS, 3);
                } else {
                  r.skipField(statusTag, stop, STATUS);
                }
              }
            }
          }
          break;
        }
        case TAG_VARINT_6:
          kind = r.readInt32(end, SPAN, 6);
          break;
        case TAG_FIXED64_7:
          if (end - r.pos < 8) throw FALL_BACK;
          startLo = view.getUint32(r.pos, true);
          startHi = view.getUint32(r.pos + 4, true);
          r.pos += 8;
          break;
        case TAG_FIXED64_8:
          if (end - r.pos < 8) throw FALL_BACK;
          endLo = view.getUint32(r.pos, true);
          endHi = view.getUint32(r.pos + 4, true);
          r.pos += 8;
          break;
        case SPAN_TAG_DROPPED_ATTRIBUTES:
        case SPAN_TAG_DROPPED_EVENTS:
        case SPAN_TAG_DROPPED_LINKS:
          r.readUint32(end, SPAN, tag >>> 3);
          break;
        case SPAN_TAG_FLAGS:
          if (end - r.pos < 4) throw FALL_BACK;
          r.pos += 4;
          break;
        default:
          r.skipField(tag, end, SPAN);
      }
    }

    const sink = this.out;
    // Timestamp … SpanKind and the shared columns; each bound is stated at its put* function.
    let out = sink.reserve(
      20 +
        2 * (traceIdStop - traceIdStart + spanIdStop - spanIdStart + parentStop - parentStart) +
        2 * (traceStateStop - traceStateStart + nameStop - nameStart) +
        MAX_NAME_BYTES +
        sharedColumns.length +
        8,
    );
    let o = putTimestamp(out, sink.view, sink.pos, startLo, startHi);
    out[o++] = TAB;
    o = writeHexAscii(bytes, traceIdStart, traceIdStop, sink.view, o);
    out[o++] = TAB;
    o = writeHexAscii(bytes, spanIdStart, spanIdStop, sink.view, o);
    out[o++] = TAB;
    o = writeHexAscii(bytes, parentStart, parentStop, sink.view, o);
    out[o++] = TAB;
    o = putEscaped(out, sink.view, o, r, traceStateStart, traceStateStop, TSV_TABLE);
    out[o++] = TAB;
    o = putEscaped(out, sink.view, o, r, nameStart, nameStop, TSV_TABLE);
    out[o++] = TAB;
    o = putConstant(out, sink.view, o, SPAN_KIND_BYTES[kind] ?? SPAN_KIND_BYTES[0]!);
    out[o++] = TAB;
    out.set(sharedColumns, o);
    o += sharedColumns.length;
    out[o++] = TAB;
    sink.pos = o;
    this.writeMap(r, attributes, 0, attributeCount);
    out = sink.reserve(20 + MAX_NAME_BYTES + 2 * (statusMessageStop - statusMessageStart) + 4);
    o = sink.pos;
    out[o++] = TAB;
    o = putDuration(out, sink.view, o, startLo, startHi, endLo, endHi);
    out[o++] = TAB;
    o = putConstant(out, sink.view, o, STATUS_CODE_BYTES[statusCode] ?? STATUS_CODE_BYTES[0]!);
    out[o++] = TAB;
    o = putEscaped(out, sink.view, o, r, statusMessageStart, statusMessageStop, TSV_TABLE);
    out[o++] = TAB;
    sink.pos = o;
    if (this.eventCount === 0 && this.linkCount === 0) {
      out = sink.reserve(NO_EVENTS_OR_LINKS.bytes.length + 1);
      o = putConstant(out, sink.view, sink.pos, NO_EVENTS_OR_LINKS);
    } else {
      this.writeEvents(r);
      writeByte(sink, TAB);
      this.writeLinks(r);
      out = sink.reserve(1);
      o = sink.pos;
    }
    out[o++] = NEWLINE;
    sink.pos = o;
  }

  /** Records one event's time, name and attribute positions. */
  private event(r: WireReader, end: number): void {
    let timeLo = 0;
    let timeHi = 0;
    let nameStart = 0;
    let nameStop = 0;
    const firstAttribute = this.nestedCount;
    while (r.pos < end) {
      const tag = r.readTag(end, EVENT);
      if (tag === TAG_FIXED64_1) {
        if (end - r.pos < 8) throw FALL_BACK;
        timeLo = r.view.getUint32(r.pos, true);
        timeHi = r.view.getUint32(r.pos + 4, true);
        r.pos += 8;
      } else if (tag === TAG_LEN_2 || tag === TAG_LEN_3) {
        const stop = r.readDelimitedEnd(end, EVENT, tag >>> 3);
        if (tag === TAG_LEN_2) {
          checkUtf8(r.bytes, nameStart, nameStop);
          nameStart = r.pos;
          nameStop = stop;
        } else {
          this.addNestedAttribute(r.pos, stop);
        }
        r.pos = stop;
      } else if (tag === TAG_VARINT_4) {
        r.readUint32(end, EVENT, 4);
      } else {
        r.skipField(tag, end, EVENT);
      }
    }
    const events = this.events;
    let e = this.eventCount;
    events[e++] = timeLo;
    events[e++] = timeHi;
    events[e++] = nameStart;
    events[e++] = nameStop;
    events[e++] = firstAttribute;
    events[e++] = this.nestedCount;
    this.eventCount = e;
  }

  /** Records one link's ids, trace state and attribute positions, in LINK_FIELDS order. */
  private link(r: WireReader, end: number): void {
    const links = this.links;
    const l = this.linkCount;
    for (let i = 0; i < 6; i++) links[l + i] = 0;
    links[l + 6] = this.nestedCount;
    while (r.pos < end) {
      const tag = r.readTag(end, LINK);
      if (tag === TAG_LEN_1 || tag === TAG_LEN_2 || tag === TAG_LEN_3 || tag === TAG_LEN_4) {
        const field = tag >>> 3;
        const stop = r.readDelimitedEnd(end, LINK, field);
        if (field === 4) {
          this.addNestedAttribute(r.pos, stop);
        } else {
          // Fields 1 to 3 (trace id, span id, trace state) at 0, 2 and 4; the state must be UTF-8.
          const at = l + 2 * (field - 1);
          if (field === 3) checkUtf8(r.bytes, links[at]!, links[at + 1]!);
          links[at] = r.pos;
          links[at + 1] = stop;
        }
        r.pos = stop;
      } else if (tag === TAG_VARINT_5) {
        r.readUint32(end, LINK, 5);
      } else if (tag === TAG_FIXED32_6) {
        if (end - r.pos < 4) throw FALL_BACK;
        r.pos += 4;
      } else {
        r.skipField(tag, end, LINK);
      }
    }
    links[l + 7] = this.nestedCount;
    this.linkCount = l + LINK_FIELDS;
  }

  private addNestedAttribute(start: number, stop: number): void {
    this.nestedAttributeRanges[this.nestedCount++] = start;
    this.nestedAttributeRanges[this.nestedCount++] = stop;
  }

  /** Events.Timestamp, Events.Name and Events.Attributes: three arrays. */
  private writeEvents(r: WireReader): void {
    const sink = this.out;
    const events = this.events;
    const count = this.eventCount;
    writeByte(sink, OPEN_BRACKET);
    for (let e = 0; e < count; e += EVENT_FIELDS) {
      const out = sink.reserve(23);
      let o = sink.pos;
      if (e > 0) out[o++] = COMMA;
      out[o++] = QUOTE;
      o = putTimestamp(out, sink.view, o, events[e]!, events[e + 1]!);
      out[o++] = QUOTE;
      sink.pos = o;
    }
    writeConstant(sink, ARRAY_SEPARATOR);
    for (let e = 0; e < count; e += EVENT_FIELDS) {
      const start = events[e + 2]!;
      const stop = events[e + 3]!;
      const out = sink.reserve(2 * (stop - start) + 3);
      let o = sink.pos;
      if (e > 0) out[o++] = COMMA;
      sink.pos = putQuoted(out, sink.view, o, r, start, stop);
    }
    writeConstant(sink, ARRAY_SEPARATOR);
    for (let e = 0; e < count; e += EVENT_FIELDS) {
      if (e > 0) writeByte(sink, COMMA);
      this.writeMap(r, this.nestedAttributeRanges, events[e + 4]!, events[e + 5]!);
    }
    writeByte(sink, CLOSE_BRACKET);
  }

  /** Links.TraceId, Links.SpanId, Links.TraceState and Links.Attributes: four arrays. */
  private writeLinks(r: WireReader): void {
    const sink = this.out;
    const links = this.links;
    const count = this.linkCount;
    // The ids (hex) and the trace state (quoted) are start, stop pairs at 0, 2 and 4 of each link.
    for (let field = 0; field < 6; field += 2) {
      writeByte(sink, OPEN_BRACKET);
      for (let l = 0; l < count; l += LINK_FIELDS) {
        const start = links[l + field]!;
        const stop = links[l + field + 1]!;
        const out = sink.reserve(2 * (stop - start) + 3);
        let o = sink.pos;
        if (l > 0) out[o++] = COMMA;
        if (field === 4) {
          o = putQuoted(out, sink.view, o, r, start, stop);
        } else {
          out[o++] = QUOTE;
          o = writeHexAscii(r.bytes, start, stop, sink.view, o);
          out[o++] = QUOTE;
        }
        sink.pos = o;
      }
      writeByte(sink, CLOSE_BRACKET);
      writeByte(sink, TAB);
    }
    writeByte(sink, OPEN_BRACKET);
    for (let l = 0; l < count; l += LINK_FIELDS) {
      if (l > 0) writeByte(sink, COMMA);
      this.writeMap(r, this.nestedAttributeRanges, links[l + 6]!, links[l + 7]!);
    }
    writeByte(sink, CLOSE_BRACKET);
  }

  /** A Map literal of the KeyValues at ranges[from, to) (start, stop pairs). */
  private writeMap(r: WireReader, ranges: readonly number[], from: number, to: number): void {
    const sink = this.out;
    if (from === to) writeByte(sink, OPEN_BRACE);
    for (let i = from; i < to; i += 2) {
      this.readKeyValue(r, ranges[i]!, ranges[i + 1]!);
      this.writeKeyValue(r, sink, i === from ? OPEN_BRACE : COMMA);
    }
    writeByte(sink, CLOSE_BRACE);
  }

  /**
   * Reads the KeyValue at [start, stop) into key* and value*. Fields sent twice follow the
   * decoder's merge: the last key wins, and the value is the last scalar of all its AnyValues, or
   * an array of scalars when that is its only value. Any other value makes the decoder read the
   * whole pair (VALUE_DECODED).
   */
  private readKeyValue(r: WireReader, start: number, stop: number): void {
    if (this.readCanonicalKeyValue(r.bytes, start, stop)) {
      r.pos = stop;
      return;
    }
    r.pos = start;
    let keyStart = 0;
    let keyStop = 0;
    this.valueKind = VALUE_NONE;
    while (r.pos < stop) {
      const tag = r.readTag(stop, KEY_VALUE);
      if (tag === TAG_LEN_1) {
        // A string field sent twice: the last wins, but each must be UTF-8.
        checkUtf8(r.bytes, keyStart, keyStop);
        keyStop = r.readDelimitedEnd(stop, KEY_VALUE, 1);
        keyStart = r.pos;
        r.pos = keyStop;
      } else if (tag === TAG_LEN_2) {
        const valueEnd = r.readDelimitedEnd(stop, KEY_VALUE, 2);
        for (;;) {
          const other = this.readScalars(r, valueEnd);
          if (other === 0) break;
          if (other !== TAG_LEN_5 || this.valueKind !== VALUE_NONE || !this.readArray(r, r.readDelimitedEnd(valueEnd, ANY_VALUE, 5))) {
            r.pos = start;
            this.decoded = decodeKeyValue(r, stop, 1);
            this.valueKind = VALUE_DECODED;
            return;
          }
          this.valueKind = VALUE_ARRAY;
        }
      } else {
        r.skipField(tag, stop, KEY_VALUE);
      }
    }
    this.keyStart = keyStart;
    this.keyStop = keyStop;
  }

  /**
   * The layout SDKs send, recognised from its bytes without the general walk: the key, then a
   * value holding one string, or a bool or int below 128, each length in one byte and nothing
   * else in the pair. The decoder reads exactly that from these bytes (the strings' UTF-8 is
   * checked as they are written). False for any other layout.
   */
  private readCanonicalKeyValue(bytes: Uint8Array, start: number, stop: number): boolean {
    const keyLength = bytes[start + 1]!;
    const keyStop = start + 2 + keyLength;
    if (bytes[start] !== TAG_LEN_1 || keyLength >= 0x80 || keyStop + 2 > stop || bytes[keyStop] !== TAG_LEN_2) return false;
    const valueStart = keyStop + 2;
    const valueLength = bytes[keyStop + 1]!;
    if (valueLength < 2 || valueLength >= 0x80 || valueStart + valueLength !== stop) return false;
    const tag = bytes[valueStart]!;
    // The string's length, or the whole varint.
    const payload = bytes[valueStart + 1]!;
    if (payload >= 0x80) return false;
    if (tag === TAG_LEN_1) {
      if (valueLength !== 2 + payload) return false;
      this.valueKind = VALUE_STRING;
      this.valueStart = valueStart + 2;
      this.valueStop = stop;
    } else if ((tag === TAG_VARINT_2 || tag === TAG_VARINT_3) && valueLength === 2) {
      this.valueKind = tag === TAG_VARINT_2 ? VALUE_BOOL : VALUE_INT;
      this.valueLo = payload;
      this.valueHi = 0;
    } else {
      return false;
    }
    this.keyStart = start + 2;
    this.keyStop = keyStop;
    return true;
  }

  /**
   * Reads the fields of the AnyValue ending at `end` into value*, merging into what is there (the
   * last scalar wins). Returns 0 at the end, or the tag of a field it leaves to the caller, with
   * pos after that tag: a value that is not a scalar, or any value after an array.
   */
  private readScalars(r: WireReader, end: number): number {
    while (r.pos < end) {
      const tag = r.readTag(end, ANY_VALUE);
      if (tag === TAG_LEN_1 || tag === TAG_VARINT_2 || tag === TAG_VARINT_3) {
        if (this.valueKind === VALUE_ARRAY) return tag;
        // Replaced: a string read earlier must still have been UTF-8.
        if (this.valueKind === VALUE_STRING) checkUtf8(r.bytes, this.valueStart, this.valueStop);
        if (tag === TAG_LEN_1) {
          this.valueKind = VALUE_STRING;
          const stop = r.readDelimitedEnd(end, ANY_VALUE, 1);
          this.valueStart = r.pos;
          this.valueStop = stop;
          r.pos = stop;
        } else {
          this.valueKind = tag === TAG_VARINT_2 ? VALUE_BOOL : VALUE_INT;
          r.readVarint64(end, ANY_VALUE, tag >>> 3);
          this.valueLo = r.lo;
          this.valueHi = r.hi;
        }
      } else if (tag === TAG_FIXED64_4 || tag === TAG_LEN_5 || tag === TAG_LEN_6 || tag === TAG_LEN_7) {
        return tag;
      } else {
        r.skipField(tag, end, ANY_VALUE);
      }
    }
    return 0;
  }

  /**
   * Reads the ArrayValue ending at `end` into elements, if each element is a scalar whose JSON
   * form needs no escape (anyValueToString writes arrays as JSON); false otherwise.
   */
  private readArray(r: WireReader, end: number): boolean {
    const elements = this.elements;
    let count = 0;
    let bytes = 2;
    while (r.pos < end) {
      const tag = r.readTag(end, ARRAY_VALUE);
      if (tag !== TAG_LEN_1) {
        r.skipField(tag, end, ARRAY_VALUE);
        continue;
      }
      this.valueKind = VALUE_NONE;
      if (this.readScalars(r, r.readDelimitedEnd(end, ARRAY_VALUE, 1)) !== 0) return false;
      const kind = this.valueKind;
      elements[count++] = kind;
      if (kind === VALUE_STRING) {
        if (!isJsonSafe(r.bytes, this.valueStart, this.valueStop)) return false;
        elements[count++] = this.valueStart;
        elements[count++] = this.valueStop;
        bytes += 2 * (this.valueStop - this.valueStart) + 3;
      } else {
        elements[count++] = this.valueLo;
        elements[count++] = this.valueHi;
        bytes += 21;
      }
    }
    this.elementCount = count;
    this.arrayBytes = bytes;
    return true;
  }

  /** `lead` (a byte, or none if negative), then `'key':'value'` of the KeyValue last read. */
  private writeKeyValue(r: WireReader, sink: ByteSink, lead: number): void {
    if (this.valueKind === VALUE_DECODED) {
      if (lead >= 0) writeByte(sink, lead);
      const kv = this.decoded!;
      writeText(sink, `${quoted(kv.key)}:${quoted(anyValueToString(kv.value))}`);
      return;
    }
    const out = sink.reserve(2 * (this.keyStop - this.keyStart) + this.maxValueBytes() + 6);
    let o = sink.pos;
    if (lead >= 0) out[o++] = lead;
    o = putQuoted(out, sink.view, o, r, this.keyStart, this.keyStop);
    out[o++] = COLON;
    out[o++] = QUOTE;
    o = this.putValue(r, out, sink.view, o, QUOTE_TABLE);
    out[o++] = QUOTE;
    sink.pos = o;
  }

  /** The most bytes putValue may write. */
  private maxValueBytes(): number {
    if (this.valueKind === VALUE_STRING) return 2 * (this.valueStop - this.valueStart);
    return this.valueKind === VALUE_ARRAY ? this.arrayBytes : 20;
  }

  /** The value last read (not VALUE_DECODED) as anyValueToString renders it, escaped with `table`. */
  private putValue(r: WireReader, out: Uint8Array, outView: DataView, o: number, table: Uint8Array): number {
    switch (this.valueKind) {
      case VALUE_STRING:
        return putEscaped(out, outView, o, r, this.valueStart, this.valueStop, table);
      case VALUE_BOOL:
        return putConstant(out, outView, o, (this.valueLo | this.valueHi) !== 0 ? TRUE_BYTES : FALSE_BYTES);
      case VALUE_INT:
        return putInteger(out, outView, o, this.valueLo, this.valueHi, true);
      case VALUE_ARRAY:
        return this.putArray(r, out, outView, o, table);
      default:
        // An empty AnyValue renders as ''.
        return o;
    }
  }

  /** The array last read as JSON, escaped with `table` (which the JSON of its strings needs only for quotes). */
  private putArray(r: WireReader, out: Uint8Array, outView: DataView, o: number, table: Uint8Array): number {
    const elements = this.elements;
    const count = this.elementCount;
    out[o++] = OPEN_BRACKET;
    for (let i = 0; i < count; i += ELEMENT_FIELDS) {
      if (i > 0) out[o++] = COMMA;
      switch (elements[i]) {
        case VALUE_STRING:
          out[o++] = DOUBLE_QUOTE;
          o = putEscaped(out, outView, o, r, elements[i + 1]!, elements[i + 2]!, table);
          out[o++] = DOUBLE_QUOTE;
          break;
        case VALUE_BOOL:
          o = putConstant(out, outView, o, (elements[i + 1]! | elements[i + 2]!) !== 0 ? TRUE_BYTES : FALSE_BYTES);
          break;
        case VALUE_INT:
          o = putInteger(out, outView, o, elements[i + 1]!, elements[i + 2]!, true);
          break;
        default:
          o = putConstant(out, outView, o, NULL_BYTES);
      }
    }
    out[o++] = CLOSE_BRACKET;
    return o;
  }

  private keyIsServiceName(r: WireReader): boolean {
    if (this.valueKind === VALUE_DECODED) return this.decoded!.key === SERVICE_NAME;
    const start = this.keyStart;
    const key = SERVICE_NAME_KEY.bytes;
    if (this.keyStop - start !== key.length) return false;
    const bytes = r.bytes;
    for (let i = 0; i < key.length; i++) if (bytes[start + i] !== key[i]) return false;
    return true;
  }

  /** A string field that is not stored: only checked. */
  private skipString(r: WireReader, end: number, schema: MessageSchema, field: number): void {
    const stop = r.readDelimitedEnd(end, schema, field);
    checkUtf8(r.bytes, r.pos, stop);
    r.pos = stop;
  }
}

const transcoder = new SpanTranscoder();
