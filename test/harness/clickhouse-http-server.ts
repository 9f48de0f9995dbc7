/**
 * Test harness: ClickHouse's HTTP interface over the embedded engine, so that several processes can
 * share one ClickHouse (chdb binds one data directory per process, and there is no server binary).
 *
 *   node dist/test/harness/clickhouse-http-server.js --path DIR [--port N]
 *
 * Prints `listening 127.0.0.1:PORT` once it accepts requests; SIGTERM or SIGINT lets the requests
 * in flight finish, closes the engine and exits 0.
 *
 * Serves the part of the interface that @clickhouse/client 1.x uses, as ClickHouse does:
 * - `GET /ping` and `GET /` answer `Ok.`; any other GET or POST runs a query.
 * - The SQL is the `query` parameter, then a line break and the body when both are given, else the
 *   body alone; a multipart/form-data body carries `query` and `param_*` fields instead. Bodies may
 *   be gzip, deflate or br encoded; results are compressed likewise when the request says
 *   `enable_http_compression=1` and accepts one of them.
 * - `database`, `default_format`, `query_id`, `param_<name>`, `session_id` (+ `session_timeout`,
 *   `session_check`, `close_session`) mean what they mean to ClickHouse; credentials are accepted
 *   whatever they are; every other parameter is a setting of that query, applied by the engine
 *   (an unknown one fails as it does there). GET queries run with readonly=2.
 * - Each query runs on a connection of its own, so settings, the database and query parameters
 *   never leak into the next query; a session keeps one connection, restoring the database and
 *   the settings a request changed once it is done.
 * - Insert data is never turned into text: the body of `INSERT INTO t [(cols)] [SETTINGS …] FORMAT F`
 *   reaches the engine byte for byte, whatever the format. Any other request must be UTF-8.
 * - A failure is answered as ClickHouse answers it: its HTTP status for the code, the header
 *   X-ClickHouse-Exception-Code, and `Code: N. DB::Exception: … (TYPE) (version …)` as the body.
 *   Nothing a client sends can stop the server.
 *
 * Not served: ClickHouse's own (`compress`/`decompress`) block compression, external tables
 * (multipart file parts), progress headers, zstd/xz/lz4 bodies, users and access rights.
 * Deviations: a session keeps `param_*` values from one request to the next and its GET queries
 * are not read-only (readonly cannot be lifted again); insert errors mention a temporary file.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import zlib from 'node:zlib';
import { Session, type ChdbResult } from 'chdb';

const HOST = '127.0.0.1';
const DEFAULT_FORMAT = 'TabSeparated';
/** ClickHouse's default_session_timeout and max_session_timeout, in seconds. */
const SESSION_TIMEOUT_S = 60;
const MAX_SESSION_TIMEOUT_S = 3600;
/** In the data dir: insert bodies on their way to the engine (FROM INFILE). */
const SCRATCH_DIR = 'http-server-inserts';
/** ClickHouse's http_max_uri_size: query parameters travel in the URL. */
const MAX_URL_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Errors

