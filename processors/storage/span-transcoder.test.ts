/**
 * The transcoder against its oracle: for every message, the rows it writes must be byte for byte
 * those of `encodeSpanRows(decodeSpanMessages(...))`, and it must reject exactly the messages the
 * decoder rejects. Requests are generated from a seed with raw protobuf (fields in any order,
 * unknown fields, fields sent twice, non-minimal varints, every AnyValue kind, every escape,
 * 4-byte characters, extreme times and odd ids), then truncated, corrupted and given invalid UTF-8.
 */
import { describe, expect, it } from 'vitest';
import type { ConsumedMessage } from '../../pipeline/bus.js';
import { seededRandom, type Random } from '../redaction/sample-credentials.js';
import { encodeSpanRows } from './span-rows.js';
import { transcodeSpanMessages, type SpanRowBatch } from './span-transcoder.js';
import { decodeSpanMessages } from './storage-stage.js';

// ---------------------------------------------------------------------------------------------
// Raw protobuf, written field by field so that anything the wire allows can be produced.

type Bytes = number[];

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

class Gen {
  constructor(
    readonly random: Random,
    /** Probability that a string carries an invalid UTF-8 sequence. */
    readonly invalidUtf8 = 0,
  ) {}

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Bytes {
    return Array.from({ length: n }, () => this.int(256));
  }

  /** A varint of the 64-bit two's complement of value, now and then with redundant continuation bytes. */
  varint(value: bigint | number): Bytes {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: Bytes = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    if (out.length < 9 && this.chance(0.02)) {
      out.push(Number(v) | 0x80);
      out.push(0);
    } else {
      out.push(Number(v));
    }
    return out;
  }

  tag(field: number, wire: number): Bytes {
    return this.varint(field * 8 + wire);
  }

  len(field: number, payload: Bytes): Bytes {
    return [...this.tag(field, WIRE_LEN), ...this.varint(payload.length), ...payload];
  }

  uint(field: number, value: bigint | number): Bytes {
    return [...this.tag(field, WIRE_VARINT), ...this.varint(value)];
  }

  fixed64(field: number, value: bigint): Bytes {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, value));
    return [...this.tag(field, WIRE_FIXED64), ...b];
  }

  fixed32(field: number, value: number): Bytes {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    return [...this.tag(field, WIRE_FIXED32), ...b];
  }

  double(field: number, value: number): Bytes {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(value);
    return [...this.tag(field, WIRE_FIXED64), ...b];
  }

  /** A field number the message does not define (its fields are 1 … known), of any wire type. */
  unknownField(known: number): Bytes {
    const field = known + 1 + this.int(40);
    switch (this.int(4)) {
      case 0:
        return this.uint(field, this.pick([0n, 1n, 300n, -1n]));
      case 1:
        return this.fixed64(field, BigInt(this.int(1e9)));
      case 2:
        return this.len(field, this.bytes(this.int(12)));
      default:
        return this.fixed32(field, this.int(1e9));
    }
  }

  /** A message of `fields`, now and then with unknown fields added and in another order. */
  message(fields: Bytes[], known: number): Bytes {
    const all = [...fields];
    while (this.chance(0.15)) all.splice(this.int(all.length + 1), 0, this.unknownField(known));
    if (this.chance(0.3)) {
      for (let i = all.length - 1; i > 0; i--) {
        const j = this.int(i + 1);
        [all[i], all[j]] = [all[j]!, all[i]!];
      }
    }
    return all.flat();
  }

  /** Text built from pieces that exercise every escape, JSON escapes and multi-byte characters. */
  text(): Bytes {
    const parts: Bytes[] = [];
    const count = this.pick([0, 1, 1, 2, 3, 5]);
    for (let i = 0; i < count; i++) parts.push([...Buffer.from(this.pick(TEXT_PIECES), 'utf8')]);
    if (this.invalidUtf8 > 0 && this.chance(this.invalidUtf8)) parts.splice(this.int(parts.length + 1), 0, this.pick(INVALID_UTF8));
    return parts.flat();
  }

  string(field: number): Bytes {
    return this.len(field, this.text());
  }
}

