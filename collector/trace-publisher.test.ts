import { describe, expect, it } from 'vitest';
import { countSpans, createSpan, type TracesData } from '../schemas/otlp-traces.js';
import { decodeExportTraceServiceRequest } from './otlp-protobuf.js';
import { MemoryBus } from '../pipeline/memory-bus.js';
import { createTracePublisher, splitByTraceBucket, traceBucket } from './trace-publisher.js';

const trace = (n: number) => n.toString(16).padStart(32, '0');

function twoResources(): TracesData {
  const scope = (name: string) => ({ name, version: '1', attributes: [], droppedAttributesCount: 0 });
  const resource = (service: string) => ({ attributes: [{ key: 'service.name', value: service }], droppedAttributesCount: 0 });
  return {
    resourceSpans: [
      {
        resource: resource('a'),
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeSpans: [
          { scope: scope('http'), schemaUrl: '', spans: [1, 2, 3, 17].map((t, i) => createSpan({ traceId: trace(t), spanId: `${i + 1}`.padStart(16, '0'), name: `a${i}` })) },
          { scope: scope('db'), schemaUrl: '', spans: [1, 18].map((t, i) => createSpan({ traceId: trace(t), spanId: `${i + 5}`.padStart(16, '0'), name: `db${i}` })) },
        ],
      },
      { resource: resource('b'), schemaUrl: '', scopeSpans: [{ scope: scope('http'), schemaUrl: '', spans: [createSpan({ traceId: trace(2), spanId: '0000000000000009' })] }] },
    ],
  };
}

describe('trace bucketing', () => {
  it('maps a trace id to a bucket by its last four hex digits', () => {
    expect(traceBucket(trace(0x11), 16)).toBe(1);
    expect(traceBucket(trace(0x1234), 16)).toBe(0x1234 % 16);
    expect(traceBucket('', 16)).toBe(0);
    expect(traceBucket(trace(7), 1)).toBe(0);
  });

  it('splits a request by bucket, keeping every span with its own resource and scope', () => {
    const data = twoResources();
    const parts = splitByTraceBucket(data, 16);
    // Trace ids 1 and 17 and 18 → buckets 1, 1, 2; 2 → 2; 3 → 3.
    expect([...parts.keys()].sort()).toEqual([1, 2, 3]);
    expect([...parts.values()].reduce((n, p) => n + countSpans(p), 0)).toBe(countSpans(data));
    const bucket1 = parts.get(1)!;
    expect(bucket1.resourceSpans).toHaveLength(1);
    expect(bucket1.resourceSpans[0]!.schemaUrl).toBe('https://opentelemetry.io/schemas/1.26.0');
    expect(bucket1.resourceSpans[0]!.scopeSpans.map((s) => [s.scope.name, s.spans.map((x) => x.name)])).toEqual([
      ['http', ['a0', 'a3']],
      ['db', ['db0']],
    ]);
    const bucket2 = parts.get(2)!;
    expect(bucket2.resourceSpans.map((r) => r.resource.attributes[0]!.value)).toEqual(['a', 'b']);
    for (const [bucket, part] of parts) {
      for (const rs of part.resourceSpans) for (const ss of rs.scopeSpans) for (const s of ss.spans) expect(traceBucket(s.traceId, 16)).toBe(bucket);
    }
  });

  it('publishes one OTLP protobuf message per bucket, keyed by the bucket', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100 });
    const seen: { key: string | null; spans: number }[] = [];
    await bus.subscribe({ topic: 'spans', group: 'g', maxBatchMessages: 100, maxWaitMs: 0 }, async (b) => {
      for (const m of b.messages) seen.push({ key: m.key, spans: countSpans(decodeExportTraceServiceRequest(m.value)) });
    });
    await createTracePublisher({ bus, topic: 'spans', traceKeyBuckets: 16 })(twoResources());
    expect(seen.sort((a, b) => Number(a.key) - Number(b.key))).toEqual([
      { key: '1', spans: 3 },
      { key: '2', spans: 3 },
      { key: '3', spans: 1 },
    ]);
    await bus.shutdown();
  });
});
