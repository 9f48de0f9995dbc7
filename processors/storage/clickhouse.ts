/**
 * One way to reach ClickHouse for every part of chainwatch: `@clickhouse/client` over HTTP to a
 * server, or over the embedded engine (chdb's `Connection` passed to `createClient`), so the SQL,
 * DDL and insert path are identical in both modes. The one exception is the hot insert of span
 * rows: on the embedded engine, `rawInsert` hands the body to the engine without copying it into
 * the SQL text (which `client.insert` does there), and fails with the same error shape.
 *
 * Also applies the versioned migrations of `schemas/clickhouse/migrations.ts` (`chainwatch
 * migrate`): each runs once, recorded in `<db>.chainwatch_schema_migrations`, and every
 * statement is idempotent on its own, so an interrupted migration can simply be run again. With
 * `clickhouse.cluster`, each statement runs in its cluster form (schemas/clickhouse/cluster-ddl.ts).
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, parseError, type ClickHouseClient } from '@clickhouse/client';
import type { RawInsertParams } from 'chdb';
import type { ClickHouseConfig } from '../../schemas/config.js';
import { clusterStatements } from '../../schemas/clickhouse/cluster-ddl.js';
import { MIGRATIONS, type Migration } from '../../schemas/clickhouse/migrations.js';

export interface ClickHouse {
  client: ClickHouseClient;
  database: string;
  /** The cluster the DDL runs on (Replicated + Distributed tables), or null for one node. */
  cluster: string | null;
  /**
   * The embedded engine's zero-copy insert of a body in a text format (chdb `rawInsert`), failing
   * as `client` does: a ClickHouseError with the engine's code and type. Null for a server.
   */
  rawInsert: ((params: RawInsertParams) => Promise<void>) | null;
  /** Told of every insert made through insertIdempotent: table, rows, seconds, success (metrics). */
  onInsert?: (table: string, rows: number, seconds: number, ok: boolean) => void;
  close(): Promise<void>;
}

export async function openClickHouse(config: ClickHouseConfig): Promise<ClickHouse> {
  let client: ClickHouseClient;
  let rawInsert: ClickHouse['rawInsert'] = null;
  if (config.kind === 'embedded') {
    const path = resolve(config.path);
    mkdirSync(path, { recursive: true });
    // Loaded only in embedded mode: a collector or worker talking to a server never maps the engine.
    const { createChdbConnection } = await import('chdb/connection');
    const connection = createChdbConnection({ path });
    client = createClient({ connection: connection as never });
    rawInsert = async (params) => {
      try {
        await connection.chdb.rawInsert(params);
      } catch (err) {
        throw asClickHouseError(err);
      }
    };
  } else {
    client = createClient({
      url: config.url,
      username: config.username,
      password: config.password,
      request_timeout: 60_000,
      compression: { request: false, response: true },
    });
  }
  let closed: Promise<void> | null = null;
  return {
    client,
    database: config.database,
    cluster: config.cluster ?? null,
    rawInsert,
    close: () => (closed ??= client.close()),
  };
}

/**
 * chdb's own error (message `Code: N. DB::Exception: … (TYPE)`, numeric `clickhouseCode`) in the
 * shape of `@clickhouse/client`'s errors, parsed as chdb's connection does for `client` calls.
 */
function asClickHouseError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const mapped = parseError(err);
  if (mapped !== err) mapped.cause = err;
  return mapped;
}

export interface MigrationResult {
  applied: Migration[];
  alreadyApplied: Migration[];
}

/** The database and the table recording applied migrations, created before any migration runs. */
export function bootstrapStatements(db: string): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    `CREATE TABLE IF NOT EXISTS ${db}.chainwatch_schema_migrations (
  version UInt32,
  name String,
  applied_at DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version`,
  ];
}

/** A single-node statement as it runs on `ch`: unchanged, or its cluster form. */
export function ddlFor(ch: Pick<ClickHouse, 'cluster'>, statement: string): string[] {
  return ch.cluster ? clusterStatements(statement, ch.cluster) : [statement];
}

export async function migrate(ch: ClickHouse, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const db = ch.database;
  for (const statement of bootstrapStatements(db).flatMap((s) => ddlFor(ch, s))) await ch.client.command({ query: statement });
  const rs = await ch.client.query({ query: `SELECT DISTINCT version FROM ${db}.chainwatch_schema_migrations`, format: 'JSONEachRow' });
  const done = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)));
  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) {
      result.alreadyApplied.push(m);
      continue;
    }
    for (const statement of m.statements(db).flatMap((s) => ddlFor(ch, s))) await ch.client.command({ query: statement });
    await ch.client.insert({ table: `${db}.chainwatch_schema_migrations`, values: [{ version: m.version, name: m.name }], format: 'JSONEachRow' });
    result.applied.push(m);
  }
  return result;
}
