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
import type { Migration } from './migrations.js';

/** How many recent insert tokens the table remembers, as for every other chainwatch table. */
const DEDUP_WINDOW = 10_000;

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