/** An error this server raises itself, in ClickHouse's terms (code and type from ErrorCodes.cpp). */
class ClickHouseException extends Error {
  constructor(
    readonly code: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** HTTP status by exception code, as src/Server/HTTP/exceptionCodeToHTTPStatus.cpp maps them; else 500. */
const STATUS_BY_CODE = new Map<number, number>(
  Object.entries({
    401: { REQUIRED_PASSWORD: 194 },
    403: { UNKNOWN_USER: 192, WRONG_PASSWORD: 193, AUTHENTICATION_FAILED: 516, SET_NON_GRANTED_ROLE: 512, ACCESS_DENIED: 497 },
    400: {
      BAD_ARGUMENTS: 36,
      CANNOT_COMPILE_REGEXP: 427,
      CANNOT_PARSE_TEXT: 6,
      CANNOT_PARSE_ESCAPE_SEQUENCE: 25,
      CANNOT_PARSE_QUOTED_STRING: 26,
      CANNOT_PARSE_DATE: 38,
      CANNOT_PARSE_DATETIME: 41,
      CANNOT_PARSE_NUMBER: 72,
      CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING: 441,
      CANNOT_PARSE_IPV4: 675,
      CANNOT_PARSE_IPV6: 676,
      CANNOT_PARSE_INPUT_ASSERTION_FAILED: 27,
      CANNOT_PARSE_UUID: 376,
      DUPLICATE_COLUMN: 15,
      ILLEGAL_COLUMN: 44,
      UNKNOWN_ELEMENT_IN_AST: 37,
      UNKNOWN_TYPE_OF_AST_NODE: 123,
      THERE_IS_NO_COLUMN: 8,
      TOO_DEEP_AST: 167,
      TOO_BIG_AST: 168,
      UNEXPECTED_AST_STRUCTURE: 223,
      SYNTAX_ERROR: 62,
      INCORRECT_DATA: 117,
      TYPE_MISMATCH: 53,
      VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE: 321,
    },
    404: {
      UNKNOWN_TABLE: 60,
      UNKNOWN_FUNCTION: 46,
      UNKNOWN_IDENTIFIER: 47,
      UNKNOWN_TYPE: 50,
      UNKNOWN_STORAGE: 56,
      UNKNOWN_DATABASE: 81,
      UNKNOWN_SETTING: 115,
      UNKNOWN_DIRECTION_OF_SORTING: 152,
      UNKNOWN_AGGREGATE_FUNCTION: 63,
      UNKNOWN_FORMAT: 73,
      UNKNOWN_DATABASE_ENGINE: 336,
      UNKNOWN_TYPE_OF_QUERY: 78,
      UNKNOWN_ROLE: 511,
    },
    413: { QUERY_IS_TOO_LARGE: 229 },
    501: { NOT_IMPLEMENTED: 48 },
    503: { SOCKET_TIMEOUT: 209, CANNOT_OPEN_FILE: 76, CANNOT_SCHEDULE_TASK: 439 },
    411: { HTTP_LENGTH_REQUIRED: 381 },
    408: { TIMEOUT_EXCEEDED: 159 },
    415: { UNSUPPORTED_MEDIA_TYPE: 779 },
  }).flatMap(([status, codes]) => Object.values(codes).map((code): [number, number] => [code, Number(status)])),
);

interface Failure {
  code: number;
  /** `Code: N. DB::Exception: …. (TYPE)`, possibly followed by `(version …)`. */
  text: string;
}

const ENGINE_MESSAGE = /^Code: (\d+)\. DB::Exception: /;
/**
 * The embedded engine runs part of a query as a client of itself and wraps what comes back once
 * more per hop: `Code: N. DB::Exception: <inner>. (TYPE) [(version …)]`, where <inner> is the
 * whole original message. A server answers with the original.
 */
const CLIENT_REWRAP = /^Code: (\d+)\. DB::Exception: (Code: \1\. DB::Exception: [^]*\(version [^()]*\))\. \([A-Z0-9_]+\)(?: \(version [^()]*\))?$/;

function asFailure(err: unknown): Failure {
  if (err instanceof ClickHouseException) {
    const sentence = err.message.endsWith('.') ? err.message : `${err.message}.`; // as Exception.cpp ends it
    return { code: err.code, text: `Code: ${err.code}. DB::Exception: ${sentence} (${err.type})` };
  }
  const message = err instanceof Error ? err.message : String(err);
  const engine = ENGINE_MESSAGE.exec(message);
  if (engine === null) return asFailure(new ClickHouseException(1001, 'STD_EXCEPTION', message));
  let text = message.trimEnd();
  for (let inner = CLIENT_REWRAP.exec(text); inner !== null; inner = CLIENT_REWRAP.exec(text)) text = inner[2] ?? text;
  return { code: Number(engine[1]), text };
}

// ---------------------------------------------------------------------------------------------
// Requests

type Encoding = 'gzip' | 'deflate' | 'br';
const ENCODINGS: readonly Encoding[] = ['gzip', 'deflate', 'br'];
/** Known to ClickHouse, not to Node 20's zlib. */
const UNSUPPORTED_ENCODINGS = new Set(['zstd', 'zst', 'xz', 'lzma', 'lz4', 'bz2', 'snappy']);

/** URL parameters that are neither settings nor query parameters (HTTPHandler's reserved names). */
const RESERVED_PARAMS = new Set([
  'query',
  'database',
  'default_format',
  'compress',
  'decompress',
  'user',
  'password',
  'quota_key',
  'query_id',
  'stacktrace',
  'role',
  'buffer_size',
  'wait_end_of_query',
  'session_id',
  'session_timeout',
  'session_check',
  'client_protocol_version',
  'close_session',
]);
/** Settings of the HTTP layer (this server): read here, never applied to the engine. */
const HTTP_SETTINGS = new Set([
  'enable_http_compression',
  'http_zlib_compression_level',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'http_response_buffer_size',
  'http_wait_end_of_query',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
]);
const QUERY_PARAM_PREFIX = 'param_';

interface SessionRequest {
  id: string;
  timeoutMs: number;
  /** Fail when the session does not exist yet (session_check=1). */
  mustExist: boolean;
  close: boolean;
}

interface QueryRequest {
  /** GET: ClickHouse allows only reading queries. */
  readOnly: boolean;
  queryId: string;
  /** '' = the connection's default. */
  database: string;
  defaultFormat: string;
  settings: Array<[name: string, value: string]>;
  queryParams: Array<[name: string, value: string]>;
  session: SessionRequest | null;
  /** The SQL in the URL, which precedes the body. */
  queryText: string;
  /** For the response: compression the request asked for, with its level. */
  responseEncoding: { encoding: Encoding; level: number } | null;
}

function parseQueryRequest(req: IncomingMessage, url: URL, multipart: boolean): QueryRequest {
  const params = url.searchParams;
  for (const name of ['compress', 'decompress']) {
    if (isSet(params, name)) {
      throw new ClickHouseException(48, 'NOT_IMPLEMENTED', `'${name}=1' (ClickHouse's own block compression) is not served by this test server`);
    }
  }
  const settings: Array<[string, string]> = [];
  for (const [name, value] of params) {
    if (name === '' || RESERVED_PARAMS.has(name) || HTTP_SETTINGS.has(name)) continue;
    // With external data, these suffixes name a table's format, types or structure.
    if (multipart && /_(format|types|structure)$/.test(name)) continue;
    if (!name.startsWith(QUERY_PARAM_PREFIX)) settings.push([name, value]);
  }
  const queryId = params.get('query_id') || header(req, 'x-clickhouse-query-id') || randomUUID();
  if (/[^\t\x20-\x7e]/.test(queryId)) {
    throw new ClickHouseException(36, 'BAD_ARGUMENTS', `query_id ${JSON.stringify(queryId)} cannot be sent back in the X-ClickHouse-Query-Id header`);
  }
  return {
    readOnly: req.method === 'GET',
    queryId,
    database: header(req, 'x-clickhouse-database') || params.get('database') || '',
    defaultFormat: header(req, 'x-clickhouse-format') || params.get('default_format') || DEFAULT_FORMAT,
    settings,
    queryParams: queryParamsOf(params),
    session: parseSession(params),
    queryText: params.get('query') ?? '',
    responseEncoding: isSet(params, 'enable_http_compression') ? responseEncoding(req, params) : null,
  };
}

/** `param_<name>` values, by name. */
function queryParamsOf(entries: Iterable<[string, string]>): Array<[name: string, value: string]> {
  return [...entries].filter(([name]) => name.startsWith(QUERY_PARAM_PREFIX)).map(([name, value]) => [name.slice(QUERY_PARAM_PREFIX.length), value]);
}

function isSet(params: URLSearchParams, name: string): boolean {
  return ['1', 'true'].includes(params.get(name) ?? '');
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

function parseSession(params: URLSearchParams): SessionRequest | null {
  const id = params.get('session_id');
  if (id === null) return null;
  const timeout = params.get('session_timeout');
  let seconds = SESSION_TIMEOUT_S;
  if (timeout !== null) {
    if (!/^\d+$/.test(timeout)) throw new ClickHouseException(374, 'INVALID_SESSION_TIMEOUT', `Invalid session timeout: '${timeout}'`);
    seconds = Number(timeout);
    if (seconds > MAX_SESSION_TIMEOUT_S) {
      throw new ClickHouseException(
        374,
        'INVALID_SESSION_TIMEOUT',
        `Session timeout '${timeout}' is larger than max_session_timeout: ${MAX_SESSION_TIMEOUT_S}. ` +
          'Maximum session timeout could be modified in configuration file.',
      );
    }
  }
  return { id, timeoutMs: seconds * 1000, mustExist: isSet(params, 'session_check'), close: isSet(params, 'close_session') };
}

function responseEncoding(req: IncomingMessage, params: URLSearchParams): QueryRequest['responseEncoding'] {
  const accepted = header(req, 'accept-encoding').toLowerCase();
  const encoding = ENCODINGS.find((e) => accepted.includes(e));
  if (encoding === undefined) return null;
  const level = Number(params.get('http_zlib_compression_level') ?? '3');
  return { encoding, level: Number.isInteger(level) && level >= 1 && level <= 9 ? level : 3 };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const encoding = header(req, 'content-encoding').trim().toLowerCase();
  if (encoding === '' || encoding === 'none' || encoding === 'identity') return raw;
  if (UNSUPPORTED_ENCODINGS.has(encoding)) {
    throw new ClickHouseException(48, 'NOT_IMPLEMENTED', `request bodies in '${encoding}' are not served by this test server: use gzip, deflate or br`);
  }
  try {
    if (encoding === 'gzip') return await promisify(zlib.gunzip)(raw);
    if (encoding === 'deflate') return await promisify(zlib.inflate)(raw);
    if (encoding === 'br') return await promisify(zlib.brotliDecompress)(raw);
  } catch (err) {
    if (encoding === 'br') throw new ClickHouseException(448, 'BROTLI_READ_FAILED', `brotli decode error: ${(err as Error).message}`);
    throw new ClickHouseException(354, 'ZLIB_INFLATE_FAILED', `inflate failed: ${(err as Error).message}`);
  }
  throw new ClickHouseException(
    36,
    'BAD_ARGUMENTS',
    `Unknown compression method '${encoding}'. ` +
      "Only 'auto', 'none', 'gzip', 'deflate', 'br', 'xz', 'zstd', 'lz4', 'bz2', 'snappy' are supported as compression methods",
  );
}

/** The text fields of a multipart/form-data body (how clickhouse-js sends large query parameters). */
function formFields(body: Buffer, contentType: string): Array<[name: string, value: string]> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const malformed = (why: string) => new ClickHouseException(36, 'BAD_ARGUMENTS', `malformed multipart/form-data body: ${why}`);
  if (boundary === null) throw malformed('no boundary in Content-Type');
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const fields: Array<[string, string]> = [];
  let at = body.indexOf(delimiter);
  if (at === -1) throw malformed('no part');
  for (;;) {
    const partStart = at + delimiter.length;
    if (body.subarray(partStart, partStart + 2).toString() === '--') return fields;
    const next = body.indexOf(delimiter, partStart);
    if (next === -1) throw malformed('no closing boundary');
    const part = body.subarray(partStart + 2, next - 2); // the CRLFs around the part
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd === -1) throw malformed('a part has no header');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    if (/filename=/i.test(headers)) {
      throw new ClickHouseException(48, 'NOT_IMPLEMENTED', 'external tables (multipart file parts) are not served by this test server');
    }
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    if (name === undefined) throw malformed('a part has no name');
    fields.push([name, utf8(part.subarray(headerEnd + 4), `form field '${name}'`)]);
    at = next;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Buffer, what: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new ClickHouseException(
      48,
      'NOT_IMPLEMENTED',
      `the ${what} is not valid UTF-8; this test server passes bytes on unchanged only as the data of an INSERT … FORMAT given in the 'query' parameter`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Statements

/** What the engine runs: SQL, and the data of an INSERT, kept as bytes. */
interface Statement {
  sql: string;
  insertData: Buffer | null;
}

/** The insert clickhouse-js sends: `INSERT INTO t [(cols)] FORMAT F`, the data being the body. */
const INSERT_WITH_FORMAT = /^\s*(INSERT\s+INTO\s+[^]*?)(\s+SETTINGS\s+\w+\s*=[^]*?)?\s+FORMAT\s+(\w+)\s*$/i;

function buildStatement(queryText: string, body: Buffer, form: Array<[string, string]> | null): Statement {
  let sql: string;
  if (form !== null) {
    sql = queryText + form.filter(([name]) => name === 'query').map(([, value]) => value).join('');
  } else if (queryText === '') {
    sql = utf8(body, 'request body');
  } else if (INSERT_WITH_FORMAT.test(queryText)) {
    return { sql: queryText, insertData: body };
  } else {
    sql = `${queryText}\n${utf8(body, 'request body')}`;
  }
  if (sql.trim() === '') throw new ClickHouseException(62, 'SYNTAX_ERROR', 'Empty query');
  return { sql, insertData: null };
}

/** The insert reading its data from `file`: FROM INFILE goes before SETTINGS and FORMAT. */
function insertFromFile(sql: string, file: string): string {
  const [, target = '', settings = '', format = ''] = INSERT_WITH_FORMAT.exec(sql) ?? [];
  return `${target} FROM INFILE ${quoteString(file)} COMPRESSION 'none'${settings} FORMAT ${format}`;
}

function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0')}'`;
}

function quoteIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`').replace(/\0/g, '\\0')}\``;
}

/** The output format: the query's own FORMAT clause, else the default; null for an INSERT. */
function outputFormat(sql: string, defaultFormat: string): string | null {
  if (/^\s*INSERT\b/i.test(sql)) return null;
  return /\bFORMAT\s+(\w+)\s*;?\s*$/i.exec(sql)?.[1] ?? defaultFormat;
}

const BINARY_FORMATS = /^(Native|RowBinary\w*|Parquet|Arrow\w*|ORC|Avro|Protobuf\w*|CapnProto|MsgPack|BSONEachRow|Npy|RawBLOB)$/;

function contentType(format: string | null): string {
  if (format === null) return 'text/plain; charset=UTF-8';
  if (format.startsWith('JSON')) return 'application/json; charset=UTF-8';
  if (format.startsWith('CSV')) return `text/csv; charset=UTF-8; header=${/WithNames/.test(format) ? 'present' : 'absent'}`;
  if (/^(TabSeparated|TSV)/.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  if (BINARY_FORMATS.test(format)) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

// ---------------------------------------------------------------------------------------------
// Engine

interface HttpSession {
  connection: Session;
  busy: boolean;
  expiry: NodeJS.Timeout | undefined;
}

interface Outcome {
  result: ChdbResult;
  format: string | null;
}

/**
 * One embedded engine. Each query runs on a fresh connection (cheap: they share the engine), so
 * its settings die with it; chdb runs queries of different connections in parallel.
 */
class Engine {
  private readonly sessions = new Map<string, HttpSession>();
  private readonly runningQueryIds = new Set<string>();
  private insertFiles = 0;

  private constructor(
    private readonly path: string,
    private readonly scratchDir: string,
    /** Open for the server's lifetime: the engine stays up between queries instead of restarting. */
    private readonly anchor: Session,
    readonly version: string,
    readonly timezone: string,
  ) {}

  static async open(path: string): Promise<Engine> {
    mkdirSync(path, { recursive: true });
    const anchor = new Session(path); // fails when another process has the data dir
    try {
      // Beside the engine's own files, so that it goes with the data dir even after a SIGKILL.
      const scratchDir = join(path, SCRATCH_DIR);
      rmSync(scratchDir, { recursive: true, force: true });
      mkdirSync(scratchDir);
      const [version = '', timezone = ''] = (await anchor.queryAsync('SELECT version(), timezone()', { format: 'JSONCompactEachRow' })).json<string[]>();
      return new Engine(path, scratchDir, anchor, version, timezone);
    } catch (err) {
      anchor.close();
      throw err;
    }
  }

  async run(request: QueryRequest, statement: Statement): Promise<Outcome> {
    if (this.runningQueryIds.has(request.queryId)) {
      throw new ClickHouseException(216, 'QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING', `Query with id = ${request.queryId} is already running.`);
    }
    this.runningQueryIds.add(request.queryId);
    try {
      return request.session === null ? await this.runAlone(request, statement) : await this.runInSession(request, request.session, statement);
    } finally {
      this.runningQueryIds.delete(request.queryId);
    }
  }

  private async runAlone(request: QueryRequest, statement: Statement): Promise<Outcome> {
    const connection = new Session(this.path);
    try {
      const changes: Array<[string, string]> = request.readOnly ? [['readonly', '2'], ...request.settings] : request.settings;
      await applyContext(connection, request.database, changes, request.queryParams);
      return await this.execute(connection, request, statement);
    } finally {
      connection.close();
    }
  }

  private async runInSession(request: QueryRequest, spec: SessionRequest, statement: Statement): Promise<Outcome> {
    const session = this.claimSession(spec);
    let keep = !spec.close;
    try {
      const saved = await snapshot(session.connection, request.settings.map(([name]) => name));
      try {
        await applyContext(session.connection, request.database, request.settings, request.queryParams);
        return await this.execute(session.connection, request, statement);
      } finally {
        // A session that cannot be put back as it was is not kept.
        await applyContext(session.connection, saved.database, saved.settings, []).catch(() => (keep = false));
      }
    } finally {
      session.busy = false;
      if (keep) session.expiry = setTimeout(() => this.closeSession(spec.id), spec.timeoutMs).unref();
      else this.closeSession(spec.id);
    }
  }

  private claimSession(spec: SessionRequest): HttpSession {
    let session = this.sessions.get(spec.id);
    if (session === undefined) {
      if (spec.mustExist) throw new ClickHouseException(372, 'SESSION_NOT_FOUND', `Session ${spec.id} not found`);
      session = { connection: new Session(this.path), busy: false, expiry: undefined };
      this.sessions.set(spec.id, session);
    }
    if (session.busy) throw new ClickHouseException(373, 'SESSION_IS_LOCKED', `Session ${spec.id} is locked by a concurrent client`);
    session.busy = true;
    clearTimeout(session.expiry);
    return session;
  }

  private closeSession(id: string): void {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    clearTimeout(session.expiry);
    this.sessions.delete(id);
    session.connection.close();
  }

  private async execute(connection: Session, request: QueryRequest, statement: Statement): Promise<Outcome> {
    const options = { format: request.defaultFormat };
    if (statement.insertData === null) {
      return { result: await connection.queryAsync(statement.sql, options), format: outputFormat(statement.sql, request.defaultFormat) };
    }
    const file = join(this.scratchDir, `insert-${++this.insertFiles}.data`);
    await writeFile(file, statement.insertData);
    try {
      return { result: await connection.queryAsync(insertFromFile(statement.sql, file), options), format: null };
    } finally {
      await unlink(file).catch(() => {});
    }
  }

  close(): void {
    for (const id of [...this.sessions.keys()]) this.closeSession(id);
    this.anchor.close();
    rmSync(this.scratchDir, { recursive: true, force: true });
  }
}

/** Makes `database`, the settings and the query parameters current on the connection. */
async function applyContext(
  connection: Session,
  database: string,
  settings: ReadonlyArray<[string, string]>,
  queryParams: ReadonlyArray<[string, string]>,
): Promise<void> {
  if (database !== '') await connection.queryAsync(`USE ${quoteIdentifier(database)}`);
  const assignments = [
    ...settings.map(([name, value]) => `${quoteIdentifier(name)} = ${quoteString(value)}`),
    ...queryParams.map(([name, value]) => `${quoteIdentifier(QUERY_PARAM_PREFIX + name)} = ${quoteString(value)}`),
  ];
  if (assignments.length > 0) await connection.queryAsync(`SET ${assignments.join(', ')}`);
}

/** The session's database and the current values of the named settings, to restore them later. */
async function snapshot(connection: Session, settings: string[]): Promise<{ database: string; settings: Array<[string, string]> }> {
  const columns = ['currentDatabase()', ...settings.map((name) => `toString(getSetting(${quoteString(name)}))`)];
  const [database = '', ...values] = (await connection.queryAsync(`SELECT ${columns.join(', ')}`, { format: 'JSONCompactEachRow' })).json<string[]>();
  return { database, settings: settings.map((name, i): [string, string] => [name, values[i] ?? '']) };
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

async function handle(engine: Engine, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', `http://${HOST}`);
  const isGet = req.method === 'GET' || req.method === 'HEAD';
  if ((url.pathname === '/ping' && isGet) || (url.pathname === '/' && isGet && !url.searchParams.has('query'))) {
    return send(res, plain(200, 'Ok.\n'), null);
  }
  if (req.method !== 'GET' && req.method !== 'POST') {
    req.resume();
    return send(res, plain(404, `There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\n`), null);
  }
  let request: QueryRequest | null = null;
  try {
    const multipart = header(req, 'content-type').startsWith('multipart/form-data');
    request = parseQueryRequest(req, url, multipart);
    if (req.method === 'POST' && req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      throw new ClickHouseException(381, 'HTTP_LENGTH_REQUIRED', 'The Transfer-Encoding is not chunked and there is no Content-Length header for POST request');
    }
    const body = await readBody(req);
    const form = multipart ? formFields(body, header(req, 'content-type')) : null;
    if (form !== null) request = { ...request, queryParams: [...request.queryParams, ...queryParamsOf(form)] };
    const statement = buildStatement(request.queryText, body, form);
    const outcome = await engine.run(request, statement);
    await send(res, success(engine, request, outcome), request.responseEncoding);
  } catch (err) {
    req.resume(); // an unread body must not block the connection
    await send(res, failure(engine, request?.queryId, asFailure(err)), request?.responseEncoding ?? null);
  }
}

function plain(status: number, text: string): Reply {
  return { status, headers: { 'Content-Type': 'text/plain; charset=UTF-8' }, body: Buffer.from(text) };
}

function success(engine: Engine, request: QueryRequest, { result, format }: Outcome): Reply {
  const body = result.bytes();
  const insert = format === null;
  const rows = String(result.rowsRead);
  const bytes = String(result.bytesRead);
  const summary = {
    read_rows: rows,
    read_bytes: bytes,
    written_rows: insert ? rows : '0',
    written_bytes: insert ? bytes : '0',
    total_rows_to_read: '0',
    result_rows: insert ? '0' : rows,
    result_bytes: insert ? '0' : String(body.byteLength),
    elapsed_ns: String(Math.round(result.elapsed * 1e9)),
  };
  return {
    status: 200,
    headers: {
      'Content-Type': contentType(format),
      ...(format === null ? {} : { 'X-ClickHouse-Format': format }),
      ...commonHeaders(engine, request.queryId),
      'X-ClickHouse-Summary': JSON.stringify(summary),
    },
    body,
  };
}

function failure(engine: Engine, queryId: string | undefined, { code, text }: Failure): Reply {
  const withVersion = /\(version [^()]*\)$/.test(text) ? text : `${text} (version ${engine.version})`;
  return {
    status: STATUS_BY_CODE.get(code) ?? 500,
    headers: {
      'Content-Type': 'text/plain; charset=UTF-8',
      ...commonHeaders(engine, queryId),
      'X-ClickHouse-Exception-Code': String(code),
    },
    body: Buffer.from(`${withVersion}\n`),
  };
}

function commonHeaders(engine: Engine, queryId: string | undefined): Record<string, string> {
  return {
    'X-ClickHouse-Server-Display-Name': hostname(),
    ...(queryId === undefined ? {} : { 'X-ClickHouse-Query-Id': queryId }),
    'X-ClickHouse-Timezone': engine.timezone,
  };
}

async function send(res: ServerResponse, reply: Reply, compression: QueryRequest['responseEncoding']): Promise<void> {
  let body = reply.body;
  const headers = { ...reply.headers };
  if (compression !== null) {
    body = await compress(body, compression.encoding, compression.level);
    headers['Content-Encoding'] = compression.encoding;
  }
  headers['Content-Length'] = String(body.byteLength);
  if (res.destroyed) return; // the client has gone
  res.writeHead(reply.status, headers);
  res.end(body);
}

function compress(body: Uint8Array, encoding: Encoding, level: number): Promise<Buffer> {
  if (encoding === 'gzip') return promisify(zlib.gzip)(body, { level });
  if (encoding === 'deflate') return promisify(zlib.deflate)(body, { level });
  return promisify(zlib.brotliCompress)(body);
}

// ---------------------------------------------------------------------------------------------
// Process

function parseOptions(argv: string[]): { path: string; port: number } {
  const usage = 'usage: clickhouse-http-server --path DIR [--port N]';
  const { values } = parseArgs({ args: argv, options: { path: { type: 'string' }, port: { type: 'string', default: '0' } } });
  if (values.path === undefined || values.path === '') throw new Error(`--path is required\n${usage}`);
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65_535) throw new Error(`--port must be a port number (0 = any free port), got "${values.port}"\n${usage}`);
  return { path: resolve(values.path), port };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolveListen((server.address() as AddressInfo).port);
    });
  });
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const engine = await Engine.open(options.path);
  const inFlight = new Set<Promise<void>>();
  const server = createServer({ maxHeaderSize: MAX_URL_BYTES }, (req, res) => {
    const done = handle(engine, req, res)
      .catch((err: unknown) => {
        process.stderr.write(`clickhouse-http-server: could not answer ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}\n`);
        res.destroy();
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const closed = new Promise<void>((done) => server.close(() => done()));
    server.closeIdleConnections();
    await Promise.allSettled([...inFlight]);
    server.closeAllConnections();
    await closed;
    engine.close();
    process.exit(0);
  };
  // Before the `listening` line: whoever reads it may signal at once.
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  const port = await listen(server, options.port);
  process.stdout.write(`listening ${HOST}:${port}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`clickhouse-http-server: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
});
