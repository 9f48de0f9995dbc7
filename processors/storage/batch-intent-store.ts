/**
 * Batch intents (pipeline/batch-intents.ts) kept in ClickHouse, next to the rows they protect:
 * `chainwatch_batch_intents`, one row per record, the newest per consumer group and partition
 * found by Version (a ReplacingMergeTree keeps only that one after merges).
 */
import type { BatchIntent, BatchIntentStore } from '../../pipeline/batch-intents.js';
import { RetryableError } from '../../pipeline/errors.js';
import type { ClickHouse } from './clickhouse.js';

export class ClickHouseBatchIntentStore implements BatchIntentStore {
  readonly #ch: ClickHouse;
  readonly #table: string;
  #lastVersion = 0n;

  constructor(ch: ClickHouse) {
    this.#ch = ch;
    this.#table = `${ch.database}.chainwatch_batch_intents`;
  }

  async read(group: string, topic: string, partition: number): Promise<BatchIntent | null> {
    try {
      const rs = await this.#ch.client.query({
        query: `SELECT FirstOffset AS first, LastOffset AS last FROM ${this.#table}
          WHERE ConsumerGroup = {group:String} AND Topic = {topic:String} AND Partition = {partition:UInt32}
          ORDER BY Version DESC LIMIT 1`,
        query_params: { group, topic, partition },
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<BatchIntent>();
      return row ?? null;
    } catch (err) {
      throw new RetryableError(`cannot read the batch intent of ${topic}/${partition}: ${(err as Error).message.split('\n')[0]}`, 1000, { cause: err });
    }
  }

  async record(group: string, topic: string, partition: number, intent: BatchIntent): Promise<void> {
    // Versions grow within a process, and across processes with the clock (in microseconds).
    const now = BigInt(Date.now()) * 1000n;
    this.#lastVersion = now > this.#lastVersion ? now : this.#lastVersion + 1n;
    try {
      await this.#ch.client.insert({
        table: this.#table,
        values: [{ ConsumerGroup: group, Topic: topic, Partition: partition, FirstOffset: intent.first, LastOffset: intent.last, Version: this.#lastVersion.toString() }],
        format: 'JSONEachRow',
        // On a cluster: on the shards before the batch is written, like the batch itself.
        ...(this.#ch.cluster ? { clickhouse_settings: { distributed_foreground_insert: 1 } } : {}),
      });
    } catch (err) {
      throw new RetryableError(`cannot record the batch intent of ${topic}/${partition}: ${(err as Error).message.split('\n')[0]}`, 1000, { cause: err });
    }
  }
}
