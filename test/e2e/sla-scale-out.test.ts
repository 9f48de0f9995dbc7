/**
 * The sla role on Kafka, scaled out and crashed: the inventory (in-process) turns spans into
 * edge partials; two `chainwatch worker --role sla` processes share the edges topic; one is
 * SIGKILLed in the middle of the stream. The survivor rebuilds the dead one's edges from the
 * inventory's rows before its committed offsets and the topic after them, so the alerts topic
 * carries exactly the burn-rate alerts of a run without a crash: each fires once and resolves once
 * (an announcement repeated after a crash has the same event id).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { parseConfig } from '../../pipeline/config-loader.js';
import { decodeAlertEvents, type AlertEvent } from '../../schemas/alerts.js';
import { createSpan, createTracesData, StatusCode } from '../../schemas/otlp-traces.js';
import { startTestChainwatch, uniqueName } from '../harness/chainwatch.js';
import { startClickHouseServer, type ClickHouseServer } from '../harness/clickhouse-server.js';
import { killAndWait, runCli, startWorkerCli, type RunningWorker } from '../harness/cli.js';
import { deleteTopics, uniqueTopics } from '../harness/kafka-broker.js';
import { postUntilAcknowledged } from '../harness/numbered-spans.js';
import { waitFor } from '../harness/wait-for.js';

const M0 = 1_763_900_040;
const MINUTES = 450;

/** Minute m: 100 calls checkout → stripe (an error every 17 minutes, 50% errors in minutes 400–410) and 50 calls search → index; all in one trace, so on one span partition, in order. */
function minuteRequest(m: number): Uint8Array {
  let n = 0;
  const span = (peer: string, error: boolean) => {
    const start = BigInt(M0 + m * 60) * 1_000_000_000n + BigInt(n);
    n++;
    return createSpan({
      traceId: 'c0ffee'.padEnd(32, '0'),
      spanId: (m * 1000 + n).toString(16).padStart(16, '0'),
      name: 'call',
      kind: 3,
      startTimeUnixNano: start,
      endTimeUnixNano: start + 20_000_000n,
      attributes: [{ key: 'peer.service', value: peer }],
      status: { code: error ? StatusCode.ERROR : StatusCode.UNSET, message: '' },
    });
  };
  const burst = m >= 400 && m <= 410;
  const stripe = Array.from({ length: 100 }, (_, i) => span('stripe', burst ? i % 2 === 0 : m % 17 === 0 && i === 0));
  const index = Array.from({ length: 50 }, (_, i) => span('index', m % 23 === 0 && i === 0));
  return encodeExportTraceServiceRequest({ resourceSpans: [...createTracesData('checkout', stripe).resourceSpans, ...createTracesData('search', index).resourceSpans] });
}

describe('sla workers on Kafka, one SIGKILLed', () => {
  const brokers = inject('kafkaBrokers');
  let server: ClickHouseServer | undefined;
  const apps: Chainwatch[] = [];
  const workers: RunningWorker[] = [];
  const topics = uniqueTopics('sla');

  afterAll(async () => {
    for (const w of workers) await killAndWait(w.child, 'SIGKILL');
    for (const app of apps) await app.stop();
    await server?.stop();
    await deleteTopics(brokers, Object.values(topics));
  });

  it('publishes each burn-rate alert once, firing and resolved, across the crash', async () => {
    server = await startClickHouseServer();
    const database = uniqueName('sla');
    const raw = {
      collector: { http: { host: '127.0.0.1', port: 0 }, grpc: { enabled: false } },
      admin: { port: 0 },
      bus: { kind: 'kafka', topics, group_prefix: uniqueName('sla'), kafka: { brokers, partitions: 4, session_timeout_ms: 6000 } },
      clickhouse: { kind: 'server', url: server.url, database },
      stages: {
        inventory: { batch_size: 20, max_wait_ms: 20 },
        sla: { batch_size: 20, max_wait_ms: 20, objectives: [{ service: 'checkout', peer: 'stripe', availability: 0.999, latency_ms: 1000, latency_target: 0.99 }] },
      },
    };
    const dir = mkdtempSync(join(tmpdir(), 'cw-sla-'));
    const file = join(dir, 'chainwatch.yaml');
    writeFileSync(file, JSON.stringify(raw));
    expect((await runCli(['--config', file, 'migrate'])).code).toBe(0);
    const config = parseConfig(raw, '(test)');
    apps.push(await startTestChainwatch(config, ['inventory']));
    for (let i = 0; i < 2; i++) workers.push(await startWorkerCli(['--config', file, '--role', 'sla']));
    const collector = await startTestChainwatch(config, ['collector']);
    apps.push(collector);

    for (let m = 0; m < MINUTES; m++) {
      await postUntilAcknowledged(`${collector.otlpHttpUrl}/v1/traces`, minuteRequest(m));
      if (m === 402) {
        // Mid-burst: the alert of the 1 h tier has just fired (or is about to); one worker dies.
        const [victim] = workers.splice(0, 1);
        expect(await killAndWait(victim!.child, 'SIGKILL')).toBeNull();
      }
    }

    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: uniqueName('sla-inspect'), maxWaitTimeInMs: 200 });
    const events: AlertEvent[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: topics.alerts, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void events.push(...decodeAlertEvents(message.value!)) });
    try {
      await waitFor('both alerts resolved', async () => new Set(events.filter((e) => e.source === 'sla' && e.status === 'resolved').map((e) => e.rule)).size === 2, 120_000);
    } finally {
      await consumer.disconnect();
    }
    const at = (m: number): string => new Date((M0 + m * 60) * 1000).toISOString();
    const distinct = [...new Map(events.filter((e) => e.source === 'sla').map((e) => [e.id, e])).values()];
    expect(distinct.map((e) => [e.rule, e.status, e.starts_at, e.ends_at]).sort()).toEqual(
      [
        ['slo_availability_burn_rate_1h', 'firing', at(401), null],
        ['slo_availability_burn_rate_6h', 'firing', at(403), null],
        ['slo_availability_burn_rate_1h', 'resolved', at(401), at(415)],
        ['slo_availability_burn_rate_6h', 'resolved', at(403), at(440)],
      ].sort(),
    );
    // The inventory announced the two new edges once each (by id).
    expect(new Set(events.filter((e) => e.source === 'inventory' && e.rule === 'new_edge').map((e) => e.id)).size).toBe(2);
  }, 400_000);
});
