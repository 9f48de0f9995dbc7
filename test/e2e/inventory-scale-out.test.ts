/**
 * The inventory on Kafka and one ClickHouse, scaled out (the repartition pattern): spans are
 * turned into call-edge partials keyed by edge id on the edges topic, so each inventory worker of
 * the group owns a disjoint set of edges. When a worker leaves (gracefully, or SIGKILLed mid-stream)
 * its edges move to the others, which rebuild their state from ClickHouse: no edge is reported
 * new twice, no posture finding is raised twice, and the per-minute call counts equal the calls
 * sent, exactly.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeExportTraceServiceRequest, encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { parseConfig } from '../../pipeline/config-loader.js';
import { startTestChainwatch, uniqueName } from '../harness/chainwatch.js';
import { startClickHouseServer, type ClickHouseServer } from '../harness/clickhouse-server.js';
import { killAndWait, runCli, startWorkerCli, type RunningWorker } from '../harness/cli.js';
import { deleteTopics, uniqueTopics } from '../harness/kafka-broker.js';
import { scrapeMetrics } from '../harness/metrics.js';
import { numberedSpanRequest, postUntilAcknowledged, sendEachUntilAcknowledged } from '../harness/numbered-spans.js';
import { waitFor } from '../harness/wait-for.js';

const EDGES = 48;

describe('inventory workers sharing the edges of six partitions', () => {
  const brokers = inject('kafkaBrokers');
  let server: ClickHouseServer;
  const apps: Chainwatch[] = [];
  const workers: RunningWorker[] = [];
  const topicSets: Record<string, string>[] = [];
  const clients: ClickHouseClient[] = [];

  beforeAll(async () => {
    server = await startClickHouseServer();
  });
  afterAll(async () => {
    for (const w of workers) await killAndWait(w.child, 'SIGKILL');
    for (const app of apps) await app.stop();
    for (const c of clients) await c.close();
    await server?.stop();
    await deleteTopics(brokers, topicSets.flatMap((t) => Object.values(t)));
  });

  /** A raw config on fresh topics, group and database, and a client of that database. */
  function setup(name: string) {
    const topics = uniqueTopics(name);
    topicSets.push(topics);
    const database = uniqueName(name);
    const raw = {
      collector: { http: { host: '127.0.0.1', port: 0 }, grpc: { enabled: false } },
      admin: { port: 0 },
      bus: { kind: 'kafka', topics, group_prefix: uniqueName(name), kafka: { brokers, partitions: 6, session_timeout_ms: 6000 } },
      clickhouse: { kind: 'server', url: server.url, database },
      stages: { inventory: { batch_size: 8, max_wait_ms: 20 } },
    };
    const ch = createClient({ url: server.url, database, log: { level: ClickHouseLogLevel.OFF } });
    clients.push(ch);
    const one = async <T>(query: string): Promise<T> => (await (await ch.query({ query: query.replaceAll('DB.', `${database}.`), format: 'JSONEachRow' })).json<T>())[0]!;
    const totals = () =>
      one<{ edges: number; calls: number; rawCalls: number; newEdges: number; distinctNewEdges: number; plaintext: number }>(`SELECT
        (SELECT toUInt32(uniqExact(EdgeId)) FROM DB.chainwatch_edges) AS edges,
        (SELECT toUInt32(sum(Calls)) FROM DB.chainwatch_edge_minutes FINAL) AS calls,
        (SELECT toUInt32(sum(Calls)) FROM DB.chainwatch_edge_minutes) AS rawCalls,
        (SELECT toUInt32(count()) FROM DB.chainwatch_posture_findings WHERE Kind = 'new_edge') AS newEdges,
        (SELECT toUInt32(uniqExact(EdgeId)) FROM DB.chainwatch_posture_findings WHERE Kind = 'new_edge') AS distinctNewEdges,
        (SELECT toUInt32(count()) FROM DB.chainwatch_posture_findings WHERE Kind = 'plaintext_call') AS plaintext`);
    return { raw, topics, totals };
  }

  it('gives each worker a disjoint share of the edges, and hands a leaving worker’s edges to the other with its state rebuilt', async () => {
    const { raw, topics, totals } = setup('inventory_split');
    const config = parseConfig(raw, '(test)');
    const [a, b] = [await startTestChainwatch(config, ['inventory']), await startTestChainwatch(config, ['inventory'])];
    apps.push(a!, b!);
    const collector = await startTestChainwatch(config, ['collector']);
    apps.push(collector);
    const url = `${collector.otlpHttpUrl}/v1/traces`;

    await waitFor('both workers in the group', async () => (await a!.bus.consumerLag()).length > 0 && (await b!.bus.consumerLag()).length > 0);
    await sendEachUntilAcknowledged({ url, service: 'split', spansPerRequest: EDGES, senders: 2, requests: 20, edges: EDGES }).done;
    await waitFor('every call counted', async () => (await totals()).calls === 20 * EDGES, 60_000);

    const [ownedByA, ownedByB] = [a!.edgeRegistry!.trackedEdgeIds(), b!.edgeRegistry!.trackedEdgeIds()];
    expect(ownedByA.length).toBeGreaterThan(0);
    expect(ownedByB.length).toBeGreaterThan(0);
    expect(ownedByA.filter((id) => ownedByB.includes(id))).toEqual([]);
    expect(ownedByA.length + ownedByB.length).toBe(EDGES);
    expect(await totals()).toMatchObject({ edges: EDGES, newEdges: EDGES, distinctNewEdges: EDGES, plaintext: 0 });

    // a leaves; b takes its partitions and, from ClickHouse, the state of its edges.
    await a!.stop();
    apps.splice(apps.indexOf(a!), 1);
    const owns = async (topic: string): Promise<number> => (await b!.bus.consumerLag()).filter((l) => l.topic === topic).length;
    await waitFor('b owning all six partitions of both topics', async () => (await owns(topics.spans)) === 6 && (await owns(topics.edges)) === 6, 60_000);
    const loadedBefore = b!.edgeRegistry!.edgesLoaded;
    // Every edge now calls over http:// once: one plaintext finding per edge, no edge new again.
    const plaintextRequest = numberedSpanRequest('split', 1000, EDGES, EDGES);
    const data = decodeExportTraceServiceRequest(plaintextRequest);
    for (const span of data.resourceSpans[0]!.scopeSpans[0]!.spans) span.attributes.push({ key: 'url.full', value: 'http://peer.internal/x' });
    await postUntilAcknowledged(url, encodeExportTraceServiceRequest(data));
    await waitFor('the plaintext calls counted', async () => (await totals()).calls === 21 * EDGES, 60_000);
    await waitFor('plaintext findings', async () => (await totals()).plaintext === EDGES, 30_000);
    expect(b!.edgeRegistry!.trackedEdgeIds()).toHaveLength(EDGES);
    expect(b!.edgeRegistry!.edgesLoaded - loadedBefore).toBe(EDGES); // all of them: its own too, after the rebalance
    expect(await totals()).toMatchObject({ edges: EDGES, newEdges: EDGES, distinctNewEdges: EDGES, plaintext: EDGES, calls: 21 * EDGES });
  }, 180_000);

  it('counts every call once and reports every edge new once when an inventory worker is SIGKILLed mid-stream', async () => {
    const { raw, totals } = setup('inventory_kill');
    const dir = mkdtempSync(join(tmpdir(), 'cw-inventory-'));
    const file = join(dir, 'chainwatch.yaml');
    writeFileSync(file, JSON.stringify(raw));
    expect((await runCli(['--config', file, 'migrate'])).code).toBe(0);
    for (let i = 0; i < 3; i++) workers.push(await startWorkerCli(['--config', file, '--role', 'inventory']));
    const collector = await startTestChainwatch(parseConfig(raw, '(test)'), ['collector']);
    apps.push(collector);

    const REQUESTS = 200;
    const SPANS = 100;
    const stream = sendEachUntilAcknowledged({ url: `${collector.otlpHttpUrl}/v1/traces`, service: 'kill', spansPerRequest: SPANS, senders: 2, pauseMs: 20, requests: REQUESTS, edges: EDGES });
    await waitFor('a third of the stream', async () => stream.acked() >= REQUESTS / 3, 60_000);
    const [victim] = workers.splice(0, 1);
    expect(await killAndWait(victim!.child, 'SIGKILL')).toBeNull();
    await stream.done;

    await waitFor('every call counted', async () => (await totals()).calls >= REQUESTS * SPANS, 120_000);
    const loaded = async (w: RunningWorker): Promise<number> => (await scrapeMetrics(w.adminUrl)).get('chainwatch_inventory_edges_loaded_total') ?? 0;
    // The survivors rebuilt state for edges they had not seen before the kill: more than they own.
    expect((await Promise.all(workers.map(loaded))).reduce((x, y) => x + y, 0)).toBeGreaterThan(EDGES);
    for (const w of workers.splice(0)) expect(await killAndWait(w.child, 'SIGTERM')).toBe(0);
    const final = await totals();
    expect(final).toMatchObject({ edges: EDGES, calls: REQUESTS * SPANS, newEdges: EDGES, distinctNewEdges: EDGES });
    // A partial published twice (the kill landed between the inventory step's publish and its
    // commit) is one more row until merged, never one more count under FINAL.
    expect(final.rawCalls).toBeGreaterThanOrEqual(REQUESTS * SPANS);
  }, 300_000);
});
