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
import type { Migration } from './migrations.js';

/** How many recent insert tokens the table remembers, as for every other chainwatch table. */
const DEDUP_WINDOW = 10_000;

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
