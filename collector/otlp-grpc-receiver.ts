/**
 * The OTLP/gRPC receiver (`TraceService/Export` and `LogsService/Export`, default port 4317),
 * answering as the OTLP specification says, with the same callbacks and limits as the OTLP/HTTP
 * receiver:
 * - OK with an `Export…ServiceResponse` once the records are durable, carrying partial_success
 *   when the pipeline refused some of them;
 * - INVALID_ARGUMENT naming the problem for a message that does not decode;
 * - RESOURCE_EXHAUSTED with RetryInfo when the collector or the bus is at capacity (the in-flight
 *   byte budget, a full bus), UNAVAILABLE with RetryInfo when the bus is down or the process is
 *   stopping — the codes OTLP exporters retry, after the delay RetryInfo gives;
 * - RESOURCE_EXHAUSTED without RetryInfo (not retryable) for a message over the size limit;
 * - UNIMPLEMENTED for `MetricsService/Export` (and any other method);
 * - with auth on, UNAUTHENTICATED / PERMISSION_DENIED for a missing, unknown or revoked key in the
 *   call's metadata, before the message is decoded.
 * gzip- or deflate-compressed messages (grpc-encoding) are decompressed by @grpc/grpc-js.
 *
 * Why @grpc/grpc-js: gRPC is HTTP/2 framing, metadata, deadlines and compression; the official
 * pure-JS implementation does all of it. Messages go through it as bytes (identity serializers),
 * so they are decoded by the same hand-written OTLP decoders as on HTTP.
 */
