/**
 * Attribute limits as the OTel SDKs apply them: attributes beyond the count limit are dropped and
 * counted in dropped_attributes_count on every attributed element (resource, scope, span, event,
 * link, log record); long strings, and long strings inside arrays, are truncated without splitting
 * a surrogate pair; other value types are untouched; everything is counted.
 */
import { describe, expect, it } from 'vitest';
import type { KeyValue } from '../schemas/otlp-common.js';
import { createLogRecord, createLogsData, LOGS_LAYOUT } from '../schemas/otlp-logs.js';
import { createSpan, createTracesData, TRACES_LAYOUT } from '../schemas/otlp-traces.js';
import { applyAttributeLimits, type AttributeLimitCounts } from './attribute-limits.js';

const attrs = (n: number, prefix = 'k'): KeyValue[] => Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, value: i }));

describe('applyAttributeLimits', () => {
  it('drops attributes beyond the count on every element of a trace request and counts them', () => {
    const span = createSpan({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: '00f067aa0ba902b7',
      attributes: attrs(5),
      droppedAttributesCount: 1,
      events: [{ timeUnixNano: 1n, name: 'e', attributes: attrs(4), droppedAttributesCount: 0 }],
      links: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '00f067aa0ba902b7', traceState: '', attributes: attrs(3), droppedAttributesCount: 0, flags: 0 }],
    });
    const data = createTracesData('svc', [span]);
    data.resourceSpans[0]!.resource.attributes.push(...attrs(4, 'r'));
    data.resourceSpans[0]!.scopeSpans[0]!.scope.attributes = attrs(2, 's');
    const counts: AttributeLimitCounts = { attributesDropped: 0, valuesTruncated: 0 };
    applyAttributeLimits(TRACES_LAYOUT, data, { maxAttributes: 2, maxValueLength: 100 }, counts);

    expect(span.attributes.map((a) => a.key)).toEqual(['k0', 'k1']);
    expect(span.droppedAttributesCount).toBe(4);
    expect(span.events[0]!.attributes).toHaveLength(2);
    expect(span.events[0]!.droppedAttributesCount).toBe(2);
    expect(span.links[0]!.droppedAttributesCount).toBe(1);
    const resource = data.resourceSpans[0]!.resource;
    expect(resource.attributes.map((a) => a.key)).toEqual(['service.name', 'r0']);
    expect(resource.droppedAttributesCount).toBe(3);
    expect(data.resourceSpans[0]!.scopeSpans[0]!.scope.droppedAttributesCount).toBe(0);
    expect(counts).toEqual({ attributesDropped: 3 + 2 + 1 + 3, valuesTruncated: 0 });
  });

  it('truncates long strings and long strings in arrays, never splitting a surrogate pair, and leaves other types alone', () => {
    const record = createLogRecord({
      body: 'the body is not an attribute and stays as it is',
      attributes: [
        { key: 'short', value: 'abc' },
        { key: 'long', value: 'abcdefghij' },
        { key: 'emoji', value: 'abcd🚀xyz' },
        { key: 'list', value: ['abcdefghij', 'ok', 7n, 'klmnopqrst'] },
        { key: 'number', value: 123456789012 },
        { key: 'bytes', value: new Uint8Array(50) },
        { key: 'map', value: { kvlist: [{ key: 'inner', value: 'abcdefghijklmnop' }] } },
      ],
    });
    const data = createLogsData('svc', [record]);
    const counts: AttributeLimitCounts = { attributesDropped: 0, valuesTruncated: 0 };
    applyAttributeLimits(LOGS_LAYOUT, data, { maxAttributes: 128, maxValueLength: 5 }, counts);
    const byKey = Object.fromEntries(record.attributes.map((a) => [a.key, a.value]));
    expect(byKey['short']).toBe('abc');
    expect(byKey['long']).toBe('abcde');
    expect(byKey['emoji']).toBe('abcd'); // 'abcd' + the high half of 🚀 would split the pair
    expect(byKey['list']).toEqual(['abcde', 'ok', 7n, 'klmno']);
    expect(byKey['number']).toBe(123456789012);
    expect((byKey['bytes'] as Uint8Array).length).toBe(50);
    expect(byKey['map']).toEqual({ kvlist: [{ key: 'inner', value: 'abcdefghijklmnop' }] });
    expect(record.body).toBe('the body is not an attribute and stays as it is');
    expect(counts).toEqual({ attributesDropped: 0, valuesTruncated: 4 });
  });
});
