/**
 * Exactly-once writes across crashes, for consumers whose sink deduplicates by batch id.
 *
 * A sink such as ClickHouse stores a batch once per deduplication token, and the token is the
 * batch id (`topic/partition/first-last`). That holds for retries within a process, but a worker
 * that crashes after its insert and before its commit leaves the batch to be consumed again,
 * possibly cut differently (more messages have arrived since), so the token would differ and the
 * rows would be stored twice. To prevent that, the runner records an intent — the offsets a batch
 * spans, per consumer group and partition — before the stage writes it. When a batch begins where
 * the last recorded intent of its partition begins, it is a redelivery of that batch: it is cut
 * at the intent's end, so its first part gets the recorded token and is deduplicated by the sink,
 * and the rest is a new batch. A redelivery shorter than the intent is not written yet: the runner
 * retries until the broker has delivered up to the intent's end. On Kafka the intent travels with
 * the offsets, as the metadata of a commit (kafka-bus.ts), so it costs one offset commit per batch
 * and is cleared by the batch's own commit.
 */
import type { ConsumedBatch } from './bus.js';
import { RetryableError } from './errors.js';

export interface BatchIntent {
  first: string;
  last: string;
}

/** Where intents are kept: durable, readable by every worker of the group. */
export interface BatchIntentStore {
  /** The newest intent of the group on a partition, or null. */
  read(group: string, topic: string, partition: number): Promise<BatchIntent | null>;
  /** Records an intent; durable when it resolves. */
  record(group: string, topic: string, partition: number, intent: BatchIntent): Promise<void>;
}

/** The offsets a batch spans. */
export function spanOf(batch: ConsumedBatch): BatchIntent {
  return { first: batch.messages[0]!.offset, last: batch.messages[batch.messages.length - 1]!.offset };
}

/**
 * How to write `batch` given the newest recorded intent of its partition: as it is, or, when it
 * redelivers the intent's batch with more after it, as that batch and then the rest.
 */
export function cutAtIntent(batch: ConsumedBatch, intent: BatchIntent | null): ConsumedBatch[] {
  if (!intent || batch.messages.length === 0 || batch.messages[0]!.offset !== intent.first) return [batch];
  const end = BigInt(intent.last);
  const last = BigInt(batch.messages[batch.messages.length - 1]!.offset);
  if (last < end) {
    throw new RetryableError(`partition ${batch.topic}/${batch.partition} redelivered offsets ${intent.first}-${last} of a batch recorded up to ${intent.last}: waiting for the rest`, 200);
  }
  if (last === end) return [batch];
  const cut = batch.messages.findIndex((m) => BigInt(m.offset) > end);
  return [
    { ...batch, messages: batch.messages.slice(0, cut) },
    { ...batch, messages: batch.messages.slice(cut) },
  ];
}
