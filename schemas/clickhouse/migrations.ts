/**
 * ClickHouse DDL, as an ordered list of versioned migrations applied by `chainwatch migrate`.
 *
 * `otel_traces` and `otel_traces_trace_id_ts` (+ its materialized view) keep the column names and
 * types of the OpenTelemetry Collector ClickHouse exporter, so Grafana's ClickHouse data source
 * reads them in OTel mode unchanged. Two additions, both invisible to readers:
 * `non_replicated_deduplication_window`, so a retried insert carrying the same
 * `insert_deduplication_token` is stored once, on the MV's target table as well.
 *
 * A migration is never edited once released: a change is a new migration with the next version.
 */

export interface Migration {
  version: number;
  name: string;
  /** Statements for database `db`, run in order; each must be idempotent (IF NOT EXISTS). */
  statements(db: string): string[];
}

/** How many recent insert tokens a MergeTree table remembers for deduplication. */
const DEDUP_WINDOW = 10_000;

/**
 * The alert log: one row per alert event and receiver, written by the alerting stage once the
 * delivery is settled (delivered, failed for good, or not attempted and why). It is the record
 * on-call and auditors read ("was I paged, when, how many tries"), and the alerting stage's
 * memory across restarts: an event with a row for a receiver is never delivered to it again.
 *
 * Idempotent under replays twice over: each batch's insert carries a deduplication token, and the
 * engine replaces rows with the same (EventId, Receiver), so even a row written twice by two
 * workers racing after a rebalance reads as one after merges (or with FINAL). Partitions go by the
 * alert's start, which both copies share (by delivery time, copies written either side of
 * midnight would sit in two partitions and never merge).
 *
 * `Error` is a short reason (`HTTP 503`, `timed out after 10000 ms`): never a URL, never a secret.
 */
