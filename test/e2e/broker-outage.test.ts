/**
 * The Kafka broker stopped for 30 s under load (a broker of this test's own, stopped with SIGTERM
 * and started again on the same ports with the same data): while it is down the collector answers
 * 503 with Retry-After instead of buffering; when it is back the collector and the storage stage
 * resume by themselves; every span whose request got a 200 is stored, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { startKafkaBroker, uniqueTopics, type KafkaBroker } from '../harness/kafka-broker.js';
import { waitFor } from '../harness/wait-for.js';
import { numberedSpanRequest } from '../harness/numbered-spans.js';

const SPANS_PER_REQUEST = 50;
const OUTAGE_MS = 30_000;


describe('the Kafka broker stopped for 30 s under load', () => {
  let broker: KafkaBroker;
  let storage: Chainwatch | undefined;
  let collector: Chainwatch | undefined;

  beforeAll(async () => {
    broker = await startKafkaBroker({ own: true });
  });
  afterAll(async () => {
    await collector?.stop();
    await storage?.stop();
    await broker?.stop();
  });

  it('answers 503 with Retry-After while it is down, resumes by itself, and loses nothing acknowledged', async () => {
    const config = testConfig({
      // Publishes give up after 3 s (the collector then answers 503); consumers rejoin quickly.
      bus: { kind: 'kafka', topics: uniqueTopics('outage'), kafka: { brokers: broker.brokers, partitions: 3, request_timeout_ms: 3000, session_timeout_ms: 6000 } },
    }); // prettier-ignore
    storage = await startTestChainwatch(config, ['storage']);
    collector = await startTestChainwatch(config, ['collector']);

    const answers: { n: number; at: number; status: number; retryAfter: string | null }[] = [];
    let next = 0;
    let sending = true;
    const send = async (): Promise<void> => {
      while (sending) {
        const n = next++;
        const res = await fetch(`${collector!.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: numberedSpanRequest('outage', n, SPANS_PER_REQUEST) });
        await res.arrayBuffer();
        answers.push({ n, at: Date.now(), status: res.status, retryAfter: res.headers.get('retry-after') });
        // Back off as an exporter does when refused.
        if (res.status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
    };
    const senders = Promise.all([send(), send()]);
    await waitFor('acknowledged load', async () => answers.filter((a) => a.status === 200).length >= 20);

    await broker.halt!();
    const down = Date.now();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    // The broker serves again some time before restart() resolves: the outage ends when it is called.
    const restarting = Date.now();
    await broker.restart!();
    const up = Date.now();
    await waitFor('acknowledgements after the restart', async () => answers.some((a) => a.at > up && a.status === 200), 120_000);
    sending = false;
    await senders;

    // While it was down (after the publish timeout), refusals only, each saying when to retry.
    const duringOutage = answers.filter((a) => a.at > down + 5000 && a.at < restarting);
    expect(duringOutage.length).toBeGreaterThan(10);
    expect(duringOutage.every((a) => a.status === 503 && a.retryAfter !== null && Number(a.retryAfter) > 0)).toBe(true);

    await waitFor(
      'the storage stage to catch up',
      async () => {
        const lags = (await storage!.bus.consumerLag()).filter((l) => l.topic === config.bus.topics.spans);
        return lags.length === 3 && lags.every((l) => l.lag === 0);
      },
      120_000,
    );
    const rs = await storage.clickhouse!.client.query({
      query: `SELECT count() AS spans, uniqExact(SpanId) AS distinct, groupUniqArray(toUInt32(SpanAttributes['request'])) AS requests FROM ${storage.clickhouse!.database}.otel_traces WHERE ServiceName = 'outage'`,
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ spans: number; distinct: number; requests: number[] }>();
    const acked = answers.filter((a) => a.status === 200).map((a) => a.n);
    expect(row!.requests.map(Number)).toEqual(expect.arrayContaining(acked));
    expect(Number(row!.distinct)).toBe(Number(row!.spans));
  }, 300_000);
});
