import { describe, expect, it } from 'vitest';
import { createSpan, createTracesData } from '../schemas/otlp-traces.js';
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
    expect(stripReservedAttributes(data)).toBe(2);
    expect(span.attributes.map((kv) => kv.key)).toEqual(['http.request.method', 'chainwatchx']);
    expect(span.droppedAttributesCount).toBe(3);
    expect(clean.attributes).toHaveLength(1);
  });
});
