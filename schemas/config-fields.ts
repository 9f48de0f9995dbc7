/**
 * Pieces every config section uses: how a bad value is described in an error message, positive
 * integers, and the batching and retry fields of a consuming stage. One place, so every section
 * words its errors the same way.
 */
import { z } from 'zod';
import type { RefinementCtx } from 'zod';

/** A value as it should appear in an error message: short, typed, never the whole input. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value === 'object' ? 'map' : typeof value}`;
}

export const positiveInt = (what = 'a positive integer') =>
  z.int({ error: (iss) => `expected ${what}, got ${describe(iss.input)}` }).positive({
    error: (iss) => `expected ${what}, got ${describe(iss.input)}`,
  });

/** How a consuming stage batches and retries (storage, inventory, sla, anomaly, alerting). */
export function consumerStageFields(batchSize = 1000) {
  return {
    /**
     * Bus messages per batch at most (for storage, one ClickHouse insert; a span message holds one
     * request's spans of one trace bucket, so an insert carries several times this many spans).
     */
    batch_size: positiveInt().default(batchSize),
    /**
     * Kafka: how long a fetch waits on the broker when no message is available. Available
     * messages are never held back to fill a batch: batches grow while a batch is handled. @default 100
     */
    max_wait_ms: positiveInt().default(100),
    /** Retry backoff for failed batches (a refused insert, a rebuild waiting): first delay and cap (full jitter). */
    retry_initial_ms: positiveInt().default(100),
    retry_max_ms: positiveInt().default(10_000),
  };
}

/** The backoff cap of a consuming stage may not be below its first delay (the issue names the key). */
export function checkRetryRange(cfg: { retry_initial_ms: number; retry_max_ms: number }, ctx: RefinementCtx): void {
  if (cfg.retry_max_ms < cfg.retry_initial_ms) ctx.addIssue({ code: 'custom', path: ['retry_max_ms'], message: `must be at least retry_initial_ms (${cfg.retry_initial_ms})` });
}