export const ALERT_LOG_MIGRATION: Migration = {
  version: 7,
  name: 'alert log',
  statements: (db) => [
    `CREATE TABLE IF NOT EXISTS ${db}.chainwatch_alert_log (
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  EventId String CODEC(ZSTD(1)),
  Fingerprint String CODEC(ZSTD(1)),
  Status LowCardinality(String) CODEC(ZSTD(1)),
  Source LowCardinality(String) CODEC(ZSTD(1)),
  Rule LowCardinality(String) CODEC(ZSTD(1)),
  Severity LowCardinality(String) CODEC(ZSTD(1)),
  Summary String CODEC(ZSTD(1)),
  Tenant LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  PeerKind LowCardinality(String) CODEC(ZSTD(1)),
  Peer String CODEC(ZSTD(1)),
  EdgeId String CODEC(ZSTD(1)),
  StartsAt DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  Receiver LowCardinality(String) CODEC(ZSTD(1)),
  Delivery LowCardinality(String) CODEC(ZSTD(1)),
  Attempts UInt16,
  HttpStatus UInt16,
  Error String CODEC(ZSTD(1))
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(StartsAt)
ORDER BY (EventId, Receiver)
SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
  ],
};

/**
 * Anomalies: one row per judged anomalous minute of a call edge and detector, and one for the
 * minute a firing alert resolved (Anomalous 0, Firing 0), written by the anomaly stage. On-call
 * and Grafana read it as "what was odd, when, by how much"; the stage reads it as its memory
 * across restarts and rebalances: the state of an (edge, detector) alert is a function of its
 * latest row (processors/anomaly/anomaly-stage.ts), which is why two columns join the ones
 * people read:
 *
 * - `StartsAt`: the start of the run the row belongs to: the alert's starts_at while it fires (and
 *   on its resolution row), the first anomalous minute of a run that has not fired yet;
 * - `Anomalous`: 1 for an anomalous minute, 0 for the resolution row (a normal minute), so a
 *   resolution is never read back as the continuation of a run.
 *
 * Idempotent under replays twice over: each batch's insert carries a deduplication token, and a
 * replayed judgement of the same minute has the same key (Tenant, EdgeId, Detector, Minute), so
 * the engine replaces it (read with FINAL, or argMax, before counting).
 */
export const ANOMALY_MIGRATION: Migration = {
  version: 9,
  name: 'anomalies',
  statements: (db) => [
    `CREATE TABLE IF NOT EXISTS ${db}.chainwatch_anomalies (
  Minute DateTime CODEC(Delta(4), ZSTD(1)),
  Tenant LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  PeerKind LowCardinality(String) CODEC(ZSTD(1)),
  Peer String CODEC(ZSTD(1)),
  EdgeId String CODEC(ZSTD(1)),
  Detector LowCardinality(String) CODEC(ZSTD(1)),
  Observed Float64,
  Expected Float64,
  Score Float64,
  Calls UInt64,
  Firing UInt8,
  Anomalous UInt8,
  StartsAt DateTime CODEC(Delta(4), ZSTD(1))
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Tenant, EdgeId, Detector, Minute)
SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
  ],
};

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'otel_traces',
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.otel_traces (
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  TraceId String CODEC(ZSTD(1)),
  SpanId String CODEC(ZSTD(1)),
  ParentSpanId String CODEC(ZSTD(1)),
  TraceState String CODEC(ZSTD(1)),
  SpanName LowCardinality(String) CODEC(ZSTD(1)),
  SpanKind LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  ScopeName String CODEC(ZSTD(1)),
  ScopeVersion String CODEC(ZSTD(1)),
  SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  Duration UInt64 CODEC(T64, ZSTD(1)),
  StatusCode LowCardinality(String) CODEC(ZSTD(1)),
  StatusMessage String CODEC(ZSTD(1)),
  Events Nested (
    Timestamp DateTime64(9),
    Name LowCardinality(String),
    Attributes Map(LowCardinality(String), String)
  ) CODEC(ZSTD(1)),
  Links Nested (
    TraceId String,
    SpanId String,
    TraceState String,
    Attributes Map(LowCardinality(String), String)
  ) CODEC(ZSTD(1)),
  INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
  INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
  INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
      `CREATE TABLE IF NOT EXISTS ${db}.otel_traces_trace_id_ts (
  TraceId String CODEC(ZSTD(1)),
  Start DateTime CODEC(Delta(4), ZSTD(1)),
  End DateTime CODEC(Delta(4), ZSTD(1)),
  INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Start)
ORDER BY (TraceId, Start)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_traces_trace_id_ts_mv
TO ${db}.otel_traces_trace_id_ts
AS SELECT
  TraceId,
  min(Timestamp) AS Start,
  max(Timestamp) AS End
FROM ${db}.otel_traces
WHERE TraceId != ''
GROUP BY TraceId`,
    ],
  },
  {
    version: 2,
    name: 'chainwatch_findings',
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.chainwatch_findings (
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  Rule LowCardinality(String) CODEC(ZSTD(1)),
  Family LowCardinality(String) CODEC(ZSTD(1)),
  Category LowCardinality(String) CODEC(ZSTD(1)),
  Location String CODEC(ZSTD(1)),
  Action LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  Peer LowCardinality(String) CODEC(ZSTD(1)),
  TraceId String CODEC(ZSTD(1)),
  SpanId String CODEC(ZSTD(1)),
  Fingerprint String CODEC(ZSTD(1)),
  INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
  INDEX idx_fingerprint Fingerprint TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Family, Rule, ServiceName, Timestamp)
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
    ],
  },
  {
    // The ClickHouse exporter's current otel_logs: no TimestampTime column, rows ordered by
    // five-minute bucket, then service, then time ("what did service X log in the last N
    // minutes"), which Grafana's OTel log views read unchanged. Dedup window as for spans.
    version: 3,
    name: 'otel_logs',
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.otel_logs (
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  TraceId String CODEC(ZSTD(1)),
  SpanId String CODEC(ZSTD(1)),
  TraceFlags UInt8,
  SeverityText LowCardinality(String) CODEC(ZSTD(1)),
  SeverityNumber UInt8,
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  Body String CODEC(ZSTD(1)),
  ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
  ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
  ScopeName String CODEC(ZSTD(1)),
  ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
  ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  EventName String CODEC(ZSTD(1)),
  INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
  INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
    ],
  },
  {
    version: 4,
    name: 'otel_traces without attribute bloom filters',
    /**
     * The four bloom filters over attribute map keys and values and the token filter over span
     * names cost more than the rest of an insert into the embedded engine: measured on the demo
     * estate's spans, an insert of ~290 rows cost 10 ms of CPU with them and 5 ms without, an
     * insert of 18k rows 22 µs/row with them and 18 µs/row without. They only speed up searches by
     * attribute value, while chainwatch's queries (and Grafana's trace views) go by service, time
     * and trace id — the sort key, `idx_trace_id` and `otel_traces_trace_id_ts` cover those.
     */
    statements: (db) => [
      `ALTER TABLE ${db}.otel_traces
  DROP INDEX IF EXISTS idx_res_attr_key,
  DROP INDEX IF EXISTS idx_res_attr_value,
  DROP INDEX IF EXISTS idx_span_attr_key,
  DROP INDEX IF EXISTS idx_span_attr_value,
  DROP INDEX IF EXISTS idx_lower_span_name`,
    ],
  },
  {
    version: 5,
    name: 'otel_traces attribute maps compressed with ZSTD(6)',
    /**
     * The attribute maps are most of a span at rest, and repetitive (the same keys, the same
     * resource of a service on every span, the same hosts and routes): ZSTD level 6 finds what
     * level 1 misses. Measured on the demo estate (186k spans, after OPTIMIZE FINAL): 62.3 → 51.1
     * bytes per span (ResourceAttributes 4.9 → 0.1, SpanAttributes 18.3 → 12), with insert CPU
     * unchanged within noise (≈ 35k rows per CPU-second either way: the engine's time goes to
     * parsing and writing parts, not to compression). A codec change applies to parts written
     * or merged from now on; nothing is rewritten.
     */
    statements: (db) => [
      `ALTER TABLE ${db}.otel_traces
  MODIFY COLUMN ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(6)),
  MODIFY COLUMN SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(6))`,
    ],
  },
  {
    version: 6,
    name: 'call edges: registry, per-minute statistics, posture findings',
    /**
     * Written by the inventory's edge owner from the partials on the edges topic. Every table is
     * idempotent under replays by its engine, not only by insert tokens, because a partial can
     * reach the topic twice (the first inventory step replayed after a crash):
     * - `chainwatch_edges`: one row per edge after merges; first and last seen, auth schemes and
     *   plaintext are min/max/union, which a duplicate cannot change.
     * - `chainwatch_edge_minutes`: one row per edge, minute and source batch; a duplicate partial
     *   has the same key and is replaced. Read with FINAL (or GROUP BY the key) before summing.
     *   Each row keeps the position of its partial on the edges topic (partition, offset), the
     *   same for every consumer group, so a stateful role can rebuild exactly what it consumed
     *   before a given offset (edge-windows.ts).
     * - `chainwatch_posture_findings`: one finding per edge and kind, ever.
     */
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.chainwatch_edges (
  Tenant LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  PeerKind LowCardinality(String) CODEC(ZSTD(1)),
  Peer String CODEC(ZSTD(1)),
  EdgeId String CODEC(ZSTD(1)),
  FirstSeen SimpleAggregateFunction(min, DateTime64(9)),
  LastSeen SimpleAggregateFunction(max, DateTime64(9)),
  AuthSchemes SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
  Plaintext SimpleAggregateFunction(max, UInt8),
  MaxCredentialLifetimeS SimpleAggregateFunction(max, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (Tenant, ServiceName, PeerKind, Peer, EdgeId)
SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
      `CREATE TABLE IF NOT EXISTS ${db}.chainwatch_edge_minutes (
  Minute DateTime CODEC(Delta(4), ZSTD(1)),
  Tenant LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  PeerKind LowCardinality(String) CODEC(ZSTD(1)),
  Peer LowCardinality(String) CODEC(ZSTD(1)),
  EdgeId String CODEC(ZSTD(1)),
  Source String CODEC(ZSTD(1)),
  EdgesPartition UInt32,
  EdgesOffset UInt64,
  Calls UInt64,
  Errors UInt64,
  Plaintext UInt64,
  Unauthenticated UInt64,
  DurationSumMs Float64,
  DurationMaxMs Float64,
  LatencyBuckets Array(UInt64)
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Tenant, EdgeId, Minute, Source)
SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
      `CREATE TABLE IF NOT EXISTS ${db}.chainwatch_posture_findings (
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  Kind LowCardinality(String) CODEC(ZSTD(1)),
  Severity LowCardinality(String) CODEC(ZSTD(1)),
  Tenant LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  PeerKind LowCardinality(String) CODEC(ZSTD(1)),
  Peer String CODEC(ZSTD(1)),
  EdgeId String CODEC(ZSTD(1)),
  Detail String CODEC(ZSTD(1)),
  TraceId String CODEC(ZSTD(1)),
  SpanId String CODEC(ZSTD(1))
) ENGINE = ReplacingMergeTree
ORDER BY (Tenant, Kind, EdgeId)
SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
    ],
  },
  ALERT_LOG_MIGRATION,
  {
    version: 8,
    name: 'SLO status per call edge',
    /**
     * Written by the sla role for the edges of each batch: per SLI (availability, latency), the
     * objective, the burn rates over the alerting windows at the partition's latest minute, and
     * whether each burn-rate alert tier fires (1 h: critical, 6 h: warning) and since when, which
     * is also the alert state a worker rebuilds after a restart or a rebalance. A replayed batch
     * writes the same key: replaced.
     */
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.chainwatch_slo_status (
  Minute DateTime CODEC(Delta(4), ZSTD(1)),
  Tenant LowCardinality(String) CODEC(ZSTD(1)),
  ServiceName LowCardinality(String) CODEC(ZSTD(1)),
  PeerKind LowCardinality(String) CODEC(ZSTD(1)),
  Peer LowCardinality(String) CODEC(ZSTD(1)),
  EdgeId String CODEC(ZSTD(1)),
  Sli LowCardinality(String) CODEC(ZSTD(1)),
  Objective Float64,
  LatencyMs UInt32,
  Calls1h UInt64,
  Bad1h UInt64,
  Burn5m Float64,
  Burn30m Float64,
  Burn1h Float64,
  Burn6h Float64,
  Firing1h UInt8,
  Since1h DateTime,
  Firing6h UInt8,
  Since6h DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Minute)
ORDER BY (Tenant, EdgeId, Sli, Minute)
SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`,
    ],
  },
  ANOMALY_MIGRATION,
];
