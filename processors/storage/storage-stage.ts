/**
 * The storage stage: writes each batch of spans from the bus into `otel_traces`, one insert per
 * batch.
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
import { Readable } from 'node:stream';
import { PermanentError, RetryableError } from '../../pipeline/errors.js';
import type { Stage, StageContext } from '../../pipeline/stage.js';
import type { TracesData } from '../../schemas/otlp-traces.js';
import type { ClickHouse } from './clickhouse.js';
import { encodeSpanRows, SPAN_COLUMNS } from './span-rows.js';

/**
 * ClickHouse error codes that the same insert will hit again whatever we wait for: the rows
 * cannot be parsed or do not fit the table. 6 CANNOT_PARSE_TEXT, 16 NO_SUCH_COLUMN_IN_TABLE,
 * 25 CANNOT_PARSE_ESCAPE_SEQUENCE, 26 CANNOT_PARSE_QUOTED_STRING,
 * 27 CANNOT_PARSE_INPUT_ASSERTION_FAILED, 38 CANNOT_PARSE_DATE, 41 CANNOT_PARSE_DATETIME,
 * 53 TYPE_MISMATCH, 62 SYNTAX_ERROR, 69 ARGUMENT_OUT_OF_BOUND, 72 CANNOT_PARSE_NUMBER,
 * 117 INCORRECT_DATA, 130 CANNOT_READ_ARRAY_FROM_TEXT, 131 TOO_LARGE_STRING_SIZE,
 * 321 VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE, 563 CANNOT_READ_MAP_FROM_TEXT.
 */
const PERMANENT_CODES = new Set(['6', '16', '25', '26', '27', '38', '41', '53', '62', '69', '72', '117', '130', '131', '321', '563']);

/**
 * The server's error code of a ClickHouse error, or ''. Checked by shape, not `instanceof`: the
 * embedded connection raises the error class of its own copy of @clickhouse/client-common.
 */
function clickHouseErrorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && /^\d+$/.test(code) ? code : '';
}

export interface StorageStageOptions {
  clickhouse: ClickHouse;
  /** Table name inside the database. @default "otel_traces" */
  table?: string;
}

export class StorageStage implements Stage<TracesData[]> {
  readonly name = 'storage';
  readonly #ch: ClickHouse;
  readonly #table: string;
  /** Rows written, for tests and the start-up banner; metrics come with the operations issue. */
  rowsWritten = 0;

  constructor(options: StorageStageOptions) {
    this.#ch = options.clickhouse;
    this.#table = `${options.clickhouse.database}.${options.table ?? 'otel_traces'}`;
  }

  async start(): Promise<void> {
    // Fail fast if the schema is missing: better a clear start-up error than a retry loop.
    const rs = await this.#ch.client.query({ query: `EXISTS TABLE ${this.#table}`, format: 'JSONEachRow' });
    const [row] = await rs.json<{ result: number }>();
    if (!row || Number(row.result) !== 1) throw new Error(`table ${this.#table} does not exist: run "chainwatch migrate" first`);
  }

  async process(input: TracesData[], ctx: StageContext): Promise<void> {
    const { text, rows } = encodeSpanRows(input);
    if (rows === 0) return;
    try {
      await this.#ch.client.insert({
        table: this.#table,
        values: Readable.from([Buffer.from(text, 'utf8')], { objectMode: false }),
        format: 'TabSeparated',
        columns: SPAN_COLUMNS as unknown as [string, ...string[]],
        clickhouse_settings: {
          insert_deduplication_token: ctx.batchId,
          deduplicate_blocks_in_dependent_materialized_views: 1,
        },
        abort_signal: ctx.signal,
      });
    } catch (err) {
      const code = clickHouseErrorCode(err);
      if (PERMANENT_CODES.has(code)) {
        const type = (err as { type?: string }).type ?? `code ${code}`;
        throw new PermanentError(`ClickHouse rejected ${rows} spans for ${this.#table}: ${type}`, { cause: err });
      }
      throw new RetryableError(`insert of ${rows} spans into ${this.#table} failed: ${(err as Error).message.split('\n')[0]}`, 1000, { cause: err });
    }
    this.rowsWritten += rows;
  }

  async shutdown(): Promise<void> {}
}