import { Metadata, Server, status, type ServerUnaryCall, type sendUnaryData, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { errorSummary } from '../pipeline/errors.js';
import type { Logger } from '../pipeline/logger.js';
import type { LogsData } from '../schemas/otlp-logs.js';
import type { TracesData } from '../schemas/otlp-traces.js';
import { grpcServerCredentials, type ApiKeyAuth, type Caller, type TlsMaterial } from './auth.js';
import { FULLY_ACCEPTED, type AnswerObserver, type ExportOutcome } from './export-outcome.js';
import { InflightBudget, refusalOf, SHUTTING_DOWN, type Refusal } from './ingest-admission.js';
import { OtlpDecodeError } from './otlp-decode-error.js';
import { LOGS, METRICS_GRPC_METHOD, TRACES, tooManyRecords, type OtlpSignal } from './otlp-signals.js';

export interface OtlpGrpcReceiverOptions {
  host: string;
  port: number;
  /** Called with every decoded trace request holding spans (and who sent it, when auth is on); resolves when its accepted spans are durable. */
  onTraces(data: TracesData, caller: Caller | null): Promise<ExportOutcome | void>;
  /** The same for logs requests holding records. */
  onLogs(data: LogsData, caller: Caller | null): Promise<ExportOutcome | void>;
  /** Told of every answered call (metrics). */
  onAnswered?: AnswerObserver;
  /** A connection is closed after this long; calls in flight get `callGraceMs` more. @default 5 min, 30 s */
  maxConnectionAgeMs?: number;
  callGraceMs?: number;
  /** API keys in the call's metadata, checked before the message is decoded. Off when absent. */
  auth?: ApiKeyAuth;
  /** Serve TLS (mTLS when a client certificate is required) when given. */
  tls?: TlsMaterial | null;
  logger: Logger;
  /** Largest accepted message, after decompression. @default 20 MiB */
  maxMessageBytes?: number;
  /** Spans or log records in one request; beyond it RESOURCE_EXHAUSTED (not retryable). @default 100000 */
  maxRecordsPerRequest?: number;
  /** Message bytes being decoded, processed or published at once (see InflightBudget). @default 16 MiB */
  maxInflightBytes?: number;
}

export interface OtlpGrpcReceiver {
  /** `host:port` to give an OTLP/gRPC exporter (with `http://` for an insecure channel). */
  readonly address: string;
  readonly port: number;
  /** Stops accepting, lets calls in flight finish (up to `timeoutMs`), then closes. */
  close(timeoutMs?: number): Promise<void>;
}

/** A gRPC error: a status code, a message, and trailers (RetryInfo). */
interface GrpcError {
  code: status;
  details: string;
  metadata?: Metadata;
}

const identity = (b: Buffer): Buffer => b;

function unary(path: string): ServiceDefinition {
  return {
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  } as ServiceDefinition;
}

export async function startOtlpGrpcReceiver(options: OtlpGrpcReceiverOptions): Promise<OtlpGrpcReceiver> {
  const log = options.logger.child({ component: 'otlp-grpc' });
  const maxMessage = options.maxMessageBytes ?? 20 * 1024 * 1024;
  const maxRecords = options.maxRecordsPerRequest ?? 100_000;
  const budget = new InflightBudget(options.maxInflightBytes ?? 16 * 1024 * 1024);
  let closing = false;

  const server = new Server({
    'grpc.max_receive_message_length': maxMessage,
    'grpc.max_send_message_length': 4 * 1024 * 1024,
    // Clients that keep a connection idle are let go; keepalive pings from exporters are allowed.
    'grpc.max_connection_idle_ms': 5 * 60_000,
    'grpc.keepalive_permit_without_calls': 1,
    // No connection outlives its age (plus the grace for calls in flight): a slow client included.
    'grpc.max_connection_age_ms': options.maxConnectionAgeMs ?? 5 * 60_000,
    'grpc.max_connection_age_grace_ms': options.callGraceMs ?? 30_000,
  });

  const handler =
    <D>(signal: OtlpSignal<D>, accept: (data: D, caller: Caller | null) => Promise<ExportOutcome | void>) =>
    (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void => {
      const name = signal.name;
      exportCall(signal, accept, call.request, call.metadata).then(
        (response) => {
          options.onAnswered?.({ transport: 'grpc', signal: name, status: status[status.OK] });
          callback(null, response);
        },
        (err: GrpcError) => {
          options.onAnswered?.({ transport: 'grpc', signal: name, status: status[err.code] ?? String(err.code) });
          callback(err);
        },
      );
    };

  async function exportCall<D>(signal: OtlpSignal<D>, accept: (data: D, caller: Caller | null) => Promise<ExportOutcome | void>, message: Buffer, metadata: Metadata): Promise<Buffer> {
    let caller: Caller | null = null;
    if (options.auth?.enabled) {
      const value = metadata.get(options.auth.header)[0];
      const verdict = options.auth.authenticate(typeof value === 'string' ? value : undefined);
      if (!verdict.ok) throw { code: verdict.status === 401 ? status.UNAUTHENTICATED : status.PERMISSION_DENIED, details: verdict.message } satisfies GrpcError;
      caller = verdict.caller;
    }
    if (closing) throw refused(SHUTTING_DOWN);
    if (!budget.tryAcquire(message.length)) throw refused(budget.refusal);
    try {
      let data: D;
      try {
        data = signal.decodeProtobuf(message);
      } catch (err) {
        if (err instanceof OtlpDecodeError) throw { code: status.INVALID_ARGUMENT, details: `request is not a valid protobuf ${signal.requestName}: ${err.message}` } satisfies GrpcError;
        throw err;
      }
      const count = signal.count(data);
      const tooMany = tooManyRecords(signal as OtlpSignal<unknown>, count, maxRecords);
      if (tooMany) throw { code: status.RESOURCE_EXHAUSTED, details: tooMany } satisfies GrpcError;
      const { rejected, message: why } = (count > 0 ? await accept(data, caller) : undefined) ?? FULLY_ACCEPTED;
      return Buffer.from(signal.encodeResponse(rejected, why));
    } catch (err) {
      if (isGrpcError(err)) throw err;
      const refusal = refusalOf(err);
      if (refusal) throw refused(refusal);
      log.error({ err: errorSummary(err) }, 'request failed');
      throw { code: status.INTERNAL, details: 'internal error' } satisfies GrpcError;
    } finally {
      budget.release(message.length);
    }
  }

  server.addService(unary(TRACES.grpcMethod), { Export: handler(TRACES, (d, c) => options.onTraces(d, c)) } as UntypedServiceImplementation);
  server.addService(unary(LOGS.grpcMethod), { Export: handler(LOGS, (d, c) => options.onLogs(d, c)) } as UntypedServiceImplementation);
  server.addService(unary(METRICS_GRPC_METHOD), {
    Export: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
      callback({ code: status.UNIMPLEMENTED, details: `metrics are not supported: export traces (${TRACES.grpcMethod}) and logs (${LOGS.grpcMethod})` }),
  } as UntypedServiceImplementation);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`, grpcServerCredentials(options.tls ?? null), (err, bound) =>
      err ? reject(new Error(`OTLP/gRPC receiver cannot listen on ${options.host}:${options.port}: ${err.message}`)) : resolve(bound),
    ),
  );

  let closed: Promise<void> | null = null;
  return {
    address: `${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    port,
    close: (timeoutMs = 10_000) =>
      (closed ??= new Promise<void>((resolve) => {
        closing = true;
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      })),
  };
}

function isGrpcError(err: unknown): err is GrpcError {
  return typeof err === 'object' && err !== null && 'code' in err && 'details' in err && !(err instanceof Error);
}

/** RESOURCE_EXHAUSTED or UNAVAILABLE with RetryInfo, so exporters retry after the delay. */
function refused(r: Refusal): GrpcError {
  const code = r.kind === 'capacity' ? status.RESOURCE_EXHAUSTED : status.UNAVAILABLE;
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', encodeStatusWithRetryInfo(code, r.message, r.retryAfterS));
  return { code, details: r.message, metadata };
}

// google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
// google.protobuf.Any { string type_url = 1; bytes value = 2; }
// google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }
// google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2; }
const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

/** The `grpc-status-details-bin` trailer: a google.rpc.Status whose details hold one RetryInfo. */
export function encodeStatusWithRetryInfo(code: number, message: string, retryAfterS: number): Buffer {
  const duration = Buffer.concat([varintField(1, retryAfterS)]);
  const retryInfo = bytesField(1, duration);
  const any = Buffer.concat([bytesField(1, Buffer.from(RETRY_INFO_TYPE_URL)), bytesField(2, retryInfo)]);
  return Buffer.concat([varintField(1, code), bytesField(2, Buffer.from(message, 'utf8')), bytesField(3, any)]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

function varintField(field: number, value: number): Buffer {
  return Buffer.concat([varint(field << 3), varint(value)]);
}

function bytesField(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(value.length), value]);
}
