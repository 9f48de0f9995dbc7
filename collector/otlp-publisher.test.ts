import { describe, expect, it } from 'vitest';
import { countLogRecords, createLogRecord, type LogsData } from '../schemas/otlp-logs.js';
import { countSpans, createSpan, type TracesData } from '../schemas/otlp-traces.js';
import { decodeExportLogsServiceRequest } from './otlp-protobuf-logs.js';
import { decodeExportTraceServiceRequest } from './otlp-protobuf.js';
import { MemoryBus } from '../pipeline/memory-bus.js';
import { createLogPublisher, createTracePublisher, serviceBucket, splitByTraceBucket, splitLogsByBucket, traceBucket } from './otlp-publisher.js';

const trace = (n: number) => n.toString(16).padStart(32, '0');
const scope = (name: string) => ({ name, version: '1', attributes: [], droppedAttributesCount: 0 });
const resource = (service: string) => ({ attributes: [{ key: 'service.name', value: service }], droppedAttributesCount: 0 });

function twoResources(): TracesData {
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

/** Service a: records in traces 1 and 17 and two outside any trace; service b: one in trace 2, one outside. */
function logsOfTwoServices(): LogsData {
  return {
    resourceLogs: [
      {
        resource: resource('a'),
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeLogs: [
          { scope: scope('app'), schemaUrl: '', logRecords: [createLogRecord({ traceId: trace(1), body: 'a in 1' }), createLogRecord({ body: 'a outside' }), createLogRecord({ traceId: trace(17), body: 'a in 17' })] },
          { scope: scope('audit'), schemaUrl: '', logRecords: [createLogRecord({ body: 'a audit outside' })] },
        ],
      },
      { resource: resource('b'), schemaUrl: '', scopeLogs: [{ scope: scope('app'), schemaUrl: '', logRecords: [createLogRecord({ traceId: trace(2), body: 'b in 2' }), createLogRecord({ body: 'b outside' })] }] },
    ],
  };
}

const bodies = (data: LogsData) => data.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords.map((r) => r.body)));

describe('log record bucketing', () => {
  it('maps a service name to a stable bucket: FNV-1a, the same in every process', () => {
    // FNV-1a("checkout") = 0x4db95739 (the published 32-bit algorithm, computed outside this code).
    expect(serviceBucket('checkout', 1 << 30)).toBe(0x4db95739 % (1 << 30));
    expect(serviceBucket('checkout', 16)).toBe(serviceBucket('checkout', 16));
    expect(serviceBucket('', 16)).toBe(0x811c9dc5 % 16);
    expect(serviceBucket('checkout', 1)).toBe(0);
    const spread = new Set(Array.from({ length: 200 }, (_, i) => serviceBucket(`service-${i}`, 16)));
    expect(spread.size).toBe(16);
  });

  it('keeps a record with a trace id in its trace bucket and one without in its service bucket, with resource and scope', () => {
    const data = logsOfTwoServices();
    const parts = splitLogsByBucket(data, 16);
    expect([...parts.values()].reduce((n, p) => n + countLogRecords(p), 0)).toBe(countLogRecords(data));
    // Traces 1 and 17 share bucket 1, trace 2 is bucket 2: the same buckets as their spans.
    expect(bodies(parts.get(traceBucket(trace(1), 16))!)).toContain('a in 17');
    expect(bodies(parts.get(2)!)).toContain('b in 2');
    const a = serviceBucket('a', 16);
    const b = serviceBucket('b', 16);
    expect(a).not.toBe(b);
    expect(bodies(parts.get(a)!)).toEqual(expect.arrayContaining(['a outside', 'a audit outside']));
    expect(bodies(parts.get(b)!)).toContain('b outside');
    const aPart = parts.get(a)!.resourceLogs.find((rl) => rl.resource.attributes[0]!.value === 'a')!;
    expect(aPart.schemaUrl).toBe('https://opentelemetry.io/schemas/1.26.0');
    expect(aPart.scopeLogs.map((sl) => [sl.scope.name, sl.logRecords.map((r) => r.body)])).toEqual(
      expect.arrayContaining([['audit', ['a audit outside']]]),
    );
  });

  it('publishes one OTLP protobuf ExportLogsServiceRequest per bucket, keyed by the bucket', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100 });
    const seen = new Map<string, unknown[]>();
    await bus.subscribe({ topic: 'logs', group: 'g', maxBatchMessages: 100, maxWaitMs: 0 }, async (batch) => {
      for (const m of batch.messages) seen.set(m.key!, bodies(decodeExportLogsServiceRequest(m.value)));
    });
    const data = logsOfTwoServices();
    await createLogPublisher({ bus, topic: 'logs', traceKeyBuckets: 16 })(data);
    const expected = new Map([...splitLogsByBucket(logsOfTwoServices(), 16)].map(([bucket, part]) => [String(bucket), bodies(part)]));
    expect(seen).toEqual(expected);
    expect([...seen.values()].flat()).toHaveLength(countLogRecords(data));
    await bus.shutdown();
  });
});