const TEXT_PIECES = [
  'GET /api/v1/users/{id}',
  'service.name',
  'x',
  'ab',
  'abc',
  'abcd',
  'checkout-7d9f8b6c5d-x2x9q',
  ' ',
  '\\',
  '\t',
  '\n',
  '\r',
  '\0',
  "'",
  '"',
  '\x01',
  '\x1f',
  '\x7f',
  'é',
  '中文',
  '😀',
  '\u2028',
  'SELECT * FROM users WHERE name = \'o\'\'brien\'',
  'a fairly long value that spans many four-byte words and then some more: 0123456789'.repeat(3),
];

const INVALID_UTF8: Bytes[] = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe4, 0xb8], [0xf4, 0x90, 0x80, 0x80], [0x80]];

// ---------------------------------------------------------------------------------------------
// opentelemetry-proto messages

const INTERESTING_INTS = [0n, 1n, -1n, 127n, 128n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -1234567890123n];
const INTERESTING_DOUBLES = [0, -0, 1.5, -2.25, Number.NaN, Infinity, -Infinity, 1e21, 1e-7, 0.1, 123456789.125];
const INTERESTING_TIMES = [0n, 1n, 5n, 999_999_999n, 1_000_000_000n, 1_767_225_600_123_456_789n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 18_000_000_000_000_000_000n];

function anyValue(g: Gen, depth: number): Bytes {
  const fields: Bytes[] = [];
  const count = g.pick([0, 1, 1, 1, 1, 1, 1, 2]);
  for (let i = 0; i < count; i++) {
    const kind = depth > 3 ? g.int(4) : g.int(10);
    switch (kind) {
      case 0:
      case 1:
        fields.push(g.string(1));
        break;
      case 2:
        fields.push(g.uint(2, g.pick([0n, 1n, 2n, 2n ** 40n])));
        break;
      case 3:
        fields.push(g.uint(3, g.chance(0.5) ? g.pick(INTERESTING_INTS) : BigInt(g.int(100_000))));
        break;
      case 4:
        fields.push(g.double(4, g.chance(0.6) ? g.pick(INTERESTING_DOUBLES) : (g.random() - 0.5) * 10 ** g.int(30)));
        break;
      case 5:
      case 6: {
        // Arrays of scalars are the transcoder's own; anything inside goes to the decoder.
        const elements = Array.from({ length: g.int(4) }, () => g.len(1, g.chance(0.8) ? scalarValue(g) : anyValue(g, depth + 1)));
        fields.push(g.len(5, g.message(elements, 1)));
        break;
      }
      case 7:
        fields.push(g.len(6, g.message(Array.from({ length: g.int(3) }, () => g.len(1, keyValue(g, depth + 1))), 1)));
        break;
      case 8:
        fields.push(g.len(7, g.bytes(g.int(10))));
        break;
      default:
        fields.push(g.unknownField(7));
    }
  }
  return g.message(fields, 7);
}

/** An AnyValue of a string, bool or int, or empty. */
function scalarValue(g: Gen): Bytes {
  switch (g.int(5)) {
    case 0:
      return [];
    case 1:
      return g.uint(2, g.int(2));
    case 2:
      return g.uint(3, g.pick(INTERESTING_INTS));
    default:
      return g.string(1);
  }
}

function keyValue(g: Gen, depth: number): Bytes {
  const fields: Bytes[] = [];
  if (g.chance(0.95)) fields.push(g.len(1, g.chance(0.1) ? [...Buffer.from('service.name')] : g.text()));
  if (g.chance(0.05)) fields.push(g.string(1));
  const values = g.pick([0, 1, 1, 1, 1, 1, 2]);
  for (let i = 0; i < values; i++) fields.push(g.len(2, g.chance(0.5) ? scalarValue(g) : anyValue(g, depth)));
  return g.message(fields, 2);
}

