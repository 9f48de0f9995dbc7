import { describe, expect, it } from 'vitest';
import { createLogRecord, createLogsData, LOGS_LAYOUT } from '../schemas/otlp-logs.js';
import { createSpan, createTracesData, TRACES_LAYOUT } from '../schemas/otlp-traces.js';
import { stripReservedAttributes } from './reserved-attributes.js';

describe('reserved attributes', () => {
  it('drops client-sent chainwatch.* span attributes and counts them', () => {
    const span = createSpan({
      attributes: [
        { key: 'http.request.method', value: 'GET' },
        { key: 'chainwatch.credential.kind', value: 'forged' },
        { key: 'chainwatch.auth.scheme', value: 'mTLS' },
        { key: 'chainwatchx', value: 'kept: not the reserved prefix' },
      ],
      droppedAttributesCount: 1,
    });
    const clean = createSpan({ attributes: [{ key: 'a', value: 'b' }] });
    const data = createTracesData('svc', [span, clean]);
    expect(stripReservedAttributes(TRACES_LAYOUT, data)).toBe(2);
    expect(span.attributes.map((kv) => kv.key)).toEqual(['http.request.method', 'chainwatchx']);
    expect(span.droppedAttributesCount).toBe(3);
    expect(clean.attributes).toHaveLength(1);
  });

  it('drops them from log records the same way', () => {
    const record = createLogRecord({
      body: 'chainwatch.auth.scheme in a body is only text',
      attributes: [
        { key: 'chainwatch.credential.subject', value: 'admin' },
        { key: 'log.file.name', value: 'app.log' },
      ],
    });
    const data = createLogsData('svc', [record, createLogRecord()]);
    expect(stripReservedAttributes(LOGS_LAYOUT, data)).toBe(1);
    expect(record.attributes).toEqual([{ key: 'log.file.name', value: 'app.log' }]);
    expect(record.droppedAttributesCount).toBe(1);
    expect(record.body).toBe('chainwatch.auth.scheme in a body is only text');
  });
});
