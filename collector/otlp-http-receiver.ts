/**
 * The OTLP/HTTP receiver (`POST /v1/traces` and `POST /v1/logs`, default port 4318), answering as
 * the OTLP specification says, the same way for every signal (one handler, parameterised by the
 * signal's codecs and callback):
 * - `application/x-protobuf` or `application/json` bodies (else 415); the response uses the
 *   request's encoding;
 * - 200 with an `Export…ServiceResponse` once the records are durable (published to Kafka, or
 *   stored, in embedded mode);
 * - 400 with a `google.rpc.Status` body naming the problem for bodies that do not decode;
 * - 429/503 with Retry-After when the bus is full or unavailable, or when more request bytes are
 *   in flight than `maxInflightBytes`, so exporters back off and memory stays bounded;
 * - gzip, deflate and zstd bodies, inflated under the size limit (a bomb is stopped while it inflates);
 * - 404/405 for other paths and methods (`/v1/metrics` says it is not supported); 413 for bodies
 *   over the limit.
 * No request can crash the process: every failure becomes a status and a message, and the
 * message never echoes more than a short, capped piece of the input.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzip, inflate, type InputType } from 'node:zlib';
import { promisify } from 'node:util';
import { errorSummary } from '../pipeline/errors.js';
import type { Logger } from '../pipeline/logger.js';
import type { LogsData } from '../schemas/otlp-logs.js';
import type { TracesData } from '../schemas/otlp-traces.js';
import type { ApiKeyAuth, Caller, TlsMaterial } from './auth.js';
import { FULLY_ACCEPTED, type AnswerObserver, type ExportOutcome } from './export-outcome.js';
import { InflightBudget, refusalOf, SHUTTING_DOWN, type Refusal } from './ingest-admission.js';
import { OtlpDecodeError } from './otlp-decode-error.js';
import { encodeRpcStatusJson } from './otlp-json.js';
import { encodeRpcStatus } from './otlp-protobuf.js';
import { LOGS, TRACES, tooManyRecords, type OtlpSignal } from './otlp-signals.js';
import { decompressZstd, ZstdBodyError } from './zstd-body.js';

const gunzipAsync = promisify<InputType, { maxOutputLength: number }, Buffer>(gunzip);
const inflateAsync = promisify<InputType, { maxOutputLength: number }, Buffer>(inflate);

const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';
type Encoding = typeof PROTOBUF | typeof JSON_TYPE;

/** google.rpc.Code values used in error bodies. */
const RPC_CODE = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14, UNIMPLEMENTED: 12, UNAUTHENTICATED: 16 } as const;

const ACCEPTED_PATHS = `traces to ${TRACES.path} and logs to ${LOGS.path}`;

/** Decodes a body of one signal, hands it on, and returns the success response body. */
type Route = (body: Buffer, encoding: Encoding, caller: Caller | null) => Promise<Uint8Array | string>;

function route<D>(signal: OtlpSignal<D>, maxRecords: number, accept: (data: D, caller: Caller | null) => Promise<ExportOutcome | void>): Route {
  return async (body, encoding, caller) => {
    const data = decodeBody(signal, body, encoding);
    const count = signal.count(data);
    const tooMany = tooManyRecords(signal as OtlpSignal<unknown>, count, maxRecords);
    if (tooMany) throw new HttpError(413, RPC_CODE.RESOURCE_EXHAUSTED, tooMany);
    const { rejected, message } = (count > 0 ? await accept(data, caller) : undefined) ?? FULLY_ACCEPTED;
    return encoding === PROTOBUF ? signal.encodeResponse(rejected, message) : signal.encodeResponseJson(rejected, message);
  };
}

export interface OtlpHttpReceiverOptions {
  host: string;
  port: number;
  /**
   * Called with every decoded trace request holding spans (and who sent it, when auth is on);
   * resolves when its accepted spans are durable, with the spans it refused (answered as
   * partial_success), if any.
   */
  onTraces(data: TracesData, caller: Caller | null): Promise<ExportOutcome | void>;
  /** The same for logs requests holding records. */
  onLogs(data: LogsData, caller: Caller | null): Promise<ExportOutcome | void>;
  /** Told of every answered request (metrics). */
  onAnswered?: AnswerObserver;
  /** API keys: checked on the headers, before the body is read. Off when absent. */
  auth?: ApiKeyAuth;
  /** Serve HTTPS (and require client certificates, for mTLS) when given. */
  tls?: TlsMaterial | null;
  logger: Logger;
  /** Largest accepted body, compressed and again after decompression. @default 20 MiB */
  maxBodyBytes?: number;
  /** Spans or log records in one request; beyond it 413. @default 100000 */
  maxRecordsPerRequest?: number;
  /** Time a client has to send the request headers, then the whole request; then 408. @default 10 s, 30 s */
  headerTimeoutMs?: number;
  requestTimeoutMs?: number;
  /**
   * Decompressed request bytes being decoded, processed or published at once; beyond it a request
   * is refused with 429 + Retry-After instead of being held, so memory stays bounded whatever
   * the number of connections (one request is always let through alone). @default 16 MiB
   */
  maxInflightBytes?: number;
}

