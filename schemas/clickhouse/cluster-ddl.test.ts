/**
 * The cluster form of every migration statement, checked by the ClickHouse parser itself
 * (`formatQuery`, on the real engine) and for the layout it must have: ON CLUSTER everywhere,
 * Replicated engines with the shard and replica macros, a Distributed table over each local one,
 * views on the local tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapStatements, ddlFor, openClickHouse, type ClickHouse } from '../../processors/storage/clickhouse.js';
import { parseConfig } from '../../pipeline/config-loader.js';
import { testConfig } from '../../test/harness/chainwatch.js';
import { clusterStatements } from './cluster-ddl.js';
import { MIGRATIONS } from './migrations.js';

const CLUSTER = 'chainwatch_cluster';

describe('cluster DDL', () => {
  let ch: ClickHouse;
  const single = [...bootstrapStatements('cw'), ...MIGRATIONS.flatMap((m) => m.statements('cw'))];
  const clustered = single.flatMap((s) => clusterStatements(s, CLUSTER));

  /** The statement as ClickHouse's parser reads it back (one line), or the parser's complaint. */
  const parse = async (sql: string): Promise<string> => {
    const rs = await ch.client.query({ query: 'SELECT formatQuerySingleLine({q:String}) AS f', query_params: { q: sql }, format: 'JSONEachRow' });
    return (await rs.json<{ f: string }>())[0]!.f;
  };

  beforeAll(async () => {
    ch = await openClickHouse(testConfig().clickhouse);
  });
  afterAll(async () => {
    await ch?.close();
  });

  it('parses every statement, and the parser can say no', async () => {
    for (const sql of clustered) expect(await parse(sql)).toContain(`ON CLUSTER ${CLUSTER}`);
    await expect(parse('CREATE TABLE cw.t ON CLUSTER c (x UInt8) ENGINE = ')).rejects.toThrow(/Syntax error/);
  });

  it('puts a Replicated local table and a Distributed table behind every table', async () => {
    const tables = single.flatMap((s) => /^CREATE TABLE IF NOT EXISTS cw\.(\w+)/.exec(s)?.[1] ?? []);
    expect(tables).toEqual(['chainwatch_schema_migrations', 'otel_traces', 'otel_traces_trace_id_ts', 'chainwatch_findings', 'otel_logs', 'chainwatch_edges', 'chainwatch_edge_minutes', 'chainwatch_posture_findings', 'chainwatch_alert_log', 'chainwatch_slo_status', 'chainwatch_anomalies']);
    const formatted = await Promise.all(clustered.map(parse));
    for (const table of tables) {
      const local = formatted.find((f) => f.startsWith(`CREATE TABLE IF NOT EXISTS cw.${table}_local ON CLUSTER ${CLUSTER}`))!;
      expect(local).toMatch(new RegExp(`ENGINE = Replicated(Replacing|Aggregating)?MergeTree\\('/clickhouse/tables/\\{shard\\}/cw/${table}_local', '\\{replica\\}'`));
      expect(local).not.toContain('non_replicated_deduplication_window');
      const distributed = formatted.find((f) => f.startsWith(`CREATE TABLE IF NOT EXISTS cw.${table} ON CLUSTER ${CLUSTER}`))!;
      expect(distributed).toMatch(new RegExp(`AS cw\\.${table}_local ENGINE = Distributed\\(${CLUSTER}, cw, ${table}_local, (cityHash64\\(TraceId\\)|cityHash64\\(EdgeId\\)|cityHash64\\(EventId\\)|rand\\(\\))\\)`));
    }
    // Traces and their lookup rows shard by trace id, so a trace is read from one shard.
    expect(formatted.find((f) => f.startsWith('CREATE TABLE IF NOT EXISTS cw.otel_traces ON'))).toContain('cityHash64(TraceId)');
    expect(formatted.find((f) => f.startsWith('CREATE TABLE IF NOT EXISTS cw.otel_traces_trace_id_ts ON'))).toContain('cityHash64(TraceId)');
    // Rows of an edge that merge into one (aggregating, replacing) meet on one shard.
    for (const table of ['chainwatch_edges', 'chainwatch_edge_minutes', 'chainwatch_posture_findings', 'chainwatch_slo_status', 'chainwatch_anomalies']) {
      expect(formatted.find((f) => f.startsWith(`CREATE TABLE IF NOT EXISTS cw.${table} ON`))).toContain('cityHash64(EdgeId)');
    }
    // The dedup window carries over to the replicated setting.
    expect(formatted.find((f) => f.startsWith('CREATE TABLE IF NOT EXISTS cw.otel_traces_local'))).toContain('replicated_deduplication_window = 10000');
  });

  it('runs the view, the alters and the database on the cluster, against the local tables', async () => {
    const formatted = await Promise.all(clustered.map(parse));
    const view = formatted.find((f) => f.startsWith('CREATE MATERIALIZED VIEW'))!;
    expect(view).toContain(`cw.otel_traces_trace_id_ts_mv ON CLUSTER ${CLUSTER} TO cw.otel_traces_trace_id_ts_local`);
    expect(view).toContain('FROM cw.otel_traces_local');
    const alters = formatted.filter((f) => f.startsWith('ALTER TABLE'));
    expect(alters).toHaveLength(2);
    for (const alter of alters) expect(alter).toMatch(new RegExp(`^ALTER TABLE cw\\.otel_traces_local ON CLUSTER ${CLUSTER} `));
    expect(formatted[0]).toBe(`CREATE DATABASE IF NOT EXISTS cw ON CLUSTER ${CLUSTER}`);
  });

  it('is configured for a server only', () => {
    expect(() => parseConfig({ clickhouse: { cluster: CLUSTER } }, 'c.yaml')).toThrow('clickhouse.cluster: only for kind: server (the embedded engine is one node)');
    expect(parseConfig({ clickhouse: { kind: 'server', url: 'http://ch:8123', cluster: CLUSTER } }, 'c.yaml').clickhouse.cluster).toBe(CLUSTER);
  });

  it('leaves single-node DDL as it is, and refuses a statement it has no cluster form for', () => {
    expect(ddlFor({ cluster: null }, single[1]!)).toEqual([single[1]]);
    expect(ddlFor({ cluster: CLUSTER }, single[1]!)).toEqual(clusterStatements(single[1]!, CLUSTER));
    expect(() => clusterStatements('DROP TABLE cw.otel_traces', CLUSTER)).toThrow('no cluster form for this statement (add one to schemas/clickhouse/cluster-ddl.ts): DROP TABLE cw.otel_traces');
  });
});
