import { describe, expect, it } from 'vitest';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { anyValueToString, encodeSpanRows, SPAN_COLUMNS } from './span-rows.js';

describe('attribute values as the ClickHouse exporter renders them (pcommon AsString)', () => {
  it('renders scalars', () => {
    expect(anyValueToString('plain')).toBe('plain');
    expect(anyValueToString(true)).toBe('true');
    expect(anyValueToString(-9_223_372_036_854_775_808n)).toBe('-9223372036854775808');
    expect(anyValueToString(3.25)).toBe('3.25');
    expect(anyValueToString(1e21)).toBe('1e+21');
    expect(anyValueToString(1e-7)).toBe('1e-7');
    expect(anyValueToString(Number.NaN)).toBe('NaN');
    expect(anyValueToString(-Infinity)).toBe('-Inf');
    expect(anyValueToString(new Uint8Array([0xfb, 0xff]))).toBe('+/8=');
    expect(anyValueToString(null)).toBe('');
  });

  it('renders arrays and maps as JSON with sorted keys', () => {
    expect(anyValueToString(['a', 1n, 2.5, true, null])).toBe('["a",1,2.5,true,null]');
    expect(anyValueToString({ kvlist: [{ key: 'z', value: 'last' }, { key: 'a', value: { kvlist: [{ key: 'n', value: 7n }] } }] })).toBe(
      '{"a":{"n":7},"z":"last"}',
    );
    expect(anyValueToString([new Uint8Array([1]), 'quote"'])).toBe('["AQ==","quote\\""]');
  });
});

describe('TabSeparated rows', () => {
  it('writes one line per span with one field per column, escaping what TSV and quoted strings need', () => {
    const span = createSpan({
      traceId: 'ab'.repeat(16),
      spanId: 'cd'.repeat(8),
      name: 'tab\there',
      kind: 3,
      startTimeUnixNano: 1_700_000_000_000_000_001n,
      endTimeUnixNano: 1_700_000_000_000_000_000n, // ends before it starts: duration 0, not negative
      attributes: [{ key: "it's", value: 'back\\slash\nnewline' }],
      status: { code: 2, message: 'line1\nline2' },
    });
    const { text, rows } = encodeSpanRows([createTracesData('svc', [span])]);
    expect(rows).toBe(1);
    expect(text.endsWith('\n')).toBe(true);
    const fields = text.slice(0, -1).split('\t');
    expect(fields).toHaveLength(SPAN_COLUMNS.length);
    const field = (c: (typeof SPAN_COLUMNS)[number]) => fields[SPAN_COLUMNS.indexOf(c)];
    expect(field('Timestamp')).toBe('1700000000.000000001');
    expect(field('SpanName')).toBe('tab\\there');
    expect(field('SpanKind')).toBe('SPAN_KIND_CLIENT');
    expect(field('StatusCode')).toBe('STATUS_CODE_ERROR');
    expect(field('StatusMessage')).toBe('line1\\nline2');
    expect(field('SpanAttributes')).toBe("{'it\\'s':'back\\\\slash\\nnewline'}");
    expect(field('Duration')).toBe('0');
    expect(field('ServiceName')).toBe('svc');
    expect(field('Events.Timestamp')).toBe('[]');
  });

  it('clamps times beyond DateTime64(9) and pads small ones so they stay Unix times', () => {
    const far = createSpan({ traceId: '01'.repeat(16), spanId: '02'.repeat(8), startTimeUnixNano: 18_000_000_000_000_000_000n });
    const early = createSpan({ traceId: '01'.repeat(16), spanId: '03'.repeat(8), startTimeUnixNano: 5n });
    const lines = encodeSpanRows([createTracesData('svc', [far, early])]).text.trim().split('\n');
    expect(lines[0]!.split('\t')[0]).toBe('9223372036.854775807');
    expect(lines[1]!.split('\t')[0]).toBe('0000000000.000000005');
  });
});