function attributes(g: Gen, field: number, max: number): Bytes[] {
  return Array.from({ length: g.int(max + 1) }, () => g.len(field, keyValue(g, 1)));
}

function id(g: Gen, field: number, size: number): Bytes[] {
  if (g.chance(0.15)) return [];
  return [g.len(field, g.bytes(g.chance(0.9) ? size : g.int(20)))];
}

function time(g: Gen, field: number): Bytes[] {
  if (g.chance(0.1)) return [];
  const value = g.chance(0.5) ? g.pick(INTERESTING_TIMES) : 1_767_225_600_000_000_000n + BigInt(g.int(2 ** 30)) * BigInt(g.int(2 ** 20));
  return [g.fixed64(field, value)];
}

function span(g: Gen): Bytes {
  const fields: Bytes[] = [
    ...id(g, 1, 16),
    ...id(g, 2, 8),
    ...id(g, 4, 8),
    ...(g.chance(0.3) ? [g.string(3)] : []),
    ...(g.chance(0.1) ? [g.string(5)] : []),
    g.string(5),
    ...(g.chance(0.9) ? [g.uint(6, g.chance(0.8) ? BigInt(g.int(6)) : g.pick([6n, 100n, -1n, 2n ** 32n + 2n]))] : []),
    ...time(g, 7),
    ...time(g, 8),
    ...attributes(g, 9, 8),
    ...(g.chance(0.1) ? [g.uint(10, g.int(5)), g.uint(12, g.int(5)), g.uint(14, g.int(5))] : []),
    ...(g.chance(0.1) ? [g.fixed32(16, g.int(2 ** 31))] : []),
  ];
  for (let i = g.chance(0.3) ? g.int(4) : 0; i > 0; i--) {
    fields.push(g.len(11, g.message([...time(g, 1), ...(g.chance(0.9) ? [g.string(2)] : []), ...attributes(g, 3, 3), ...(g.chance(0.1) ? [g.uint(4, 1)] : [])], 4)));
  }
  for (let i = g.chance(0.2) ? g.int(3) : 0; i > 0; i--) {
    const link = [...id(g, 1, 16), ...id(g, 2, 8), ...(g.chance(0.5) ? [g.string(3)] : []), ...attributes(g, 4, 3), ...(g.chance(0.2) ? [g.fixed32(6, 1)] : [])];
    fields.push(g.len(13, g.message(link, 6)));
  }
  for (let i = g.chance(0.6) ? g.pick([1, 1, 1, 2]) : 0; i > 0; i--) {
    const status = [...(g.chance(0.5) ? [g.string(2)] : []), ...(g.chance(0.8) ? [g.uint(3, g.pick([0n, 1n, 2n, 3n, -1n]))] : [])];
    fields.push(g.len(15, g.message(status, 3)));
  }
  return g.message(fields, 16);
}

function scopeSpans(g: Gen): Bytes {
  const fields: Bytes[] = [];
  for (let i = g.pick([0, 1, 1, 1, 2]); i > 0; i--) {
    const scope = [...(g.chance(0.8) ? [g.string(1)] : []), ...(g.chance(0.7) ? [g.string(2)] : []), ...attributes(g, 3, 2), ...(g.chance(0.1) ? [g.uint(4, 2)] : [])];
    fields.push(g.len(1, g.message(scope, 4)));
  }
  for (let i = g.int(5); i > 0; i--) fields.push(g.len(2, span(g)));
  if (g.chance(0.2)) fields.push(g.string(3));
  return g.message(fields, 3);
}

function resourceSpans(g: Gen): Bytes {
  const fields: Bytes[] = [];
  // The resource now and then split in two, whose attributes the decoder merges.
  for (let i = g.pick([0, 1, 1, 1, 1, 2]); i > 0; i--) {
    const resource = [...attributes(g, 1, 5), ...(g.chance(0.1) ? [g.uint(2, 1)] : [])];
    if (g.chance(0.5)) resource.splice(g.int(resource.length + 1), 0, g.len(1, g.message([g.len(1, [...Buffer.from('service.name')]), g.len(2, scalarValue(g))], 2)));
    fields.push(g.len(1, g.message(resource, 2)));
  }
  for (let i = g.int(4); i > 0; i--) fields.push(g.len(2, scopeSpans(g)));
  if (g.chance(0.2)) fields.push(g.string(3));
  return g.message(fields, 3);
}

