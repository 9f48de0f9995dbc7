/**
 * Graceful stop on Kafka, as an orchestrator does it (SIGTERM), under load: the collector stops
 * accepting, answers what it holds and exits 0 within `shutdown_timeout_s`; a storage worker
 * finishes its batch in flight, commits and exits 0 within the timeout; its successor picks up
 * from the committed offsets and every acknowledged span is stored once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../pipeline/config-loader.js';
import { openClickHouse } from '../../processors/storage/clickhouse.js';
import { uniqueName } from '../harness/chainwatch.js';
import { killAndWait, startCollectorCli, startWorkerCli, type RunningCli, type RunningWorker } from '../harness/cli.js';
import { deleteTopics, uniqueTopics } from '../harness/kafka-broker.js';
import { scrapeMetrics } from '../harness/metrics.js';
import { sendUntilGone } from '../harness/numbered-spans.js';
import { waitFor } from '../harness/wait-for.js';

const SPANS_PER_REQUEST = 100;
const SHUTDOWN_TIMEOUT_S = 10;

/** Sends SIGTERM and measures how long the process takes to exit. */
async function terminate(child: RunningCli['child']): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await killAndWait(child, 'SIGTERM');
  return { code, ms: Date.now() - started };
}

describe('SIGTERM under load on Kafka', () => {
  const brokers = inject('kafkaBrokers');
  const dir = mkdtempSync(join(tmpdir(), 'cw-shutdown-'));
  const topics = uniqueTopics('shutdown');
  const raw = {
    collector: { http: { host: '127.0.0.1', port: 0 }, grpc: { enabled: false } },
    admin: { port: 0 },
    bus: { kind: 'kafka', topics, group_prefix: uniqueName('shutdown'), kafka: { brokers, partitions: 3, session_timeout_ms: 6000 } },
    clickhouse: { kind: 'embedded', path: join(dir, 'engine'), database: 'shutdown' },
    stages: { storage: { batch_size: 4, max_wait_ms: 20 } },
    shutdown_timeout_s: SHUTDOWN_TIMEOUT_S,
  };
  const file = join(dir, 'chainwatch.yaml');
  writeFileSync(file, JSON.stringify(raw));
  const running: { child: RunningCli['child'] }[] = [];

  afterAll(async () => {
    for (const p of running) await killAndWait(p.child, 'SIGKILL');
    await deleteTopics(brokers, Object.values(topics));
  });

  it(`stops accepting, drains, commits and exits 0 within ${SHUTDOWN_TIMEOUT_S} s; nothing acknowledged is lost or stored twice`, async () => {
    let worker: RunningWorker = await startWorkerCli(['--config', file, '--role', 'storage']);
    running.push(worker);
    const collector = await startCollectorCli(['--config', file]);
    running.push(collector);

    // Draining, the collector refuses with a status (503), never drops a request silently.
    const stream = sendUntilGone({
      url: `${collector.otlpUrl}/v1/traces`,
      service: 'shutdown',
      spansPerRequest: SPANS_PER_REQUEST,
      senders: 3,
      pauseMs: 20,
      maxFailures: 10,
      onRefused: (status) => expect(status).toBe(503),
    });
    const acked = stream.acked;
    await waitFor('load stored by the worker', async () => acked.length >= 150);

    // The worker first, mid-stream: it finishes and commits its batch, then goes.
    const workerStop = await terminate(worker.child);
    expect(workerStop.code).toBe(0);
    expect(workerStop.ms).toBeLessThan(SHUTDOWN_TIMEOUT_S * 1000);
    expect(worker.output()).toContain('SIGTERM, draining and stopping');
    worker = await startWorkerCli(['--config', file, '--role', 'storage']);
    running.push(worker);
    await waitFor('more load', async () => acked.length >= 300);

    // Then the collector, under load.
    const collectorStop = await terminate(collector.child);
    expect(collectorStop.code, collector.output()).toBe(0);
    expect(collectorStop.ms).toBeLessThan(SHUTDOWN_TIMEOUT_S * 1000);
    await stream.done;

    const last = worker;
    await waitFor('the worker to catch up', async () => {
      const lags = [...(await scrapeMetrics(last.adminUrl))].filter(([name]) => name.startsWith('chainwatch_consumer_lag{') && name.includes(`topic="${topics.spans}"`));
      return lags.length === 3 && lags.every(([, lag]) => lag === 0);
    });
    expect((await terminate(last.child)).code).toBe(0);

    const ch = await openClickHouse(parseConfig(raw, '(test)').clickhouse);
    try {
      const rs = await ch.client.query({
        query: `SELECT count() AS spans, uniqExact(SpanId) AS distinct, groupUniqArray(toUInt32(SpanAttributes['request'])) AS requests FROM shutdown.otel_traces`,
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ spans: number; distinct: number; requests: number[] }>();
      expect(row!.requests.map(Number)).toEqual(expect.arrayContaining(acked));
      expect(Number(row!.distinct)).toBe(Number(row!.spans));
      expect(Number(row!.spans)).toBe(row!.requests.length * SPANS_PER_REQUEST);
    } finally {
      await ch.close();
    }
  }, 300_000);
});
