/**
 * One idempotent insert into ClickHouse, shared by every storage stage: the body is streamed in a
 * text format (a TabSeparated body is sent as the bytes it is: zero-copy on the embedded engine),
 * the batch id is the `insert_deduplication_token` (with dependent materialized views deduplicated
 * too), and a failure is classified once, the same way for both engines: errors the same insert
 * will always hit (the rows cannot be parsed or do not fit the table) are permanent; everything
 * else — connection loss, a detached table, too many parts — is retryable.
 */
import { Readable } from 'node:stream';
import { PermanentError, RetryableError } from '../../pipeline/errors.js';
import type { ClickHouse } from './clickhouse.js';

/**
 * 6 CANNOT_PARSE_TEXT, 16 NO_SUCH_COLUMN_IN_TABLE, 25 CANNOT_PARSE_ESCAPE_SEQUENCE,
 * 26 CANNOT_PARSE_QUOTED_STRING, 27 CANNOT_PARSE_INPUT_ASSERTION_FAILED, 38 CANNOT_PARSE_DATE,
 * 41 CANNOT_PARSE_DATETIME, 53 TYPE_MISMATCH, 62 SYNTAX_ERROR, 69 ARGUMENT_OUT_OF_BOUND,
 * 72 CANNOT_PARSE_NUMBER, 117 INCORRECT_DATA, 130 CANNOT_READ_ARRAY_FROM_TEXT,
 * 131 TOO_LARGE_STRING_SIZE, 321 VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE, 563 CANNOT_READ_MAP_FROM_TEXT.
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

export interface InsertRequest {
  /** `database.table`. */
  table: string;
  columns: readonly string[];
  /** A TabSeparated body (the fast path, for spans), or row objects the client writes as JSONEachRow. */
  data: { format: 'TabSeparated'; body: Buffer } | { format: 'JSONEachRow'; values: readonly object[] };
  rows: number;
  /** Same on every retry of the same batch. */
  deduplicationToken: string;
  signal: AbortSignal;
}

export async function insertIdempotent(ch: ClickHouse, req: InsertRequest): Promise<void> {
  const settings = {
    insert_deduplication_token: req.deduplicationToken,
    deduplicate_blocks_in_dependent_materialized_views: 1 as const,
    // On a cluster the insert goes through a Distributed table: written to the shards before it
    // is acknowledged (not queued on this node), so "stored" means stored.
    ...(ch.cluster ? { distributed_foreground_insert: 1 as const } : {}),
  };
  const { data } = req;
  const started = performance.now();
  const observe = (ok: boolean): void => ch.onInsert?.(req.table, req.rows, (performance.now() - started) / 1000, ok);
  try {
    if (data.format === 'TabSeparated' && ch.rawInsert) {
      await ch.rawInsert({ table: req.table, values: data.body, format: data.format, columns: req.columns, settings, signal: req.signal });
    } else {
      await ch.client.insert({
        table: req.table,
        values: data.format === 'TabSeparated' ? Readable.from([data.body], { objectMode: false }) : (data.values as object[]),
        format: data.format,
        columns: req.columns as [string, ...string[]],
        clickhouse_settings: settings,
        abort_signal: req.signal,
      });
    }
    observe(true);
  } catch (err) {
    observe(false);
    const code = clickHouseErrorCode(err);
    if (PERMANENT_CODES.has(code)) {
      const type = (err as { type?: string }).type ?? `code ${code}`;
      throw new PermanentError(`ClickHouse rejected ${req.rows} rows for ${req.table}: ${type}`, { cause: err });
    }
    throw new RetryableError(`insert of ${req.rows} rows into ${req.table} failed: ${(err as Error).message.split('\n')[0]}`, 1000, { cause: err });
  }
}

/**
 * A stage's rows for one table of chainwatch's database, written once per batch: JSONEachRow,
 * deduplicated by the batch id and the table (so one batch may write several tables). No rows, no
 * insert.
 */
export async function insertBatchRows(ch: ClickHouse, table: string, columns: readonly string[], rows: readonly object[], ctx: { batchId: string; signal: AbortSignal }): Promise<void> {
  if (rows.length === 0) return;
  await insertIdempotent(ch, {
    table: `${ch.database}.${table}`,
    columns,
    data: { format: 'JSONEachRow', values: rows },
    rows: rows.length,
    deduplicationToken: `${ctx.batchId}/${table}`,
    signal: ctx.signal,
  });
}

/** The rows of a query with parameters (`{name:Type}`), as objects; abandoned when `signal` aborts. */
export async function queryRows<T>(ch: ClickHouse, query: string, params: Record<string, unknown>, signal: AbortSignal): Promise<T[]> {
  const rs = await ch.client.query({ query, query_params: params, format: 'JSONEachRow', abort_signal: signal });
  return rs.json<T>();
}

/** Fails fast at start-up when a table is missing: a clear error beats a retry loop. */
export async function assertTableExists(ch: ClickHouse, table: string): Promise<void> {
  const rs = await ch.client.query({ query: `EXISTS TABLE ${table}`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ result: number }>();
  if (!row || Number(row.result) !== 1) throw new Error(`table ${table} does not exist: run "chainwatch migrate" first`);
}