function request(g: Gen): Uint8Array {
  const fields = Array.from({ length: g.pick([0, 1, 1, 1, 2, 3]) }, () => g.len(1, resourceSpans(g)));
  return new Uint8Array(g.message(fields, 1));
}

// ---------------------------------------------------------------------------------------------
// Comparison with the oracle

function consumed(values: readonly Uint8Array[]): ConsumedMessage[] {
  return values.map((value, i) => ({ key: null, value, offset: String(i) }));
}

interface Outcome {
  text: string;
  bytes: Buffer;
  rows: number;
  rejected: string[];
}

function oracle(values: readonly Uint8Array[]): Outcome {
  const rejected: string[] = [];
  const { text, rows } = encodeSpanRows(decodeSpanMessages(consumed(values), (m, reason) => rejected.push(`${m.offset}: ${reason}`)));
  return { text, bytes: Buffer.from(text, 'utf8'), rows, rejected };
}

function transcode(values: readonly Uint8Array[]): Outcome & { batch: SpanRowBatch } {
  const rejected: string[] = [];
  const batch = transcodeSpanMessages(consumed(values), (m, reason) => rejected.push(`${m.offset}: ${reason}`));
  return { text: batch.body.toString('utf8'), bytes: batch.body, rows: batch.rows, rejected, batch };
}

/** Asserts the transcoder's outcome is the oracle's, bytes included; returns it. */
function expectSameAsOracle(values: readonly Uint8Array[]): Outcome & { batch: SpanRowBatch } {
  const expected = oracle(values);
  const actual = transcode(values);
  expect(actual.rejected).toEqual(expected.rejected);
  expect(actual.rows).toBe(expected.rows);
  expect(actual.text).toBe(expected.text);
  expect(actual.bytes.equals(expected.bytes)).toBe(true);
  return actual;
}

function generated(seed: number, count: number, invalidUtf8 = 0): Uint8Array[] {
  const g = new Gen(seededRandom(seed), invalidUtf8);
  return Array.from({ length: count }, () => request(g));
}

// ---------------------------------------------------------------------------------------------

