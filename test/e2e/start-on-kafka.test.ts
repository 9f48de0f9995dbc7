/**
 * `chainwatch start` as a user runs it against production parts: one process with every role, on
 * the real Kafka broker and a ClickHouse server (the engine behind its HTTP interface). A span is
 * stored, its call edge registered and reported new, and the process stops cleanly.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { uniqueName } from '../harness/chainwatch.js';
import { startClickHouseServer, type ClickHouseServer } from '../harness/clickhouse-server.js';
import { killAndWait, startCli, type RunningCli } from '../harness/cli.js';
import { deleteTopics, uniqueTopics } from '../harness/kafka-broker.js';
import { waitFor } from '../harness/wait-for.js';

describe('chainwatch start on Kafka and a ClickHouse server', () => {
  const brokers = inject('kafkaBrokers');
  const topics = uniqueTopics('start');
  let server: ClickHouseServer | undefined;
  let app: RunningCli | undefined;

  afterAll(async () => {
    if (app) await killAndWait(app.child, 'SIGKILL');
    await server?.stop();
    await deleteTopics(brokers, Object.values(topics));
  });

  it('runs every role in one process: stores the span, registers its call edge, stops on SIGTERM', async () => {
    server = await startClickHouseServer();
    const database = uniqueName('start');
    const dir = mkdtempSync(join(tmpdir(), 'cw-start-kafka-'));
    const file = join(dir, 'chainwatch.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        collector: { http: { port: 0 }, grpc: { port: 0 } },
        admin: { port: 0 },
        bus: { kind: 'kafka', topics, group_prefix: uniqueName('start'), kafka: { brokers, partitions: 2 } },
        clickhouse: { kind: 'server', url: server.url, database },
      }),
    );
    app = await startCli(['--config', file]);
    expect(app.output()).toContain(`chainwatch is running (Kafka ${brokers.join(',')} topics ${topics.spans}, ${topics.logs}`);
    const now = BigInt(Date.now()) * 1_000_000n;
    const span = createSpan({ traceId: 'ef'.repeat(16), spanId: '0000000000000001', name: 'GET /v1/rates', kind: 3, startTimeUnixNano: now, endTimeUnixNano: now + 5_000_000n, attributes: [{ key: 'peer.service', value: 'fx-rates' }] });
    const res = await fetch(`${app.otlpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: encodeExportTraceServiceRequest(createTracesData('treasury', [span])) });
    expect(res.status).toBe(200);

    const ch = createClient({ url: server.url, database, log: { level: ClickHouseLogLevel.OFF } });
    try {
      const one = async (query: string): Promise<number> => Number((await (await ch.query({ query, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);
      await waitFor('the span and its call edge', async () => (await one(`SELECT count() AS n FROM ${database}.otel_traces`)) === 1 && (await one(`SELECT count() AS n FROM ${database}.chainwatch_edges WHERE Peer = 'fx-rates'`)) >= 1, 60_000);
      expect(await one(`SELECT count() AS n FROM ${database}.chainwatch_posture_findings WHERE Kind = 'new_edge' AND ServiceName = 'treasury' AND Peer = 'fx-rates'`)).toBe(1);
    } finally {
      await ch.close();
    }
    expect(await killAndWait(app.child, 'SIGTERM')).toBe(0);
    app = undefined;
  }, 180_000);
});
