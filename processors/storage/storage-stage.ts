/**
 * The storage stage: writes each batch of spans from the bus into `otel_traces`, one insert per
 * batch. Its decoder (transcodeSpanMessages) turns the bus messages straight into the rows, so
 * the stage inserts bytes; decoded requests are accepted too (tools, tests) and encoded with
 * encodeSpanRows, which defines those rows.
 *
 * State: none beyond the ClickHouse connection.
 * Guarantees: `process` resolves only when ClickHouse has written the rows, so the runner commits
 * offsets after the data is durable; every insert carries the batch id as its
 * `insert_deduplication_token` (with `deduplicate_blocks_in_dependent_materialized_views`, so the
 * trace-id lookup table is deduplicated too), so a batch retried or redelivered with the same
 * offsets is stored once. Errors the same insert will always hit (malformed data, schema
 * mismatch) are permanent; everything else — connection loss, a table being detached, too many
 * parts — is retryable.
 */
import { PermanentError } from '../../pipeline/errors.js';
import type { Stage, StageContext } from '../../pipeline/stage.js';
import type { TracesData } from '../../schemas/otlp-traces.js';
import type { ClickHouse } from './clickhouse.js';
import { assertTableExists, insertIdempotent } from './clickhouse-insert.js';
import { encodeSpanRows, SPAN_COLUMNS } from './span-rows.js';
import type { SpanRowBatch } from './span-transcoder.js';

/** A batch of rows from transcodeSpanMessages, or decoded requests. */
export type StorageInput = SpanRowRelease | readonly TracesData[];
type SpanRowRelease = Pick<SpanRowBatch, 'body' | 'rows' | 'release'>;

export interface StorageStageOptions {
  clickhouse: ClickHouse;
  /** Table name inside the database. @default "otel_traces" */
  table?: string;
}

export class StorageStage implements Stage<StorageInput> {
  readonly name = 'storage';
  readonly #ch: ClickHouse;
  readonly #table: string;
  /** Rows written since start (metrics come with the operations issue). */
  rowsWritten = 0;

  constructor(options: StorageStageOptions) {
    this.#ch = options.clickhouse;
    this.#table = `${options.clickhouse.database}.${options.table ?? 'otel_traces'}`;
  }

  async start(): Promise<void> {
    await assertTableExists(this.#ch, this.#table);
  }

  async process(input: StorageInput, ctx: StageContext): Promise<void> {
    const batch = 'body' in input ? input : encodeRequests(input);
    const { body, rows } = batch;
    if (rows === 0) return batch.release();
    try {
      await insertIdempotent(this.#ch, {
        table: this.#table,
        columns: SPAN_COLUMNS,
        data: { format: 'TabSeparated', body },
        rows,
        deduplicationToken: ctx.batchId,
        signal: ctx.signal,
      });
    } catch (err) {
      // A batch dropped for good is not read again. One to be retried is, and an aborted insert
      // may still be reading it: those are left to the garbage collector.
      if (err instanceof PermanentError) batch.release();
      throw err;
    }
    batch.release();
    this.rowsWritten += rows;
  }

  async shutdown(): Promise<void> {}
}

function encodeRequests(requests: readonly TracesData[]): SpanRowRelease {
  const { text, rows } = encodeSpanRows(requests);
  return { body: Buffer.from(text, 'utf8'), rows, release: () => {} };
}
