/**
 * The migrations' DDL for a ClickHouse cluster (`clickhouse.cluster`). Migrations are written once,
 * for a single node; this turns each statement into its cluster form, the layout the OpenTelemetry
 * Collector's ClickHouse exporter documents for clusters:
 *
 * - every statement runs `ON CLUSTER <cluster>`;
 * - a table `t` becomes `t_local`, with the Replicated variant of its engine (ZooKeeper/Keeper path
 *   `/clickhouse/tables/{shard}/<db>/t_local`, replica `{replica}`: the usual macros), and `t` a
 *   `Distributed` table over it, so readers and writers keep using `t`. Traces and logs are
 *   sharded by trace id (a trace lives on one shard, where its lookup rows are too), call-edge
 *   tables by edge id (rows that merge into one live on one shard); other tables at random;
 * - `non_replicated_deduplication_window` becomes `replicated_deduplication_window`, so inserts
 *   retried with the same token are still stored once;
 * - a materialized view reads and writes the local tables, so it runs on every shard for the rows
 *   that shard receives;
 * - an `ALTER TABLE` changes the local tables (indexes and codecs live there).
 *
 * It covers the statement shapes the migrations use and throws on anything else, so a new
 * migration cannot silently go to a cluster in single-node form.
 */

const SHARDING_KEYS: Readonly<Record<string, string>> = {
  otel_traces: 'cityHash64(TraceId)',
  otel_traces_trace_id_ts: 'cityHash64(TraceId)',
  otel_logs: 'cityHash64(TraceId)',
  // Rows that merge into one (aggregating, replacing) must meet on one shard.
  chainwatch_edges: 'cityHash64(EdgeId)',
  chainwatch_edge_minutes: 'cityHash64(EdgeId)',
  chainwatch_posture_findings: 'cityHash64(EdgeId)',
  chainwatch_slo_status: 'cityHash64(EdgeId)',
  chainwatch_anomalies: 'cityHash64(EdgeId)',
  // One row per event and receiver after merges: an event's rows meet on one shard.
  chainwatch_alert_log: 'cityHash64(EventId)',
};

const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+) \(([\s\S]*)\) ENGINE = (\w*MergeTree)(?:\(([^)]*)\))?([\s\S]*)$/;
const CREATE_MV = /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+)\s+TO (\w+)\.(\w+)\s+AS ([\s\S]*)$/;
const ALTER_TABLE = /^ALTER TABLE (\w+)\.(\w+)(\s[\s\S]*)$/;
const CREATE_DATABASE = /^CREATE DATABASE IF NOT EXISTS (\w+)$/;

/** The statements that do what `statement` does on one node, on every node of `cluster`. */
export function clusterStatements(statement: string, cluster: string): string[] {
  const sql = statement.trim();
  const on = `ON CLUSTER ${cluster}`;
  let m = CREATE_DATABASE.exec(sql);
  if (m) return [`CREATE DATABASE IF NOT EXISTS ${m[1]} ${on}`];

  m = CREATE_TABLE.exec(sql);
  if (m) {
    const [, db, table, columns, engine, args, rest] = m as unknown as [string, string, string, string, string, string | undefined, string];
    const local = `${table}_local`;
    const replicatedArgs = [`'/clickhouse/tables/{shard}/${db}/${local}'`, `'{replica}'`, ...(args?.trim() ? [args.trim()] : [])].join(', ');
    const settings = rest.replace(/\bnon_replicated_deduplication_window\b/g, 'replicated_deduplication_window');
    return [
      `CREATE TABLE IF NOT EXISTS ${db}.${local} ${on} (${columns}) ENGINE = Replicated${engine}(${replicatedArgs})${settings}`,
      `CREATE TABLE IF NOT EXISTS ${db}.${table} ${on} AS ${db}.${local}\nENGINE = Distributed(${cluster}, ${db}, ${local}, ${SHARDING_KEYS[table] ?? 'rand()'})`,
    ];
  }

  m = CREATE_MV.exec(sql);
  if (m) {
    const [, db, view, targetDb, target, select] = m as unknown as [string, string, string, string, string, string];
    // The source is read from the shard's local table: `FROM db.t` → `FROM db.t_local`.
    const localSelect = select.replace(new RegExp(`\\bFROM ${db}\\.(\\w+)`, 'g'), `FROM ${db}.$1_local`);
    return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${view} ${on}\nTO ${targetDb}.${target}_local\nAS ${localSelect}`];
  }

  m = ALTER_TABLE.exec(sql);
  if (m) return [`ALTER TABLE ${m[1]}.${m[2]}_local ${on}${m[3]}`];

  throw new Error(`no cluster form for this statement (add one to schemas/clickhouse/cluster-ddl.ts): ${sql.slice(0, 80)}`);
}
