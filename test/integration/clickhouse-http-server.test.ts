/**
 * Integration: test/harness/clickhouse-http-server.ts (the embedded engine behind ClickHouse's HTTP
 * interface) against @clickhouse/client and chainwatch's own server path (openClickHouse with
 * `kind: server`, migrate, insertIdempotent), from this process and from others at once.
 *
 * This process never loads the engine (chdb binds one data directory per process): everything goes
 * over HTTP to the one server the file starts, and each test works in a database of its own,
 * dropped at the end.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../pipeline/config-loader.js';
import { RetryableError } from '../../pipeline/errors.js';
import { migrate, openClickHouse, type ClickHouse } from '../../processors/storage/clickhouse.js';
import { insertIdempotent } from '../../processors/storage/clickhouse-insert.js';
import { MIGRATIONS } from '../../schemas/clickhouse/migrations.js';
import { runToExit } from '../harness/child-processes.js';
import { startClickHouseServer, type ClickHouseServer } from '../harness/clickhouse-server.js';
import { uniqueName } from '../harness/unique-name.js';

/** The client logs every failed request; the failures these tests provoke are asserted instead. */
const QUIET = { log: { level: ClickHouseLogLevel.OFF } };
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
/** The span columns the storage tests write: enough for otel_traces and its trace-id view. */
const SPAN_COLUMNS = ['Timestamp', 'TraceId', 'SpanId', 'ServiceName', 'SpanName'];

/**
 * A storage worker in a process of its own: opens ClickHouse as chainwatch does for a server and
 * runs insertIdempotent for each `token=base64(TabSeparated body)` argument, in order.
 */
const WORKER = `
const [url, database, ...batches] = process.argv.slice(1);
const load = (file) => import(${JSON.stringify(pathToFileURL(DIST).href)} + file);
const { parseConfig } = await load('/pipeline/config-loader.js');
const { openClickHouse } = await load('/processors/storage/clickhouse.js');
const { insertIdempotent } = await load('/processors/storage/clickhouse-insert.js');
const ch = await openClickHouse(parseConfig({ clickhouse: { kind: 'server', url, database } }, 'worker').clickhouse);
for (const batch of batches) {
  const [token, body] = batch.split('=');
  await insertIdempotent(ch, {
    table: database + '.otel_traces',
    columns: ${JSON.stringify(SPAN_COLUMNS)},
    data: { format: 'TabSeparated', body: Buffer.from(body, 'base64') },
    rows: 1,
    deduplicationToken: token,
    signal: new AbortController().signal,
  });
}
await ch.close();
`;

async function runWorker(url: string, database: string, batches: Array<[token: string, body: Buffer]>): Promise<void> {
  const args = batches.map(([token, body]) => `${token}=${body.toString('base64')}`);
  const { code, stderr } = await runToExit(process.execPath, ['--input-type=module', '-e', WORKER, url, database, ...args], { timeoutMs: 60_000 });
  if (code !== 0) throw new Error(`worker exited with ${code}: ${stderr}`);
}

/** insertIdempotent of one span row (spanRow) into `ch`'s otel_traces, as the storage stage does. */
function insertSpan(ch: ClickHouse, body: Buffer, deduplicationToken: string): Promise<void> {
  return insertIdempotent(ch, {
    table: `${ch.database}.otel_traces`,
    columns: SPAN_COLUMNS,
    data: { format: 'TabSeparated', body },
    rows: 1,
    deduplicationToken,
    signal: new AbortController().signal,
  });
}

/** One span row in SPAN_COLUMNS order, TabSeparated-escaped. */
function spanRow(traceId: string, spanName: string): Buffer {
  const escaped = spanName.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
  return Buffer.from(`2025-11-23 12:00:00.123456789\t${traceId}\t${'01'.repeat(8)}\tcheckout\t${escaped}\n`);
}

async function rows<T>(client: ClickHouseClient, query: string, query_params?: Record<string, unknown>): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow', ...(query_params === undefined ? {} : { query_params }) });
  return rs.json<T>();
}

