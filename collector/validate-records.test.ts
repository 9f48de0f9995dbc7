/**
 * Record validation: each rule refuses exactly the records it names, counts them by reason in the
 * partial_success message, leaves every other record (and its order) alone, and accepts absent
 * optional ids.
 */
import { describe, expect, it } from 'vitest';
import { createLogRecord, createLogsData } from '../schemas/otlp-logs.js';
import { createSpan, createTracesData, type Span } from '../schemas/otlp-traces.js';
import { validateLogs, validateTraces } from './validate-records.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = '00f067aa0ba902b7';
const BEYOND_INT64 = 1n << 63n;

function span(name: string, fields: Partial<Span> = {}): Span {
  return createSpan({ traceId: TRACE, spanId: SPAN, name, startTimeUnixNano: 1n, endTimeUnixNano: 2n, ...fields });
}

describe('validateTraces', () => {
  it('accepts valid spans untouched, with or without a parent', () => {
    const data = createTracesData('svc', [span('root'), span('child', { parentSpanId: '1111111111111111' })]);
    expect(validateTraces(data)).toEqual({ rejected: 0, message: '' });
    expect(data.resourceSpans[0]!.scopeSpans[0]!.spans.map((s) => s.name)).toEqual(['root', 'child']);
  });

  it('refuses each kind of unusable span, counting by reason, and keeps the rest in order', () => {
    const data = createTracesData('svc', [
      span('a'),
      span('no trace id', { traceId: '' }),
      span('short trace id', { traceId: '0af76519' }),
      span('zero trace id', { traceId: '0'.repeat(32) }),
      span('b'),
      span('no span id', { spanId: '' }),
      span('long span id', { spanId: '00f067aa0ba902b700' }),
      span('zero span id', { spanId: '0'.repeat(16) }),
      span('short parent', { parentSpanId: '0102' }),
      span('zero parent is a root', { parentSpanId: '0'.repeat(16) }),
      span('late start', { startTimeUnixNano: BEYOND_INT64 }),
      span('late end', { endTimeUnixNano: BEYOND_INT64 }),
      span('late event', { events: [{ timeUnixNano: BEYOND_INT64, name: 'e', attributes: [], droppedAttributesCount: 0 }] }),
      span('c', { startTimeUnixNano: BEYOND_INT64 - 1n, endTimeUnixNano: BEYOND_INT64 - 1n }),
    ]);
    expect(validateTraces(data)).toEqual({
      rejected: 10,
      message:
        '10 of 14 spans rejected: 1 with no trace id, 1 with a trace id that is not 16 bytes, 1 with an all-zero trace id, 1 with no span id, ' +
        '1 with a span id that is not 8 bytes, 1 with an all-zero span id, 1 with a parent span id that is not 8 bytes, ' +
        '1 with a start time after 2262-04-11 (not representable), 1 with an end time after 2262-04-11 (not representable), ' +
        '1 with an event time after 2262-04-11 (not representable)',
      reasons: {
        'no trace id': 1,
        'a trace id that is not 16 bytes': 1,
        'an all-zero trace id': 1,
        'no span id': 1,
        'a span id that is not 8 bytes': 1,
        'an all-zero span id': 1,
        'a parent span id that is not 8 bytes': 1,
        'a start time after 2262-04-11 (not representable)': 1,
        'an end time after 2262-04-11 (not representable)': 1,
        'an event time after 2262-04-11 (not representable)': 1,
      },
    });
    const kept = data.resourceSpans[0]!.scopeSpans[0]!.spans;
    expect(kept.map((s) => s.name)).toEqual(['a', 'b', 'zero parent is a root', 'c']);
    expect(kept[2]!.parentSpanId).toBe('');
  });

  it('says "span" for a request of one', () => {
    expect(validateTraces(createTracesData('svc', [span('x', { spanId: '' })]))).toEqual({ rejected: 1, message: '1 of 1 span rejected: 1 with no span id', reasons: { 'no span id': 1 } });
  });
});

describe('validateLogs', () => {
  it('accepts records without ids and with valid ids', () => {
    const data = createLogsData('svc', [createLogRecord({ body: 'plain' }), createLogRecord({ body: 'in a trace', traceId: TRACE, spanId: SPAN })]);
    expect(validateLogs(data)).toEqual({ rejected: 0, message: '' });
    expect(data.resourceLogs[0]!.scopeLogs[0]!.logRecords).toHaveLength(2);
  });

  it('clears invalid ids (the record is then not tied to a trace), refuses unstorable times, keeps the rest', () => {
    const data = createLogsData('svc', [
      createLogRecord({ body: 'kept' }),
      createLogRecord({ body: 'short trace', traceId: '0af7', spanId: SPAN }),
      createLogRecord({ body: 'zero span', traceId: TRACE, spanId: '0'.repeat(16) }),
      createLogRecord({ body: 'zero trace, long span', traceId: '0'.repeat(32), spanId: `${SPAN}00` }),
      createLogRecord({ body: 'late', timeUnixNano: BEYOND_INT64 }),
      createLogRecord({ body: 'late observed', observedTimeUnixNano: BEYOND_INT64 }),
    ]);
    expect(validateLogs(data)).toEqual({
      rejected: 2,
      message: '2 of 6 log records rejected: 1 with a time after 2262-04-11 (not representable), 1 with an observed time after 2262-04-11 (not representable)',
      reasons: { 'a time after 2262-04-11 (not representable)': 1, 'an observed time after 2262-04-11 (not representable)': 1 },
    });
    expect(data.resourceLogs[0]!.scopeLogs[0]!.logRecords.map((r) => [r.body, r.traceId, r.spanId])).toEqual([
      ['kept', '', ''],
      ['short trace', '', SPAN],
      ['zero span', TRACE, ''],
      ['zero trace, long span', '', ''],
    ]);
  });
});