describe('span transcoder', () => {
  it('writes exactly the oracle rows for 2,500 generated requests, all on its own path', () => {
    const requests = generated(0x5eed, 2500);
    let rows = 0;
    for (const r of requests) {
      const { batch } = expectSameAsOracle([r]);
      // Valid UTF-8 throughout: nothing may need the reference path, or this would test the oracle against itself.
      expect(batch.slowPathMessages).toBe(0);
      rows += batch.rows;
    }
    expect(rows).toBeGreaterThan(5000);
  });

  it('writes a batch of many requests as one body', () => {
    const requests = generated(7, 200);
    const { batch } = expectSameAsOracle(requests);
    expect(batch.slowPathMessages).toBe(0);
    expect(batch.rows).toBeGreaterThan(100);
  });

  it('grows its output from a small start without losing bytes', () => {
    // A request whose rows are far larger than twice its bytes: one resource attribute of 4 KiB copied into 50 rows.
    const g = new Gen(seededRandom(3));
    const big = [...Buffer.from('é'.repeat(2048))];
    const resource = g.len(1, g.len(1, [...g.len(1, [...Buffer.from('k')]), ...g.len(2, g.len(1, big))]));
    const spans = Array.from({ length: 50 }, () => g.len(2, [...g.len(5, [...Buffer.from('op')])]));
    const request = new Uint8Array(g.len(1, [...resource, ...g.len(2, spans.flat())]));
    const { batch } = expectSameAsOracle([request]);
    expect(batch.body.length).toBeGreaterThan(50 * 4096);
  });

  it('rejects exactly what the decoder rejects when strings carry invalid UTF-8, and writes the rest as it does', () => {
    const requests = generated(0xbad, 800, 0.05);
    let rejected = 0;
    for (const r of requests) {
      const { batch } = expectSameAsOracle([r]);
      if (batch.rows === 0 && batch.slowPathMessages === 1) rejected++;
    }
    expect(rejected).toBeGreaterThan(100);
    // Mixed into batches: a bad message leaves no partial rows behind.
    for (let i = 0; i < requests.length; i += 10) expectSameAsOracle(requests.slice(i, i + 10));
  });

  it('rejects invalid UTF-8 in every kind of string, including ones a later field replaces', () => {
    const g = new Gen(seededRandom(1));
    const bad = [0x61, 0xff];
    const good = [0x62];
    const kv = (key: Bytes, value: Bytes): Bytes => [...g.len(1, key), ...g.len(2, value)];
    const spanWith = (...fields: Bytes[]) => new Uint8Array(g.len(1, g.len(2, g.len(2, fields.flat()))));
    const cases: Record<string, Uint8Array> = {
      'span name': spanWith(g.len(5, bad)),
      'span name replaced by a valid one': spanWith(g.len(5, bad), g.len(5, good)),
      'trace state': spanWith(g.len(3, bad), g.len(3, good)),
      'status message': spanWith(g.len(15, [...g.len(2, bad), ...g.len(2, good)])),
      'attribute key': spanWith(g.len(9, kv(bad, g.len(1, good)))),
      'attribute key replaced': spanWith(g.len(9, [...g.len(1, bad), ...kv(good, g.len(1, good))])),
      'attribute value': spanWith(g.len(9, kv(good, g.len(1, bad)))),
      'attribute value replaced by an int': spanWith(g.len(9, kv(good, [...g.len(1, bad), ...g.uint(3, 5)]))),
      'attribute value replaced in a second AnyValue': spanWith(g.len(9, [...kv(good, g.len(1, bad)), ...g.len(2, g.uint(2, 1))])),
      'array element': spanWith(g.len(9, kv(good, g.len(5, g.len(1, g.len(1, bad)))))),
      'kvlist value': spanWith(g.len(9, kv(good, g.len(6, g.len(1, kv(good, g.len(1, bad))))))),
      'event name': spanWith(g.len(11, [...g.len(2, bad), ...g.len(2, good)])),
      'event attribute': spanWith(g.len(11, g.len(3, kv(good, g.len(1, bad))))),
      'link trace state': spanWith(g.len(13, [...g.len(3, bad), ...g.len(3, good)])),
      'link attribute': spanWith(g.len(13, g.len(4, kv(bad, [])))),
      'scope name': new Uint8Array(g.len(1, g.len(2, g.len(1, [...g.len(1, bad), ...g.len(1, good)])))),
      'scope version': new Uint8Array(g.len(1, g.len(2, g.len(1, g.len(2, bad))))),
      'scope attribute': new Uint8Array(g.len(1, g.len(2, g.len(1, g.len(3, kv(good, g.len(1, bad))))))),
      'scope schema url': new Uint8Array(g.len(1, g.len(2, g.len(3, bad)))),
      'resource attribute': new Uint8Array(g.len(1, g.len(1, g.len(1, kv(good, g.len(1, bad)))))),
      'resource schema url': new Uint8Array(g.len(1, g.len(3, bad))),
    };
    for (const [where, message] of Object.entries(cases)) {
      const { rejected } = expectSameAsOracle([message]);
      expect(rejected, where).toEqual(['0: undecodable protobuf']);
    }
  });

  it('agrees with the decoder on attributes that almost have the layout SDKs send', () => {
    const g = new Gen(seededRandom(5));
    const key = [...Buffer.from('k')];
    const attribute = (...kv: number[]) => new Uint8Array(g.len(1, g.len(2, g.len(2, g.len(9, kv)))));
    const cases: Record<string, Uint8Array> = {
      'a string': attribute(0x0a, 1, ...key, 0x12, 3, 0x0a, 1, 0x41),
      'an int': attribute(0x0a, 1, ...key, 0x12, 2, 0x18, 0x7f),
      'a bool of 2': attribute(0x0a, 1, ...key, 0x12, 2, 0x10, 2),
      'an int whose varint runs past its value': attribute(0x0a, 1, ...key, 0x12, 2, 0x18, 0x80),
      'a string longer than its value': attribute(0x0a, 1, ...key, 0x12, 3, 0x0a, 2, 0x41, 0x41),
      'a value of only a tag': attribute(0x0a, 1, ...key, 0x12, 1, 0x0a),
      'an empty value': attribute(0x0a, 1, ...key, 0x12, 0),
      'an empty key': attribute(0x0a, 0, 0x12, 3, 0x0a, 1, 0x41),
      'a field after the value': attribute(0x0a, 1, ...key, 0x12, 3, 0x0a, 1, 0x41, 0x18, 1),
      'a key longer than the pair': attribute(0x0a, 9, ...key, 0x12, 3, 0x0a, 1, 0x41),
      'a value of 127 bytes': attribute(0x0a, 1, ...key, 0x12, 0x7f, 0x0a, 0x7d, ...Array(0x7d).fill(0x42)),
      'a value of 128 bytes, its length in two bytes': attribute(0x0a, 1, ...key, 0x12, 0x80, 0x01, 0x0a, 0x7e, ...Array(0x7e).fill(0x42)),
      'a string of 128 bytes': attribute(0x0a, 1, ...key, 0x12, 0x83, 0x01, 0x0a, 0x80, 0x01, ...Array(0x80).fill(0x42)),
    };
    for (const [what, message] of Object.entries(cases)) {
      const expected = oracle([message]);
      expect(transcode([message]).rejected, what).toEqual(expected.rejected);
      expectSameAsOracle([message]);
    }
    expect(oracle([cases['an int whose varint runs past its value']!]).rejected).toHaveLength(1);
  });

  it('agrees with the decoder at every truncation point', () => {
    const requests = generated(99, 40).filter((r) => r.length > 0 && r.length < 2000);
    let rejected = 0;
    for (const r of requests) {
      for (let cut = 0; cut < r.length; cut++) {
        if (expectSameAsOracle([r.subarray(0, cut)]).rejected.length > 0) rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(1000);
  });

  it('agrees with the decoder on random corruption', () => {
    const random = seededRandom(1234);
    const requests = generated(4321, 300).filter((r) => r.length > 0);
    let rejected = 0;
    for (const r of requests) {
      const copy = new Uint8Array(r);
      for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
      if (expectSameAsOracle([copy]).rejected.length > 0) rejected++;
    }
    expect(rejected).toBeGreaterThan(20);
  });

  it('reuses the memory of a body only once it is released, and once per release', () => {
    const [a, b] = [generated(11, 20), generated(12, 20)];
    const first = transcode(a).batch;
    const kept = Buffer.from(first.body);
    const second = transcode(b).batch;
    expect(first.body.equals(kept)).toBe(true);
    expect(second.body.buffer).not.toBe(first.body.buffer);
    first.release();
    first.release();
    const third = expectSameAsOracle(b).batch;
    expect(third.body.buffer).toBe(first.body.buffer);
    // The second release of `first` gave nothing back: `third` owns that memory now.
    const fourth = transcode(a).batch;
    expect(fourth.body.buffer).not.toBe(third.body.buffer);
    expect(third.body.equals(second.body)).toBe(true);
    for (const batch of [second, third, fourth]) batch.release();
  });

  it('writes nothing for an empty batch or requests without spans', () => {
    const empty = transcodeSpanMessages([], () => {});
    expect(empty.rows).toBe(0);
    expect(empty.body.length).toBe(0);
    expectSameAsOracle([new Uint8Array(0), new Uint8Array([0x0a, 0x00])]);
  });
});