export interface OtlpHttpReceiver {
  readonly url: string;
  readonly port: number;
  /** Stops accepting, lets requests in flight finish (up to `timeoutMs`), then closes. */
  close(timeoutMs?: number): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly rpcCode: number,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

export async function startOtlpHttpReceiver(options: OtlpHttpReceiverOptions): Promise<OtlpHttpReceiver> {
  const log = options.logger.child({ component: 'otlp-http' });
  const maxBody = options.maxBodyBytes ?? 20 * 1024 * 1024;
  const maxRecords = options.maxRecordsPerRequest ?? 100_000;
  const budget = new InflightBudget(options.maxInflightBytes ?? 16 * 1024 * 1024);
  const routes = new Map<string, Route>([
    [TRACES.path, route(TRACES, maxRecords, (data, caller) => options.onTraces(data, caller))],
    [LOGS.path, route(LOGS, maxRecords, (data, caller) => options.onLogs(data, caller))],
  ]);
  let closing = false;
  /** Responses not yet finished, so closing can end their connections after they are answered. */
  const answering = new Set<ServerResponse>();

  // Slow clients: Node answers 408 and closes once headers or the whole request take too long,
  // checked every second (the default check runs every 30 s).
  const serverOptions = { connectionsCheckingInterval: 1000, headersTimeout: options.headerTimeoutMs ?? 10_000, requestTimeout: options.requestTimeoutMs ?? 30_000 };
  const tls = options.tls ?? null;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    // While closing, every answer ends its connection: a client on a kept-alive connection would
    // otherwise go on sending over it, and the server could never finish closing.
    if (closing) res.shouldKeepAlive = false;
    else {
      answering.add(res);
      res.once('close', () => answering.delete(res));
    }
    if (options.onAnswered) {
      const observe = options.onAnswered;
      const path = (req.url ?? '/').split('?')[0];
      const signal = path === TRACES.path ? TRACES.name : path === LOGS.path ? LOGS.name : 'other';
      res.once('finish', () => observe({ transport: 'http', signal, status: String(res.statusCode) }));
    }
    handle(req, res).catch((err: unknown) => {
      // handle() answers every error it expects; this is the last line of defence.
      log.error({ err: errorSummary(err) }, 'unexpected error handling a request');
      if (!res.headersSent) respondError(res, JSON_TYPE, new HttpError(500, RPC_CODE.INTERNAL, 'internal error'));
      else res.destroy();
    });
  };
  const server: Server = tls
    ? createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.requireClientCert, rejectUnauthorized: true }, onRequest)
    : createServer(serverOptions, onRequest);
  server.keepAliveTimeout = 65_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const accept = routes.get(path);
    if (!accept) {
      req.resume();
      const hint = path === '/v1/metrics' ? `${path} is not supported: send ${ACCEPTED_PATHS}` : `unknown path ${short(path)}: send ${ACCEPTED_PATHS}`;
      return respondError(res, JSON_TYPE, new HttpError(404, RPC_CODE.NOT_FOUND, hint));
    }
    if (req.method !== 'POST') {
      req.resume();
      res.setHeader('Allow', 'POST');
      return respondError(res, JSON_TYPE, new HttpError(405, RPC_CODE.UNIMPLEMENTED, `method ${short(req.method ?? '')} not allowed: use POST`));
    }
    const encoding = mediaType(req.headers['content-type']);
    let caller: Caller | null = null;
    if (options.auth?.enabled) {
      // Judged on the headers alone: the body is discarded unread when the key is not good.
      const verdict = options.auth.authenticate(headerValue(req, options.auth.header));
      if (!verdict.ok) {
        req.resume();
        if (verdict.status === 401 && options.auth.header === 'authorization') res.setHeader('WWW-Authenticate', 'Bearer realm="chainwatch"');
        return respondError(res, encoding ?? JSON_TYPE, new HttpError(verdict.status, verdict.status === 401 ? RPC_CODE.UNAUTHENTICATED : RPC_CODE.PERMISSION_DENIED, verdict.message));
      }
      caller = verdict.caller;
    }
    if (encoding === null) {
      req.resume();
      return respondError(
        res,
        JSON_TYPE,
        new HttpError(415, RPC_CODE.INVALID_ARGUMENT, `unsupported content type ${short(req.headers['content-type'] ?? '(none)')}: use ${PROTOBUF} or ${JSON_TYPE}`),
      );
    }
    if (closing) {
      req.resume();
      return respondError(res, encoding, refusedError(SHUTTING_DOWN));
    }
    let held = 0;
    try {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && budget.wouldRefuse(declared)) {
        req.resume();
        throw refusedError(budget.refusal);
      }
      const raw = await decompress(await readBody(req, maxBody), req.headers['content-encoding'], maxBody);
      if (!budget.tryAcquire(raw.length)) throw refusedError(budget.refusal);
      held = raw.length;
      const response = await accept(raw, encoding, caller);
      res.statusCode = 200;
      res.setHeader('Content-Type', encoding);
      res.end(response);
    } catch (err) {
      respondError(res, encoding, toHttpError(err, log));
    } finally {
      budget.release(held);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Errors after start (a client resetting, for example) are logged, never thrown.
  server.on('error', (err) => log.error({ err: errorSummary(err) }, 'http server error'));
  // Malformed requests and slow clients ('clientError'): Node's own answer (400, 408, 431), then
  // the connection closes.

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | null = null;
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${address.port}`,
    port: address.port,
    close: (timeoutMs = 10_000) =>
      (closed ??= new Promise<void>((resolve) => {
        closing = true;
        const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
        // Answers still to be written end their connections too (see onRequest).
        for (const res of answering) if (!res.headersSent) res.shouldKeepAlive = false;
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      })),
  };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function mediaType(header: string | undefined): Encoding | null {
  if (!header) return null;
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === PROTOBUF || type === JSON_TYPE ? type : null;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      return reject(new HttpError(413, RPC_CODE.RESOURCE_EXHAUSTED, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new HttpError(413, RPC_CODE.RESOURCE_EXHAUSTED, `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on('error', (err) => reject(new HttpError(400, RPC_CODE.INVALID_ARGUMENT, `request body could not be read: ${err.message}`)));
    req.on('aborted', () => reject(new HttpError(400, RPC_CODE.INVALID_ARGUMENT, 'request aborted by the client')));
  });
}

