/**
 * The storage stages for OTLP data: each batch from the bus becomes one insert of TabSeparated
 * rows — spans into `otel_traces` ({@link StorageStage}), log records into `otel_logs`
 * ({@link LogStorageStage}). One implementation, {@link RowStorageStage}, given each signal's row
 * encoder. The span stage's decoder (transcodeSpanMessages) turns bus messages straight into rows,
 * so it inserts bytes; decoded requests are accepted too (tools, tests) and encoded with
 * encodeSpanRows, which defines those rows.
 *
 * State: none beyond the ClickHouse connection.
 * Guarantees: `process` resolves only when ClickHouse has written the rows, so the runner commits
 * offsets after the data is durable; every insert carries the batch id as its
 * `insert_deduplication_token` (with `deduplicate_blocks_in_dependent_materialized_views`, so the
 * trace-id lookup table is deduplicated too), so a batch retried or redelivered with the same
 * offsets is stored once. Errors the same insert will always hit (malformed data, schema
 * mismatch) are permanent; everything else — connection loss, a table being detached, too many
 * parts — is retryable. A bus message that is not a valid OTLP protobuf request is dropped with a
 * reason by the decoder, never retried.
 */
import { decodeExportLogsServiceRequest } from '../../collector/otlp-protobuf-logs.js';
import { decodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { OtlpDecodeError } from '../../collector/otlp-decode-error.js';
import { PermanentError } from '../../pipeline/errors.js';
import type { BatchDecoder } from '../../pipeline/stage-runner.js';
import type { Stage, StageContext } from '../../pipeline/stage.js';
import type { LogsData } from '../../schemas/otlp-logs.js';
import type { TracesData } from '../../schemas/otlp-traces.js';
import type { ClickHouse } from './clickhouse.js';
import { assertTableExists, insertIdempotent } from './clickhouse-insert.js';
import { encodeLogRows, LOG_COLUMNS } from './log-rows.js';
import { encodeSpanRows, SPAN_COLUMNS, type EncodedRows } from './span-rows.js';
import type { SpanRowBatch } from './span-transcoder.js';

/** A decoder for a topic whose messages are each one OTLP protobuf request. */
function protobufRequestDecoder<D>(decode: (bytes: Uint8Array) => D): BatchDecoder<D[]> {
  return (messages, reject) => {
    const out: D[] = [];
    for (const m of messages) {
      try {
        out.push(decode(m.value));
      } catch (err) {
        if (!(err instanceof OtlpDecodeError)) throw err;
        reject(m, 'undecodable protobuf');
      }
    }
    return out;
  };
}

/** Span messages decoded into requests (the reference path; the stage itself reads transcodeSpanMessages). */
export const decodeSpanMessages: BatchDecoder<TracesData[]> = protobufRequestDecoder(decodeExportTraceServiceRequest);

/** The log storage stage's decoder. */
export const decodeLogMessages: BatchDecoder<LogsData[]> = protobufRequestDecoder(decodeExportLogsServiceRequest);

/** One batch's rows, ready to insert; release() hands its memory back once no insert can read it again. */
export type RowBatch = Pick<SpanRowBatch, 'body' | 'rows' | 'release'>;

/** What the span storage stage takes: rows from transcodeSpanMessages, or decoded requests. */
export type StorageInput = RowBatch | readonly TracesData[];

export interface StorageStageOptions {
  clickhouse: ClickHouse;
  /** Table name inside the database. @default "otel_traces" for spans, "otel_logs" for logs */
  table?: string;
}

/** What a row storage stage writes: its table, columns and the encoder of a batch. */
interface RowFormat<In> {
  readonly stage: string;
  readonly table: string;
  readonly columns: readonly string[];
  encode(input: In): RowBatch;
}

export class RowStorageStage<In> implements Stage<In> {
  readonly name: string;
  readonly #ch: ClickHouse;
  readonly #table: string;
  readonly #format: RowFormat<In>;
  /** Rows written since start (metrics come with the operations issue). */
  rowsWritten = 0;

  constructor(format: RowFormat<In>, options: StorageStageOptions) {
    this.name = format.stage;
    this.#format = format;
    this.#ch = options.clickhouse;
    this.#table = `${options.clickhouse.database}.${options.table ?? format.table}`;
  }

  async start(): Promise<void> {
    await assertTableExists(this.#ch, this.#table);
  }

  async process(input: In, ctx: StageContext): Promise<void> {
    const batch = this.#format.encode(input);
    const { body, rows } = batch;
    if (rows === 0) return batch.release();
    try {
      await insertIdempotent(this.#ch, {
        table: this.#table,
        columns: this.#format.columns,
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

/** Rows encoded from decoded requests: a body of its own, nothing to hand back. */
function ownedRows({ text, rows }: EncodedRows): RowBatch {
  return { body: Buffer.from(text, 'utf8'), rows, release: () => {} };
}

/** Spans into `otel_traces`. */
export class StorageStage extends RowStorageStage<StorageInput> {
  constructor(options: StorageStageOptions) {
    super({ stage: 'storage', table: 'otel_traces', columns: SPAN_COLUMNS, encode: (input) => ('body' in input ? input : ownedRows(encodeSpanRows(input))) }, options);
  }
}

/** Log records into `otel_logs`. */
export class LogStorageStage extends RowStorageStage<LogsData[]> {
  constructor(options: StorageStageOptions) {
    super({ stage: 'logs-storage', table: 'otel_logs', columns: LOG_COLUMNS, encode: (input) => ownedRows(encodeLogRows(input)) }, options);
  }
}
