/**
 * The storage stages on the real embedded ClickHouse engine: rows land in otel_traces and
 * otel_logs, a batch retried with the same batch id is stored once (the MV's lookup table too), a
 * refused insert is retryable, and malformed input the engine would reject every time is permanent.
 * A batch from the span decoder is released for reuse only when no insert can read it again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { PermanentError, RetryableError } from '../../pipeline/errors.js';
import { encodeExportLogsServiceRequest } from '../../collector/otlp-protobuf-logs.js';
import { createLogRecord, createLogsData } from '../../schemas/otlp-logs.js';
import { createSpan, createTracesData, type TracesData } from '../../schemas/otlp-traces.js';
import { testEngineDir, uniqueName } from '../../test/harness/chainwatch.js';
import { migrate, openClickHouse, type ClickHouse } from './clickhouse.js';
import { transcodeSpanMessages, type SpanRowBatch } from './span-transcoder.js';
import { decodeLogMessages, LogStorageStage, StorageStage } from './storage-stage.js';

function request(traceId: string, spans: number): TracesData {
  return createTracesData(
    'storage-test',
    Array.from({ length: spans }, (_, i) =>
      createSpan({
        traceId,
        spanId: (i + 1).toString(16).padStart(16, '0'),
        name: 'op',
        kind: 2,
        startTimeUnixNano: 1_763_900_000_000_000_000n + BigInt(i),
        endTimeUnixNano: 1_763_900_000_001_000_000n + BigInt(i),
      }),
    ),
    { name: 's', version: '1' },
  );
}

async function count(ch: ClickHouse, table: string, traceId: string): Promise<number> {
  const rs = await ch.client.query({ query: `SELECT count() AS n FROM ${ch.database}.${table} WHERE TraceId = {t:String}`, query_params: { t: traceId }, format: 'JSONEachRow' });
  return Number((await rs.json<{ n: string }>())[0]!.n);
}

describe('storage stage', () => {
  let ch: ClickHouse;
  let stage: StorageStage;
  let logStage: LogStorageStage;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    ch = await openClickHouse({ kind: 'embedded', path: testEngineDir(), database: uniqueName('storage'), username: 'default', password: '' });
    await migrate(ch);
    stage = new StorageStage({ clickhouse: ch });
    await stage.start();
    logStage = new LogStorageStage({ clickhouse: ch });
    await logStage.start();
  });
  afterAll(async () => {
    await logStage?.shutdown();
    await stage?.shutdown();
    await ch?.close();
  });

  it('keeps only the trace-id and duration skip indexes on otel_traces (migration 4), and migrating again changes nothing', async () => {
    const indexes = async (): Promise<string[]> => {
      const rs = await ch.client.query({
        query: `SELECT name FROM system.data_skipping_indices WHERE database = {db:String} AND table = 'otel_traces' ORDER BY name`,
        query_params: { db: ch.database },
        format: 'JSONEachRow',
      });
      return (await rs.json<{ name: string }>()).map((r) => r.name);
    };
    expect(await indexes()).toEqual(['idx_duration', 'idx_trace_id']);
    const again = await migrate(ch);
    expect(again.applied).toEqual([]);
    expect(await indexes()).toEqual(['idx_duration', 'idx_trace_id']);
  });

  it('compresses the attribute maps of otel_traces with ZSTD(6) (migration 5), the other columns as the exporter does', async () => {
    const rs = await ch.client.query({
      query: `SELECT name, compression_codec FROM system.columns WHERE database = {db:String} AND table = 'otel_traces' AND name IN ('ResourceAttributes', 'SpanAttributes', 'TraceId', 'Timestamp') ORDER BY name`,
      query_params: { db: ch.database },
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([
      { name: 'ResourceAttributes', compression_codec: 'CODEC(ZSTD(6))' },
      { name: 'SpanAttributes', compression_codec: 'CODEC(ZSTD(6))' },
      { name: 'Timestamp', compression_codec: 'CODEC(Delta(8), ZSTD(1))' },
      { name: 'TraceId', compression_codec: 'CODEC(ZSTD(1))' },
    ]);
  });

  it('refuses to start when the schema is missing', async () => {
    const other = new StorageStage({ clickhouse: ch, table: 'no_such_table' });
    await expect(other.start()).rejects.toThrow(/no_such_table does not exist: run "chainwatch migrate" first/);
  });

  it('stores a batch retried with the same batch id once, in the table and its lookup view', async () => {
    const t = 'aa'.repeat(16);
    const batch = [request(t, 30)];
    await stage.process(batch, { batchId: 'spans/0/100-107', partition: 0, signal });
    await stage.process(batch, { batchId: 'spans/0/100-107', partition: 0, signal });
    expect(await count(ch, 'otel_traces', t)).toBe(30);
    expect(await count(ch, 'otel_traces_trace_id_ts', t)).toBe(1);
    // The same rows under another batch id are another batch: stored again.
    await stage.process(batch, { batchId: 'spans/0/108-115', partition: 0, signal });
    expect(await count(ch, 'otel_traces', t)).toBe(60);
  });

  it('reports a refused insert as retryable and succeeds once the table is back', async () => {
    const t = 'bb'.repeat(16);
    await ch.client.command({ query: `DETACH TABLE ${ch.database}.otel_traces` });
    const err = await stage.process([request(t, 5)], { batchId: 'detached/0/1-1', partition: 0, signal }).catch((e: unknown) => e);
    await ch.client.command({ query: `ATTACH TABLE ${ch.database}.otel_traces` });
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as Error).message).toMatch(/^insert of 5 rows into .*otel_traces failed/);
    await stage.process([request(t, 5)], { batchId: 'detached/0/1-1', partition: 0, signal });
    expect(await count(ch, 'otel_traces', t)).toBe(5);
  });

  it('reports data the engine can never accept as permanent', async () => {
    // A span id with a quote cannot come from the decoders (ids are hex); it breaks the row format.
    const bad = request('cc'.repeat(16), 1);
    bad.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.links.push({ traceId: "x'y", spanId: '', traceState: '', attributes: [], droppedAttributesCount: 0, flags: 0 });
    const err = await stage.process([bad], { batchId: 'bad/0/1-1', partition: 0, signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
  });

  it('stores nanosecond timestamps exactly, from the epoch to the end of DateTime64(9)', async () => {
    const t = 'dd'.repeat(16);
    const times = [0n, 5n, 999_999_999n, 1_000_000_000n, 1_763_900_000_123_456_789n, 9_223_372_036_854_775_807n];
    const spans = times.map((ns, i) => createSpan({ traceId: t, spanId: `${i + 1}`.padStart(16, '0'), startTimeUnixNano: ns, endTimeUnixNano: ns }));
    await stage.process([createTracesData('edges', spans)], { batchId: 'edges/0/1-1', partition: 0, signal });
    const rs = await ch.client.query({
      query: `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ns FROM ${ch.database}.otel_traces WHERE TraceId = {t:String} ORDER BY SpanId`,
      query_params: { t },
      format: 'JSONEachRow',
    });
    expect((await rs.json<{ ns: string }>()).map((r) => r.ns)).toEqual(times.map(String));
  });

  it('stores log records in otel_logs column by column, once per batch id', async () => {
    const traceId = 'ee'.repeat(16);
    const records = [
      createLogRecord({
        timeUnixNano: 1_763_900_000_123_456_789n,
        observedTimeUnixNano: 1_763_900_001_000_000_000n,
        severityNumber: 13,
        severityText: 'WARN',
        body: { kvlist: [{ key: 'msg', value: "quote ' tab \t" }, { key: 'n', value: 2n }] },
        attributes: [{ key: 'k', value: ['a', 1n] }],
        flags: 1,
        traceId,
        spanId: 'ff'.repeat(8),
        eventName: 'retry',
      }),
      createLogRecord({ observedTimeUnixNano: 1_763_900_002_000_000_005n, body: 'no time, no trace', traceId, severityNumber: 999 }),
    ];
    const batch = [createLogsData('log-storage-test', records, { name: 'logger', version: '1.2', attributes: [{ key: 'scope.k', value: 1.5 }] })];
    await logStage.process(batch, { batchId: 'logs/0/1-2', partition: 0, signal });
    await logStage.process(batch, { batchId: 'logs/0/1-2', partition: 0, signal });
    const rs = await ch.client.query({
      query: `SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ns, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body,
          ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes, EventName
        FROM ${ch.database}.otel_logs WHERE TraceId = {t:String} ORDER BY Timestamp`,
      query_params: { t: traceId },
      format: 'JSONEachRow',
    });
    expect(await rs.json()).toEqual([
      {
        ns: '1763900000123456789',
        TraceId: traceId,
        SpanId: 'ff'.repeat(8),
        TraceFlags: 1,
        SeverityText: 'WARN',
        SeverityNumber: 13,
        ServiceName: 'log-storage-test',
        Body: '{"msg":"quote \' tab \\t","n":2}',
        ResourceSchemaUrl: '',
        ResourceAttributes: { 'service.name': 'log-storage-test' },
        ScopeSchemaUrl: '',
        ScopeName: 'logger',
        ScopeVersion: '1.2',
        ScopeAttributes: { 'scope.k': '1.5' },
        LogAttributes: { k: '["a",1]' },
        EventName: 'retry',
      },
      expect.objectContaining({ ns: '1763900002000000005', Body: 'no time, no trace', SpanId: '', SeverityNumber: 0, EventName: '' }),
    ]);
    expect(logStage.rowsWritten).toBe(4);
  });

  it('refuses to start the log stage without otel_logs, and drops a log message that is not OTLP protobuf', async () => {
    await expect(new LogStorageStage({ clickhouse: ch, table: 'no_logs_here' }).start()).rejects.toThrow(/no_logs_here does not exist: run "chainwatch migrate" first/);
    const rejected: string[] = [];
    const valid = encodeExportLogsServiceRequest(createLogsData('s', [createLogRecord({ body: 'ok' })]));
    const decoded = decodeLogMessages(
      [
        { key: '0', value: valid, offset: '1' },
        { key: '0', value: new Uint8Array([0x0a, 0x7f]), offset: '2' },
      ],
      (message, reason) => rejected.push(`${message.offset}: ${reason}`),
    );
    expect(decoded).toHaveLength(1);
    expect(rejected).toEqual(['2: undecodable protobuf']);
  });

  it('writes nothing for a batch without spans', async () => {
    const before = stage.rowsWritten;
    await stage.process([{ resourceSpans: [] }], { batchId: 'empty/0/1-1', partition: 0, signal });
    expect(stage.rowsWritten).toBe(before);
  });

  describe("with its decoder's batches", () => {
    it('stores the rows and releases the body once they are written', async () => {
      const rows = transcoded('e1'.repeat(16), 12);
      await stage.process(rows, { batchId: 'release/0/1-1', partition: 0, signal });
      expect(rows.releases).toBe(1);
      expect(await count(ch, 'otel_traces', 'e1'.repeat(16))).toBe(12);
    });

    it('keeps the body of a batch that will be retried, and releases it once the retry succeeds', async () => {
      const rows = transcoded('e2'.repeat(16), 3);
      await ch.client.command({ query: `DETACH TABLE ${ch.database}.otel_traces` });
      const err = await stage.process(rows, { batchId: 'release/0/2-2', partition: 0, signal }).catch((e: unknown) => e);
      await ch.client.command({ query: `ATTACH TABLE ${ch.database}.otel_traces` });
      expect(err).toBeInstanceOf(RetryableError);
      expect(rows.releases).toBe(0);
      await stage.process(rows, { batchId: 'release/0/2-2', partition: 0, signal });
      expect(rows.releases).toBe(1);
      expect(await count(ch, 'otel_traces', 'e2'.repeat(16))).toBe(3);
    });

    it('releases the body of a batch dropped for good', async () => {
      const rows = { body: Buffer.from('not a row\n'), rows: 1, slowPathMessages: 0, releases: 0, release: () => void rows.releases++ };
      const err = await stage.process(rows, { batchId: 'release/0/3-3', partition: 0, signal }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect(rows.releases).toBe(1);
    });

    it('releases an empty batch without inserting', async () => {
      const rows = transcoded('e3'.repeat(16), 0);
      const before = stage.rowsWritten;
      await stage.process(rows, { batchId: 'release/0/4-4', partition: 0, signal });
      expect(rows.releases).toBe(1);
      expect(stage.rowsWritten).toBe(before);
    });
  });
});

/** The decoder's batch of one request (`request` above), whose release() is counted. */
function transcoded(traceId: string, spans: number): SpanRowBatch & { releases: number } {
  const rows = transcodeSpanMessages([{ key: null, offset: '0', value: encodeExportTraceServiceRequest(request(traceId, spans)) }], () => {});
  const counted = { ...rows, releases: 0 };
  counted.release = () => {
    counted.releases++;
    rows.release();
  };
  return counted;
}