async function decompress(body: Buffer, contentEncoding: string | undefined, limit: number): Promise<Buffer> {
  const enc = (contentEncoding ?? '').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return body;
  if (enc === 'zstd') {
    try {
      return decompressZstd(body, limit);
    } catch (err) {
      if (err instanceof ZstdBodyError) throw new HttpError(err.tooLarge ? 413 : 400, err.tooLarge ? RPC_CODE.RESOURCE_EXHAUSTED : RPC_CODE.INVALID_ARGUMENT, err.message);
      throw err;
    }
  }
  if (enc !== 'gzip' && enc !== 'deflate') {
    throw new HttpError(400, RPC_CODE.INVALID_ARGUMENT, `unsupported content encoding ${short(enc)}: use gzip, deflate, zstd or none`);
  }
  try {
    // maxOutputLength stops a decompression bomb while it inflates, not after.
    return enc === 'gzip' ? await gunzipAsync(body, { maxOutputLength: limit }) : await inflateAsync(body, { maxOutputLength: limit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new HttpError(413, RPC_CODE.RESOURCE_EXHAUSTED, `decompressed request body exceeds the limit of ${limit} bytes`);
    }
    throw new HttpError(400, RPC_CODE.INVALID_ARGUMENT, `request body is not valid ${enc} data`);
  }
}

function decodeBody<D>(signal: OtlpSignal<D>, body: Buffer, encoding: Encoding): D {
  try {
    return encoding === PROTOBUF ? signal.decodeProtobuf(body) : signal.decodeJson(body);
  } catch (err) {
    if (err instanceof OtlpDecodeError) {
      const what = `${encoding === PROTOBUF ? 'protobuf' : 'OTLP/JSON'} ${signal.requestName}`;
      throw new HttpError(400, RPC_CODE.INVALID_ARGUMENT, `request body is not a valid ${what}: ${err.message}`);
    }
    throw err;
  }
}

function refusedError(r: Refusal): HttpError {
  return r.kind === 'capacity' ? new HttpError(429, RPC_CODE.RESOURCE_EXHAUSTED, r.message, r.retryAfterS) : new HttpError(503, RPC_CODE.UNAVAILABLE, r.message, r.retryAfterS);
}

function toHttpError(err: unknown, log: Logger): HttpError {
  if (err instanceof HttpError) return err;
  const refusal = refusalOf(err);
  if (refusal) return refusedError(refusal);
  log.error({ err: errorSummary(err) }, 'request failed');
  return new HttpError(500, RPC_CODE.INTERNAL, 'internal error');
}

function respondError(res: ServerResponse, encoding: Encoding, err: HttpError): void {
  res.statusCode = err.status;
  if (err.retryAfterS !== undefined) res.setHeader('Retry-After', String(err.retryAfterS));
  res.setHeader('Content-Type', encoding);
  res.end(encoding === PROTOBUF ? encodeRpcStatus(err.rpcCode, err.message) : encodeRpcStatusJson(err.rpcCode, err.message));
}

/** A piece of client input fit for an error message: capped, never the whole thing. */
function short(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}
