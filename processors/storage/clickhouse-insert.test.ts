/**
 * The insert on the real embedded engine, through both of its paths: chdb's zero-copy rawInsert
 * (what the embedded engine uses) and `client.insert` (what a server gets). Both must store the
 * bytes as sent, deduplicate by token, and classify failures the same way: rows the engine can
 * never parse are permanent; a missing or detached table is retryable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { PermanentError, RetryableError } from '../../pipeline/errors.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { testEngineDir, uniqueName } from '../../test/harness/chainwatch.js';
import { migrate, openClickHouse, type ClickHouse } from './clickhouse.js';
import { insertIdempotent } from './clickhouse-insert.js';
import { SPAN_COLUMNS } from './span-rows.js';
import { transcodeSpanMessages } from './span-transcoder.js';

/** One span's row, as the storage stage's decoder makes it from a bus message. */
function row(traceId: string, name: string): Buffer {
  const request = createTracesData('insert-test', [createSpan({ traceId, spanId: '01'.repeat(8), name, startTimeUnixNano: 1_763_900_000_000_000_000n })]);
  const { body, rows } = transcodeSpanMessages([{ key: null, offset: '0', value: encodeExportTraceServiceRequest(request) }], () => {});
  expect(rows).toBe(1);
  return body;
}

describe('insertIdempotent on the embedded engine', () => {
  let ch: ClickHouse;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    ch = await openClickHouse({ kind: 'embedded', path: testEngineDir(), database: uniqueName('insert'), username: 'default', password: '' });
    await migrate(ch);
  });
  afterAll(async () => {
    await ch?.close();
  });

  const paths: [string, () => ClickHouse][] = [
    ['rawInsert', () => ch],
    ['client.insert', () => ({ ...ch, rawInsert: null })],
  ];

  it('uses rawInsert on the embedded engine', () => {
    expect(ch.rawInsert).toBeTypeOf('function');
  });

  for (const [path, via] of paths) {
    describe(`through ${path}`, () => {
      const insert = (body: Buffer, token: string, table = `${ch.database}.otel_traces`) =>
        insertIdempotent(via(), { table, columns: SPAN_COLUMNS, data: { format: 'TabSeparated', body }, rows: 1, deduplicationToken: token, signal });

      it('stores the bytes as sent, once per deduplication token', async () => {
        const traceId = path === 'rawInsert' ? 'a1'.repeat(16) : 'a2'.repeat(16);
        const name = "中文 😀 tab\there 'quoted' back\\slash";
        const body = row(traceId, name);
        await insert(body, `${path}/0/1-1`);
        await insert(body, `${path}/0/1-1`);
        const rs = await ch.client.query({ query: `SELECT SpanName FROM ${ch.database}.otel_traces WHERE TraceId = {t:String}`, query_params: { t: traceId }, format: 'JSONEachRow' });
        expect(await rs.json()).toEqual([{ SpanName: name }]);
      });

      it('reports rows the engine cannot parse as permanent, with the engine error as cause', async () => {
        const err = await insert(Buffer.from('not a timestamp\tx\n'), `${path}/bad`).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PermanentError);
        expect((err as Error).message).toMatch(/^ClickHouse rejected 1 rows for .*otel_traces: CANNOT_PARSE/);
        expect((err as Error).cause).toMatchObject({ code: expect.stringMatching(/^\d+$/) });
      });

      it('reports a missing table as retryable', async () => {
        const err = await insert(row('b1'.repeat(16), 'op'), `${path}/missing`, `${ch.database}.no_such_table`).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RetryableError);
        expect((err as Error).message).toMatch(/^insert of 1 rows into .*no_such_table failed/);
      });

      it('reports a detached table as retryable', async () => {
        await ch.client.command({ query: `DETACH TABLE ${ch.database}.otel_traces` });
        const err = await insert(row('c1'.repeat(16), 'op'), `${path}/detached`).catch((e: unknown) => e);
        await ch.client.command({ query: `ATTACH TABLE ${ch.database}.otel_traces` });
        expect(err).toBeInstanceOf(RetryableError);
      });
    });
  }
});
