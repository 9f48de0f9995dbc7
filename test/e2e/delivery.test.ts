/**
 * Delivery guarantees on the real broker and the real ClickHouse engine:
 * - ClickHouse refusing inserts (the span table detached, then attached again): the storage stage
 *   retries with capped backoff without committing, then catches up; nothing lost, nothing twice.
 * - `kill -9` of a collector process under load: every span whose request got a 200 is stored,
 *   once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import type { Config } from '../../schemas/config.js';
import { startTestChainwatch, testConfig, uniqueName } from '../harness/chainwatch.js';
import { killAndWait, startCollectorCli } from '../harness/cli.js';
import { deleteTopics, uniqueTopics } from '../harness/kafka-broker.js';
import { waitFor } from '../harness/wait-for.js';
import { numberedSpanRequest, sendUntilGone } from '../harness/numbered-spans.js';

const SPANS_PER_REQUEST = 100;



describe('delivery guarantees on Kafka', () => {
  const brokers = inject('kafkaBrokers');
  const topics = uniqueTopics('delivery');
  const bus = { kind: 'kafka', topics, group_prefix: uniqueName('delivery'), kafka: { brokers, partitions: 3 } };
  const config: Config = testConfig({ bus, stages: { storage: { retry_initial_ms: 50, retry_max_ms: 400 } } });
  const started: Chainwatch[] = [];
  let storage: Chainwatch;

  const stored = async (service: string): Promise<{ spans: number; distinct: number; requests: number[] }> => {
    const rs = await storage.clickhouse!.client.query({
      query: `SELECT count() AS spans, uniqExact(SpanId) AS distinct, groupUniqArray(toUInt32(SpanAttributes['request'])) AS requests
        FROM ${storage.clickhouse!.database}.otel_traces WHERE ServiceName = {s:String}`,
      query_params: { s: service },
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ spans: number; distinct: number; requests: number[] }>();
    return { spans: Number(row!.spans), distinct: Number(row!.distinct), requests: row!.requests.map(Number).sort((a, b) => a - b) };
  };
  const caughtUp = async (): Promise<boolean> => {
    const lags = (await storage.bus.consumerLag()).filter((l) => l.topic === topics.spans);
    return lags.length === 3 && lags.every((l) => l.lag === 0);
  };

  afterAll(async () => {
    for (const app of started.reverse()) await app.stop();
    await deleteTopics(brokers, Object.values(topics));
  });

  it('retries while ClickHouse refuses inserts, without committing, then stores everything once', async () => {
    storage = await startTestChainwatch(config, ['storage']);
    started.push(storage);
    const collector = await startTestChainwatch(config, ['collector']);
    started.push(collector);
    const table = `${storage.clickhouse!.database}.otel_traces`;
    await storage.clickhouse!.client.command({ query: `DETACH TABLE ${table}` });

    const service = 'refused-inserts';
    for (let n = 0; n < 20; n++) {
      const res = await fetch(`${collector.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: numberedSpanRequest(service, n, SPANS_PER_REQUEST) });
      expect(res.status).toBe(200); // acknowledged: on the broker, whatever ClickHouse does
    }
    const spansStage = storage.stages.find((s) => s.name === 'storage')!;
    await waitFor('retries against the detached table', async () => spansStage.stats.retries >= 3);
    const lag = (await storage.bus.consumerLag()).filter((l) => l.topic === topics.spans).reduce((sum, l) => sum + l.lag, 0);
    expect(lag).toBeGreaterThan(0); // nothing committed while the inserts fail
    expect(spansStage.stats.droppedMessages).toBe(0);

    await storage.clickhouse!.client.command({ query: `ATTACH TABLE ${table}` });
    await waitFor('the stage to catch up', caughtUp);
    expect(await stored(service)).toEqual({ spans: 20 * SPANS_PER_REQUEST, distinct: 20 * SPANS_PER_REQUEST, requests: Array.from({ length: 20 }, (_, n) => n) });
  }, 120_000);

  it('stores every acknowledged span once after the collector process is killed with SIGKILL under load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-delivery-'));
    const file = join(dir, 'collector.yaml');
    writeFileSync(file, JSON.stringify({ collector: { http: { host: '127.0.0.1', port: 0 }, grpc: { enabled: false } }, admin: { port: 0 }, bus }));
    const collector = await startCollectorCli(['--config', file]);
    const service = 'collector-killed';
    const stream = sendUntilGone({ url: `${collector.otlpUrl}/v1/traces`, service, spansPerRequest: SPANS_PER_REQUEST, senders: 4, maxFailures: 20 });
    const acked = stream.acked;
    await waitFor('load on the collector', async () => acked.length >= 100);
    expect(await killAndWait(collector.child, 'SIGKILL')).toBeNull();
    await stream.done;

    await waitFor('the storage stage to catch up', caughtUp);
    const result = await stored(service);
    // Every acknowledged request is stored in full; a request cut by the kill may be stored too
    // (it reached the broker before its answer was lost), but never twice.
    expect(result.requests).toEqual(expect.arrayContaining(acked));
    expect(result.distinct).toBe(result.spans);
    expect(result.spans).toBe(result.requests.length * SPANS_PER_REQUEST);
    expect(acked.length).toBeGreaterThanOrEqual(100);
  }, 120_000);
});
