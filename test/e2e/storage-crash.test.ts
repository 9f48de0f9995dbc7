/**
 * Exactly-once storage across crashes, on the real broker: a storage worker (`chainwatch worker
 * --role storage`, its own process, the embedded ClickHouse engine) is killed with SIGKILL three
 * times in the middle of a stream of 100,000 spans and restarted each time; afterwards the stored
 * count equals the sent count and no span is stored twice.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../pipeline/config-loader.js';
import { consumerGroup, type Chainwatch } from '../../pipeline/chainwatch.js';
import { openClickHouse } from '../../processors/storage/clickhouse.js';
import { startTestChainwatch, uniqueName } from '../harness/chainwatch.js';
import { killAndWait, startWorkerCli, type RunningWorker } from '../harness/cli.js';
import { deleteTopics, uniqueTopics } from '../harness/kafka-broker.js';
import { scrapeMetrics } from '../harness/metrics.js';
import { waitFor } from '../harness/wait-for.js';
import { sendEachUntilAcknowledged } from '../harness/numbered-spans.js';

const SPANS_PER_REQUEST = 250;
const REQUESTS = 400; // 100,000 spans
const KILLS = 3;

/** The values of every sample whose name and labels start with `prefix`. */
async function metric(worker: RunningWorker, prefix: string): Promise<number[]> {
  return [...(await scrapeMetrics(worker.adminUrl))].filter(([name]) => name.startsWith(prefix)).map(([, value]) => value);
}

describe('a storage worker killed with SIGKILL mid-stream', () => {
  const brokers = inject('kafkaBrokers');
  const dir = mkdtempSync(join(tmpdir(), 'cw-crash-'));
  const raw = {
    collector: { http: { host: '127.0.0.1', port: 0 }, grpc: { enabled: false } },
    admin: { port: 0 },
    bus: {
      kind: 'kafka',
      topics: uniqueTopics('crash'),
      group_prefix: uniqueName('crash'),
      // A killed worker's partitions move to its successor after the session timeout (the broker's minimum).
      kafka: { brokers, partitions: 6, session_timeout_ms: 6000 },
    },
    clickhouse: { kind: 'embedded', path: join(dir, 'engine'), database: 'crash' },
    // Small batches: many inserts, so a kill lands between an insert and its commit.
    stages: { storage: { batch_size: 4, max_wait_ms: 20 } },
  };
  const config = parseConfig(raw, '(test)');
  const file = join(dir, 'chainwatch.yaml');
  writeFileSync(file, JSON.stringify(raw)); // YAML is a superset of JSON
  let collector: Chainwatch | undefined;
  let worker: RunningWorker | undefined;

  afterAll(async () => {
    if (worker) await killAndWait(worker.child, 'SIGKILL');
    await collector?.stop();
    await deleteTopics(brokers, Object.values(raw.bus.topics));
  });

  it(`stores each of ${REQUESTS * SPANS_PER_REQUEST} acknowledged spans exactly once across ${KILLS} kills`, async () => {
    worker = await startWorkerCli(['--config', file, '--role', 'storage']);
    collector = await startTestChainwatch(config, ['collector']);
    const url = `${collector.otlpHttpUrl}/v1/traces`;

    // The stream, paced (about 40 requests, 10,000 spans, a second) so the worker consumes it live
    // and its batches end wherever the stream is; every request is sent until it is acknowledged
    // (a 503 or 429 is retried).
    const stream = sendEachUntilAcknowledged({
      url,
      service: 'crash-test',
      spansPerRequest: SPANS_PER_REQUEST,
      senders: 3,
      pauseMs: 75,
      requests: REQUESTS,
      onRefused: (status) => expect([429, 503]).toContain(status),
    });

    // Each kill waits until the worker is storing (some batches committed, more waiting), then SIGKILL.
    const storing = consumerGroup(config, 'storage');
    for (let kill = 0; kill < KILLS; kill++) {
      const current = worker;
      await waitFor('the worker storing batches', async () => {
        const [batches = 0] = await metric(current, 'chainwatch_stage_batches_total{stage="storage"}');
        const lag = await metric(current, `chainwatch_consumer_lag{topic="${raw.bus.topics.spans}"`);
        return batches >= 3 && lag.reduce((a, b) => a + b, 0) > 0;
      });
      expect(await killAndWait(current.child, 'SIGKILL')).toBeNull();
      worker = await startWorkerCli(['--config', file, '--role', 'storage']);
    }
    await stream.done;
    expect(stream.acked()).toBe(REQUESTS);

    // Drained: every partition of the span group is committed to the end.
    const last = worker;
    await waitFor('the span group to catch up', async () => {
      const lags = [...(await scrapeMetrics(last.adminUrl))].filter(([name]) => name.startsWith('chainwatch_consumer_lag{') && name.includes(`group="${storing}"`));
      return lags.length === 6 && lags.every(([, lag]) => lag === 0);
    });
    expect(await killAndWait(last.child, 'SIGTERM')).toBe(0);
    worker = undefined;

    // This process has not opened the engine yet: it can read the worker's data directory now.
    const ch = await openClickHouse(config.clickhouse);
    try {
      const rs = await ch.client.query({ query: `SELECT count() AS stored, uniqExact(SpanId) AS distinct FROM crash.otel_traces`, format: 'JSONEachRow' });
      expect(await rs.json()).toEqual([{ stored: REQUESTS * SPANS_PER_REQUEST, distinct: REQUESTS * SPANS_PER_REQUEST }]);
    } finally {
      await ch.close();
    }
  }, 300_000);
});