describe('ClickHouse HTTP server over the embedded engine', () => {
  let server: ClickHouseServer;
  let admin: ClickHouseClient;

  beforeAll(async () => {
    server = await startClickHouseServer();
    admin = createClient({ url: server.url, ...QUIET });
  });
  afterAll(async () => {
    await admin?.close();
    await server?.stop();
  });

  /** Runs fn with a fresh database, dropped afterwards. */
  async function withDatabase(prefix: string, fn: (db: string) => Promise<void>): Promise<void> {
    const db = uniqueName(prefix);
    await admin.command({ query: `CREATE DATABASE ${db}` });
    try {
      await fn(db);
    } finally {
      await admin.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    }
  }

  /** Runs fn with chainwatch's own client of a server (openClickHouse, `kind: server`) on a fresh database, dropped afterwards. */
  async function withChainwatchDatabase(prefix: string, fn: (ch: ClickHouse, db: string) => Promise<void>): Promise<void> {
    const db = uniqueName(prefix);
    const ch = await openClickHouse(parseConfig({ clickhouse: { kind: 'server', url: server.url, database: db } }, 'test').clickhouse);
    try {
      await fn(ch, db);
    } finally {
      await ch.client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await ch.close();
    }
  }

  it('serves @clickhouse/client: ping, commands, inserts, queries with parameters, errors as ClickHouseError', async () => {
    await withDatabase('client', async (db) => {
      const client = createClient({ url: server.url, username: 'default', password: '', ...QUIET });
      try {
        expect(await client.ping()).toEqual({ success: true });
        expect(await client.ping({ select: true })).toEqual({ success: true });
        await client.command({ query: `CREATE TABLE ${db}.items (id UInt32, name String) ENGINE = MergeTree ORDER BY id` });
        const items = [
          { id: 1, name: "it's" },
          { id: 2, name: 'tab\there back\\slash' },
          { id: 3, name: '中文 😀' },
        ];
        await client.insert({ table: `${db}.items`, values: items, format: 'JSONEachRow' });
        expect(await rows(client, `SELECT id, name FROM ${db}.items ORDER BY id`)).toEqual(items);
        const query = `SELECT id FROM ${db}.items WHERE id >= {min:UInt32} AND name IN {names:Array(String)} ORDER BY id`;
        expect(await rows(client, query, { min: 2, names: items.map((item) => item.name) })).toEqual([{ id: 2 }, { id: 3 }]);

        const err = await client.query({ query: 'SELECT * FROM no_such_table' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ClickHouseError);
        expect(err).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
      } finally {
        await client.close();
      }
    });
  });

  it('takes compressed requests, compresses responses and reads query parameters sent as multipart', async () => {
    await withDatabase('compressed', async (db) => {
      const client = createClient({ url: server.url, compression: { request: true, response: true }, use_multipart_params: true });
      try {
        await client.command({ query: `CREATE TABLE ${db}.words (word String) ENGINE = MergeTree ORDER BY word` });
        const words = Array.from({ length: 1000 }, (_, i) => ({ word: `word-${i}` }));
        await client.insert({ table: `${db}.words`, values: words, format: 'JSONEachRow' });
        const some = ['word-1', 'word-999', 'not-there'];
        expect(await rows(client, `SELECT word FROM ${db}.words WHERE word IN {some:Array(String)} ORDER BY word`, { some })).toEqual([
          { word: 'word-1' },
          { word: 'word-999' },
        ]);
      } finally {
        await client.close();
      }
    });
  });

  it('gives each query only its own settings, database and parameters; a session keeps its state', async () => {
    await withDatabase('context', async (db) => {
      const token = "SELECT getSetting('insert_deduplication_token') AS token";
      const withToken = await admin.query({ query: token, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: 'once' } });
      expect(await withToken.json()).toEqual([{ token: 'once' }]);
      expect(await rows(admin, token)).toEqual([{ token: '' }]);

      const inDb = createClient({ url: server.url, database: db });
      const session = createClient({ url: server.url, session_id: randomUUID(), ...QUIET });
      try {
        expect(await rows(inDb, 'SELECT currentDatabase() AS db')).toEqual([{ db }]);
        expect(await rows(admin, 'SELECT currentDatabase() AS db')).toEqual([{ db: 'default' }]);

        await session.command({ query: 'CREATE TEMPORARY TABLE scratch (n UInt8)' });
        const clickhouse_settings = { insert_deduplication_token: 'in-session' };
        await session.insert({ table: 'scratch', values: [{ n: 7 }], format: 'JSONEachRow', clickhouse_settings });
        expect(await rows(session, `SELECT n, getSetting('insert_deduplication_token') AS token FROM scratch`)).toEqual([{ n: 7, token: '' }]);
        expect(await admin.query({ query: 'SELECT n FROM scratch' }).catch((e: unknown) => e)).toMatchObject({ code: '60' });
      } finally {
        await inDb.close();
        await session.close();
      }
    });
  });

  it('passes insert data on byte for byte, invalid UTF-8 included', async () => {
    await withDatabase('bytes', async (db) => {
      await admin.command({ query: `CREATE TABLE ${db}.raw (s String) ENGINE = MergeTree ORDER BY s` });
      const body = Buffer.from([0x61, 0xff, 0xfe, 0x5c, 0x5c, 0x00, 0x0a]); // "a", two invalid bytes, an escaped "\", NUL
      await admin.insert({ table: `${db}.raw`, values: Readable.from([body], { objectMode: false }), format: 'TabSeparated' });
      expect(await rows(admin, `SELECT hex(s) AS hex FROM ${db}.raw`)).toEqual([{ hex: '61FFFE5C00' }]);
    });
  });

  it("stores through chainwatch's own server path: migrate, then insertIdempotent deduplicates by token", async () => {
    await withChainwatchDatabase('storage', async (ch, db) => {
      expect(ch.rawInsert).toBeNull();
      expect((await migrate(ch)).applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
      expect((await migrate(ch)).applied).toEqual([]);

      const traceId = 'ab'.repeat(16);
      const body = spanRow(traceId, "GET /cart 'x'\tback\\slash 中文");
      const insert = (deduplicationToken: string) => insertSpan(ch, body, deduplicationToken);
      const count = async (table: string) =>
        (await rows<{ n: number }>(ch.client, `SELECT toUInt32(count()) AS n FROM ${db}.${table} WHERE TraceId = {t:String}`, { t: traceId }))[0]?.n;

      await insert('batch-1');
      await insert('batch-1');
      expect(await count('otel_traces')).toBe(1);
      expect(await count('otel_traces_trace_id_ts')).toBe(1); // the view's block is deduplicated too
      expect(await rows(ch.client, `SELECT SpanName FROM ${db}.otel_traces`)).toEqual([{ SpanName: "GET /cart 'x'\tback\\slash 中文" }]);

      await insert('batch-2');
      expect(await count('otel_traces')).toBe(2);
    });
  });

  it('takes inserts from several processes at once: a batch is stored once, whichever worker sends it', async () => {
    await withChainwatchDatabase('workers', async (ch, db) => {
      await migrate(ch);
      const shared = spanRow('aa'.repeat(16), 'retried by both');
      await Promise.all(
        ['b1', 'b2'].map((trace, i) =>
          runWorker(server.url, db, [
            ['batch-shared', shared],
            [`batch-own-${i}`, spanRow(trace.repeat(16), `worker ${i}`)],
          ]),
        ),
      );
      expect(await rows(ch.client, `SELECT SpanName, toUInt32(count()) AS n FROM ${db}.otel_traces GROUP BY SpanName ORDER BY SpanName`)).toEqual([
        { SpanName: 'retried by both', n: 1 },
        { SpanName: 'worker 0', n: 1 },
        { SpanName: 'worker 1', n: 1 },
      ]);
    });
  });

  it("fails inserts into a detached table with the engine's code, and takes them again once attached", async () => {
    await withChainwatchDatabase('detach', async (ch, db) => {
      await migrate(ch);
      const table = `${db}.otel_traces`;
      const insert = (deduplicationToken: string) => insertSpan(ch, spanRow('cd'.repeat(16), 'op'), deduplicationToken);

      await ch.client.command({ query: `DETACH TABLE ${table}` });
      const direct = await admin.insert({ table, values: [{ TraceId: 'x' }], format: 'JSONEachRow' }).catch((e: unknown) => e);
      expect(direct).toBeInstanceOf(ClickHouseError);
      expect(direct).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });
      const viaStorage = await insert('batch-detached').catch((e: unknown) => e);
      expect(viaStorage).toBeInstanceOf(RetryableError);
      expect((viaStorage as Error).cause).toMatchObject({ code: '60', type: 'UNKNOWN_TABLE' });

      await ch.client.command({ query: `ATTACH TABLE ${table}` });
      await insert('batch-detached');
      expect(await rows(ch.client, `SELECT toUInt32(count()) AS n FROM ${table}`)).toEqual([{ n: 1 }]);
    });
  });
});
