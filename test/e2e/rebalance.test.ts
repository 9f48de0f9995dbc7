/**
 * Scale-out on Kafka and one ClickHouse: three storage workers (`chainwatch worker --role
 * storage`, three processes) share the six partitions of the span topic through their consumer
 * group and write to one ClickHouse (the engine behind its HTTP interface, test/harness/
 * clickhouse-server.ts). One is killed with SIGKILL mid-stream; the group rebalances its
 * partitions to the other two, and every acknowledged span is stored exactly once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { parseConfig } from '../../pipeline/config-loader.js';
import { startTestChainwatch, uniqueName } from '../harness/chainwatch.js';
import { startClickHouseServer, type ClickHouseServer } from '../harness/clickhouse-server.js';
import { killAndWait, runCli, startWorkerCli, type RunningWorker } from '../harness/cli.js';
import { deleteTopics, uniqueTopics } from '../harness/kafka-broker.js';
import { scrapeMetrics } from '../harness/metrics.js';
import { waitFor } from '../harness/wait-for.js';
import { sendEachUntilAcknowledged } from '../harness/numbered-spans.js';

const SPANS_PER_REQUEST = 200;
const REQUESTS = 300; // 60,000 spans

async function batchesStored(worker: RunningWorker): Promise<number> {
  return (await scrapeMetrics(worker.adminUrl)).get('chainwatch_stage_batches_total{stage="storage"}') ?? 0;
}

describe('three storage workers on six partitions, one killed', () => {
  const brokers = inject('kafkaBrokers');
  const dir = mkdtempSync(join(tmpdir(), 'cw-rebalance-'));
  let server: ClickHouseServer | undefined;
  let collector: Chainwatch | undefined;
  const workers: RunningWorker[] = [];
  const topics = uniqueTopics('rebalance');

  afterAll(async () => {
    for (const w of workers) await killAndWait(w.child, 'SIGKILL');
    await collector?.stop();
    await server?.stop();
    await deleteTopics(brokers, Object.values(topics));
  });

  it('rebalances the killed worker’s partitions and stores every acknowledged span once', async () => {
    server = await startClickHouseServer();
    const raw = {
      collector: { http: { host: '127.0.0.1', port: 0 }, grpc: { enabled: false } },
      admin: { port: 0 },
      bus: { kind: 'kafka', topics, group_prefix: uniqueName('rebalance'), kafka: { brokers, partitions: 6, session_timeout_ms: 6000 } },
      clickhouse: { kind: 'server', url: server.url, database: 'rebalance' },
      stages: { storage: { batch_size: 4, max_wait_ms: 20 } },
    };
    const file = join(dir, 'chainwatch.yaml');
    writeFileSync(file, JSON.stringify(raw));
    const migrated = await runCli(['--config', file, 'migrate']);
    expect(migrated.code).toBe(0);
    for (let i = 0; i < 3; i++) workers.push(await startWorkerCli(['--config', file, '--role', 'storage']));
    collector = await startTestChainwatch(parseConfig(raw, '(test)'), ['collector']);

    const stream = sendEachUntilAcknowledged({ url: `${collector.otlpHttpUrl}/v1/traces`, service: 'rebalance', spansPerRequest: SPANS_PER_REQUEST, senders: 2, pauseMs: 50, requests: REQUESTS });

    // All three share the stream (each has stored batches), then one dies.
    await waitFor('every worker storing', async () => (await Promise.all(workers.map(batchesStored))).every((n) => n >= 2));
    // Each reports the lag of the partitions it owns: disjoint, and all six together.
    const owned = async (w: RunningWorker): Promise<string[]> =>
      [...(await scrapeMetrics(w.adminUrl)).keys()].filter((name) => name.startsWith('chainwatch_consumer_lag{') && name.includes(`topic="${topics.spans}"`)).map((name) => /partition="(\d+)"/.exec(name)![1]!);
    await waitFor('a disjoint split of the six partitions', async () => {
      const split = await Promise.all(workers.map(owned));
      const all = split.flat();
      return split.every((p) => p.length > 0) && all.length === 6 && new Set(all).size === 6;
    });
    const [victim, ...survivors] = workers;
    expect(await killAndWait(victim!.child, 'SIGKILL')).toBeNull();
    workers.splice(0, 1);
    const before = await Promise.all(survivors.map(batchesStored));
    await stream.done;

    const ch = createClient({ url: server.url, database: 'rebalance', log: { level: ClickHouseLogLevel.OFF } });
    try {
      const count = async (): Promise<{ spans: number; distinct: number }> => {
        const rs = await ch.query({ query: `SELECT toUInt32(count()) AS spans, toUInt32(uniqExact(SpanId)) AS distinct FROM rebalance.otel_traces`, format: 'JSONEachRow' });
        return (await rs.json<{ spans: number; distinct: number }>())[0]!;
      };
      await waitFor('every acknowledged span stored', async () => (await count()).spans >= REQUESTS * SPANS_PER_REQUEST, 120_000);
      // The survivors took over the dead worker's partitions and went on storing.
      const after = await Promise.all(survivors.map(batchesStored));
      expect(after.reduce((a, b) => a + b, 0)).toBeGreaterThan(before.reduce((a, b) => a + b, 0));
      for (const w of survivors) expect(await killAndWait(w.child, 'SIGTERM')).toBe(0);
      workers.length = 0;
      expect(await count()).toEqual({ spans: REQUESTS * SPANS_PER_REQUEST, distinct: REQUESTS * SPANS_PER_REQUEST });
    } finally {
      await ch.close();
    }
  }, 300_000);
});
