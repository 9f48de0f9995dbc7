/**
 * End to end on a real Apache Kafka broker: the real OpenTelemetry JS SDK → the collector (its own
 * chainwatch instance, role collector) → Kafka → the storage stages (another instance, its own
 * consumer group members) → the embedded ClickHouse engine, for traces and for logs. The rows must
 * hold exactly what the SDK produced, the topics must carry OTLP protobuf keyed so a trace stays
 * on one partition, and secrets in log records must be masked before they reach the broker.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeExportLogsServiceRequest } from '../../collector/otlp-protobuf-logs.js';
import { decodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { serviceBucket, traceBucket } from '../../collector/otlp-publisher.js';
import { consumerGroup, type Chainwatch } from '../../pipeline/chainwatch.js';
import type { Config } from '../../schemas/config.js';
import { startTestChainwatch, testConfig, uniqueName } from '../harness/chainwatch.js';
import { countStoredLogs, expectedLogRows, readStoredLogs } from '../harness/log-expectations.js';
import { exportLogScenario, LOG_SCENARIO_TRACE_ID, LOG_SCENARIO_UNSAMPLED_TRACE_ID } from '../harness/log-scenario.js';
import { deleteTopics } from '../harness/kafka-broker.js';
import { emitLogSecrets, expectLogSecretsMasked } from '../harness/log-secrets.js';
import { scrapeMetrics } from '../harness/metrics.js';
import { emitAndExport, emitAndExportLogs, expectExported, ExportResultCode, type OtlpProtocol } from '../harness/otel-sdk.js';
import { countStoredRows } from '../harness/span-expectations.js';
import { SCENARIO_RESOURCE, emitScenario } from '../harness/span-scenario.js';
import { countStoredSpans, expectedRow, readStoredSpans } from '../harness/span-expectations.js';
import { waitFor } from '../harness/wait-for.js';


describe('Kafka end to end', () => {
  const brokers = inject('kafkaBrokers');
  const topic = uniqueName('chainwatch.spans.e2e');
  const logsTopic = uniqueName('chainwatch.logs.e2e');
  const findingsTopic = uniqueName('chainwatch.findings.e2e');
  const edgesTopic = uniqueName('chainwatch.edges.e2e');
  let config: Config;
  let collector: Chainwatch;
  let storage: Chainwatch;

  beforeAll(async () => {
    config = testConfig({
      bus: { kind: 'kafka', topics: { spans: topic, logs: logsTopic, findings: findingsTopic, edges: edgesTopic }, group_prefix: uniqueName('e2e'), kafka: { brokers, partitions: 3 } },
    });
    // Storage first: it creates the topic and its consumer group before anything is published.
    storage = await startTestChainwatch(config, ['storage']);
    collector = await startTestChainwatch(config, ['collector']);
  });
  afterAll(async () => {
    await collector?.stop();
    await storage?.stop();
    await deleteTopics(brokers, [topic, logsTopic, findingsTopic, edgesTopic]);
  });

  it.each<OtlpProtocol>(['http/protobuf', 'http/json'])('stores exactly what the SDK exported over %s, through the broker', async (protocol) => {
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

  it.each<OtlpProtocol>(['http/protobuf', 'http/json'])('stores exactly the log records the SDK exported over %s, through the broker', async (protocol) => {
    const records = await exportLogScenario(collector.otlpHttpUrl!, protocol);
    const where = `ResourceAttributes['test.protocol'] = '${protocol}'`;
    await waitFor('log records in ClickHouse', async () => (await countStoredLogs(storage.clickhouse!, where)) >= 6);
    expect(await readStoredLogs(storage.clickhouse!, where)).toEqual(expectedLogRows(records));
  });

  it('carries OTLP protobuf ExportLogsServiceRequest on the log topic, keyed by trace bucket, else by service', async () => {
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('inspect-logs') });
    const seen: { partition: number; key: string; buckets: number[] }[] = [];
    const buckets = config.bus.trace_key_buckets;
    await consumer.connect();
    await consumer.subscribe({ topic: logsTopic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const data = decodeExportLogsServiceRequest(message.value!);
        const recordBuckets = data.resourceLogs.flatMap((rl) => {
          const service = String(rl.resource.attributes.find((kv) => kv.key === 'service.name')?.value ?? '');
          return rl.scopeLogs.flatMap((sl) => sl.logRecords.map((r) => (r.traceId === '' ? serviceBucket(service, buckets) : traceBucket(r.traceId, buckets))));
        });
        seen.push({ partition, key: message.key!.toString(), buckets: recordBuckets });
      },
    });
    try {
      await waitFor('log messages', async () => seen.reduce((n, m) => n + m.buckets.length, 0) >= 12);
    } finally {
      await consumer.disconnect();
    }
    const partitionOfKey = new Map<string, number>();
    for (const m of seen) {
      expect(m.buckets.every((b) => String(b) === m.key)).toBe(true);
      if (partitionOfKey.has(m.key)) expect(partitionOfKey.get(m.key)).toBe(m.partition);
      partitionOfKey.set(m.key, m.partition);
    }
    // The scenario's two traces, and the service bucket of its records outside any trace.
    const expectedKeys = [traceBucket(LOG_SCENARIO_TRACE_ID, buckets), traceBucket(LOG_SCENARIO_UNSAMPLED_TRACE_ID, buckets), serviceBucket('checkout', buckets)];
    expect([...partitionOfKey.keys()].sort()).toEqual(expectedKeys.map(String).sort());
  });

  it('masks secrets in log records before the broker: nothing raw on the topic or in ClickHouse, findings stored', async () => {
    const service = 'secret-logs-kafka';
    expectExported(await emitAndExportLogs({ baseUrl: collector.otlpHttpUrl!, protocol: 'http/json', resourceAttributes: { 'service.name': service }, emit: emitLogSecrets }));
    const where = `ServiceName = '${service}'`;
    await waitFor('log records and findings in ClickHouse', async () =>
      (await countStoredLogs(storage.clickhouse!, where)) >= 3 && (await countStoredRows(storage.clickhouse!, 'chainwatch_findings', where)) >= 3,
    );
    await expectLogSecretsMasked(storage.clickhouse!, service);

    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('inspect-secrets') });
    const onTopic: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [logsTopic, findingsTopic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void onTopic.push(message.value!.toString('latin1')) });
    try {
      await waitFor('the secret records on the topic', async () => onTopic.some((text) => text.includes('[REDACTED:stripe_secret_key]')));
    } finally {
      await consumer.disconnect();
    }
    expect(onTopic.join('\n')).not.toMatch(/sk_live_|eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
  });

  it('reports readiness per role and the consumer lag of every partition on the admin port', async () => {
    expect(await (await fetch(`${collector.adminUrl}/readyz`)).json()).toEqual({ status: 'ready', checks: { bus: 'ok' } });
    expect(await (await fetch(`${storage.adminUrl}/readyz`)).json()).toEqual({ status: 'ready', checks: { bus: 'ok', clickhouse: 'ok' } });
    // Everything published so far is stored: the lag drains to zero on every partition of every group.
    const group = consumerGroup(config, 'storage');
    let lags: string[] = [];
    await waitFor('zero lag on the span topic', async () => {
      const metrics = await scrapeMetrics(storage.adminUrl!);
      lags = [...metrics.keys()].filter((name) => name.startsWith('chainwatch_consumer_lag{') && name.includes(`group="${group}"`));
      return lags.length === 3 && lags.every((name) => metrics.get(name) === 0);
    });
    expect(lags.map((line) => /partition="(\d)"/.exec(line)![1]).sort()).toEqual(['0', '1', '2']);
    expect(lags.every((line) => line.includes(`topic="${topic}"`))).toBe(true);
  });
});
