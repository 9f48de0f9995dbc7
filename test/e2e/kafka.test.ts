/**
 * End to end on a real Apache Kafka broker: the real OpenTelemetry JS SDK → the collector (its own
 * chainwatch instance, role collector) → Kafka → the storage stage (another instance, its own
 * consumer group member) → the embedded ClickHouse engine. The rows must hold exactly what the
 * SDK produced, and the topic must carry OTLP protobuf keyed so a trace stays on one partition.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { consumerGroup, type Chainwatch } from '../../pipeline/chainwatch.js';
import type { Config } from '../../schemas/config.js';
import { startTestChainwatch, testConfig, uniqueName } from '../harness/chainwatch.js';
import { emitAndExport, ExportResultCode, type OtlpHttpProtocol } from '../harness/otel-sdk.js';
import { SCENARIO_RESOURCE, emitScenario } from '../harness/span-scenario.js';
import { countStoredSpans, expectedRow, readStoredSpans } from '../harness/span-expectations.js';

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Kafka end to end', () => {
  const brokers = inject('kafkaBrokers');
  const topic = uniqueName('chainwatch.spans.e2e');
  let config: Config;
  let collector: Chainwatch;
  let storage: Chainwatch;

  beforeAll(async () => {
    config = testConfig({ bus: { kind: 'kafka', topics: { spans: topic }, group_prefix: uniqueName('e2e'), kafka: { brokers, partitions: 3 } } });
    // Storage first: it creates the topic and its consumer group before anything is published.
    storage = await startTestChainwatch(config, ['storage']);
    collector = await startTestChainwatch(config, ['collector']);
  });
  afterAll(async () => {
    await collector?.stop();
    await storage?.stop();
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });

  it.each<OtlpHttpProtocol>(['http/protobuf', 'http/json'])('stores exactly what the SDK exported over %s, through the broker', async (protocol) => {
    expect(collector.clickhouse).toBeNull(); // the collector process does not load the engine
    const result = await emitAndExport({
      baseUrl: collector.otlpHttpUrl!,
      protocol,
      resourceAttributes: { ...SCENARIO_RESOURCE, 'test.protocol': protocol },
      emit: emitScenario,
    });
    expect(result.error?.message).toBeUndefined();
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    const traceIds = [...new Set(result.spans.map((s) => s.spanContext().traceId))];
    const where = `TraceId IN (${traceIds.map((t) => `'${t}'`).join(',')})`;
    await waitFor('spans in ClickHouse', async () => (await countStoredSpans(storage.clickhouse!, where)) >= 6);
    const stored = await readStoredSpans(storage.clickhouse!, where);
    expect(stored).toEqual(result.spans.map(expectedRow).sort((a, b) => (a.SpanId < b.SpanId ? -1 : 1)));
  });

  it('carries OTLP protobuf on the topic, keyed so each trace stays on one partition', async () => {
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('inspect') });
    const seen: { partition: number; key: string; traceIds: string[] }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const data = decodeExportTraceServiceRequest(message.value!);
        const traceIds = data.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.traceId)));
        seen.push({ partition, key: message.key!.toString(), traceIds });
      },
    });
    try {
      await waitFor('messages', async () => seen.reduce((n, m) => n + m.traceIds.length, 0) >= 12);
    } finally {
      await consumer.disconnect();
    }
    const partitionOfTrace = new Map<string, number>();
    const partitionOfKey = new Map<string, number>();
    for (const m of seen) {
      expect(m.key).toMatch(/^\d+$/);
      expect(Number(m.key)).toBeLessThan(config.bus.trace_key_buckets);
      if (partitionOfKey.has(m.key)) expect(partitionOfKey.get(m.key)).toBe(m.partition);
      partitionOfKey.set(m.key, m.partition);
      for (const t of m.traceIds) {
        if (partitionOfTrace.has(t)) expect(partitionOfTrace.get(t)).toBe(m.partition);
        partitionOfTrace.set(t, m.partition);
      }
    }
    expect(partitionOfTrace.size).toBe(4); // two traces per export, two exports
  });

  it('commits the storage group only after the rows are stored', async () => {
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchOffsets({ groupId: consumerGroup(config, 'storage'), topics: [topic] });
      const topicOffsets = await admin.fetchTopicOffsets(topic);
      const committed = offsets[0]!.partitions.map((p) => Number(p.offset)).reduce((a, b) => a + Math.max(0, b), 0);
      const end = topicOffsets.map((p) => Number(p.high)).reduce((a, b) => a + b, 0);
      expect(committed).toBe(end);
      expect(await countStoredSpans(storage.clickhouse!, "ServiceName = 'checkout'")).toBe(12);
    } finally {
      await admin.disconnect();
    }
  });
});
