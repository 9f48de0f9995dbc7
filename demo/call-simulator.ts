/**
 * The building blocks of demo traces: one method per kind of call a service makes (HTTP to a
 * vendor, HTTP or gRPC to another service, a SQL or Redis query, a Kafka send and its
 * consumption) and the log records services write. Each creates the spans real instrumentation
 * would, with current OpenTelemetry semantic-convention attributes, explicit start and end times
 * from the simulated latency (nothing sleeps), and parents passed by context: the client span in
 * service A is the parent of the server span in service B, in one trace.
 *
 * Attribute names: HTTP, URL, server, RPC (`rpc.system.name`, `rpc.method`, `rpc.status_code`) and
 * database names are the stable ones; `db.system` is sent beside `db.system.name`, as the
 * database instrumentations do in the semconv migration's `dup` mode, and `peer.service` and
 * `messaging.system` as instrumentations send them today. Recorded request headers follow
 * `http.request.header.<name>` / `rpc.request.header.<name>` (string arrays).
 *
 * State: the caller's seeded generator and the span and log counters. Not reentrant.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type HrTime, type Span } from '@opentelemetry/api';
import { SeverityNumber, type AnyValueMap } from '@opentelemetry/api-logs';
import { millisToHrTime } from '@opentelemetry/core';
import type { SubProcessor } from './estate.js';
import { chance, choose, logNormal, type Random } from './seeded-random.js';
import type { ServiceTelemetry } from './service-telemetry.js';

/** Where a trace is: the service running and the context of its current span. */
export interface Hop {
  readonly svc: ServiceTelemetry;
  readonly ctx: Context;
}

/** How a call ended: when, and with which status (HTTP status, gRPC code, or 0 for success elsewhere). */
export interface Outcome {
  end: number;
  status: number;
}

export interface HttpCall {
  method: string;
  /** `url.template`, and the span name with the method. */
  template: string;
  /** `url.full`. */
  url: string;
  /** Request headers the instrumentation records (`http.request.header.<name>`), lower-case names. */
  headers?: Readonly<Record<string, string>>;
  /** Status of a successful answer. @default 200 */
  okStatus?: number;
  /** Further attributes of the client span (tls.*, gen_ai.*). */
  attributes?: Attributes;
}

export interface VendorConditions {
  /** Latency multiplier (a latency spike). @default 1 */
  latencyFactor?: number;
  /** Share of calls failing with 503, overriding the vendor's own error rate when higher. */
  failureShare?: number;
}

/** The server side of an internal call: what the callee does, given its hop and start time. */
export type Handler = (hop: Hop, start: number) => Outcome;

export interface InternalHttpCall extends HttpCall {
  /** Route of the callee's server span (`http.route`). */
  route: string;
  port: number;
}

export interface DbQuery {
  operation: string;
  collection: string;
  text: string;
  namespace: string;
  /** Rows returned, for reads. */
  rows?: number;
}

const GRPC_CODE_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

export const GRPC_UNAUTHENTICATED = 16;

const HTTP_REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  529: 'Overloaded',
};

export function httpReason(status: number): string {
  return HTTP_REASONS[status] ?? 'Error';
}

const SEVERITY_TEXT: Partial<Record<SeverityNumber, string>> = {
  [SeverityNumber.DEBUG]: 'DEBUG',
  [SeverityNumber.INFO]: 'INFO',
  [SeverityNumber.WARN]: 'WARN',
  [SeverityNumber.ERROR]: 'ERROR',
};

function hr(ms: number): HrTime {
  return millisToHrTime(ms);
}

export class CallSimulator {
  spans = 0;
  logRecords = 0;

  constructor(private readonly random: Random) {}

  /** Log-normal time of local work in ms (serialisation, business logic between calls). */
  work(medianMs = 0.3): number {
    return logNormal(this.random, medianMs, 0.5);
  }

  /** One-way network time between two internal services. */
  private network(): number {
    return logNormal(this.random, 0.35, 0.35);
  }

  startSpan(svc: ServiceTelemetry, name: string, kind: SpanKind, start: number, attributes: Attributes, parent: Context): { span: Span; hop: Hop } {
    this.spans++;
    const span = svc.tracer.startSpan(name, { kind, startTime: hr(start), attributes }, parent);
    return { span, hop: { svc, ctx: trace.setSpan(parent, span) } };
  }

  /** Ends a span; `error` marks it failed with `error.type`. */
  end(span: Span, end: number, error?: string): void {
    if (error !== undefined) {
      span.setAttribute('error.type', error);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(hr(end));
  }

  /** A root span of an incoming request (or a job), running `body` in it. */
  entry(svc: ServiceTelemetry, name: string, kind: SpanKind, start: number, attributes: Attributes, body: (hop: Hop, start: number) => Outcome): Outcome {
    const { span, hop } = this.startSpan(svc, name, kind, start, attributes, ROOT_CONTEXT);
    const outcome = body(hop, start + this.work());
    const end = outcome.end + this.work(0.1);
    if (kind === SpanKind.SERVER) span.setAttribute('http.response.status_code', outcome.status);
    this.end(span, end, outcome.status >= 500 ? String(outcome.status) : undefined);
    return { end, status: outcome.status };
  }

  /** An HTTPS call to a vendor's API: one client span, latency and failures from the vendor's model. */
  vendorHttp(hop: Hop, start: number, vendor: SubProcessor, call: HttpCall, conditions: VendorConditions = {}): Outcome {
    const attributes = this.httpClientAttributes(call, vendor.host, vendor.port, vendor.id);
    if (vendor.userAgent) attributes['user_agent.original'] = vendor.userAgent;
    const { span } = this.startSpan(hop.svc, `${call.method} ${call.template}`, SpanKind.CLIENT, start, attributes, hop.ctx);
    const latency = vendor.latency;
    const end = start + logNormal(this.random, latency.medianMs * (conditions.latencyFactor ?? 1), latency.sigma);
    const failureShare = conditions.failureShare ?? 0;
    let status = call.okStatus ?? 200;
    if (failureShare > 0 && chance(this.random, failureShare)) status = 503;
    else if (chance(this.random, vendor.errorRate)) status = choose(this.random, vendor.errorStatuses);
    span.setAttribute('http.response.status_code', status);
    this.end(span, end, status >= 400 ? String(status) : undefined);
    return { end, status };
  }

  /** An HTTP call to another service of the estate: its client span, and the callee's server span as the child. */
  internalHttp(hop: Hop, start: number, callee: ServiceTelemetry, call: InternalHttpCall, handler: Handler): Outcome {
    const client = this.startSpan(hop.svc, `${call.method} ${call.template}`, SpanKind.CLIENT, start, this.httpClientAttributes(call, callee.service.host, call.port, callee.service.name), hop.ctx);
    const url = new URL(call.url);
    const serverStart = start + this.network();
    const serverAttributes: Attributes = {
      'http.request.method': call.method,
      'url.scheme': url.protocol.slice(0, -1),
      'url.path': url.pathname,
      'http.route': call.route,
      'server.address': callee.service.host,
      'server.port': call.port,
      'client.address': hop.svc.service.address,
      'network.protocol.version': '1.1',
    };
    if (url.search !== '') serverAttributes['url.query'] = url.search.slice(1);
    const requestId = call.headers?.['x-request-id'];
    if (requestId !== undefined) serverAttributes['http.request.header.x-request-id'] = [requestId];
    const server = this.startSpan(callee, `${call.method} ${call.route}`, SpanKind.SERVER, serverStart, serverAttributes, client.hop.ctx);
    const outcome = handler(server.hop, serverStart + this.work(0.2));
    const serverEnd = outcome.end + this.work(0.1);
    server.span.setAttribute('http.response.status_code', outcome.status);
    this.end(server.span, serverEnd, outcome.status >= 500 ? String(outcome.status) : undefined);
    const end = serverEnd + this.network();
    client.span.setAttribute('http.response.status_code', outcome.status);
    this.end(client.span, end, outcome.status >= 400 ? String(outcome.status) : undefined);
    return { end, status: outcome.status };
  }

  /** A unary gRPC call to another service: client and server spans; `metadata` is recorded on the client. */
  grpc(hop: Hop, start: number, callee: ServiceTelemetry, method: string, metadata: Readonly<Record<string, string>>, handler: Handler): Outcome {
    const common: Attributes = { 'rpc.system.name': 'grpc', 'rpc.method': method, 'server.address': callee.service.host, 'server.port': 50051 };
    const clientAttributes: Attributes = { ...common, 'peer.service': callee.service.name, 'network.protocol.name': 'http', 'network.protocol.version': '2' };
    for (const name in metadata) clientAttributes[`rpc.request.header.${name}`] = [metadata[name]!];
    const client = this.startSpan(hop.svc, method, SpanKind.CLIENT, start, clientAttributes, hop.ctx);
    const serverStart = start + this.network();
    const server = this.startSpan(callee, method, SpanKind.SERVER, serverStart, { ...common }, client.hop.ctx);
    const outcome = handler(server.hop, serverStart + this.work(0.15));
    const code = GRPC_CODE_NAMES[outcome.status] ?? 'UNKNOWN';
    const serverEnd = outcome.end + this.work(0.05);
    server.span.setAttribute('rpc.status_code', code);
    this.end(server.span, serverEnd, outcome.status !== 0 ? code : undefined);
    const end = serverEnd + this.network();
    client.span.setAttribute('rpc.status_code', code);
    this.end(client.span, end, outcome.status !== 0 ? code : undefined);
    return { end, status: outcome.status };
  }

  /** A PostgreSQL query (client span). */
  sql(hop: Hop, start: number, db: SubProcessor, query: DbQuery): Outcome {
    const attributes: Attributes = {
      'db.system.name': 'postgresql',
      'db.system': 'postgresql',
      'db.namespace': query.namespace,
      'db.collection.name': query.collection,
      'db.operation.name': query.operation,
      'db.query.summary': `${query.operation} ${query.collection}`,
      'db.query.text': query.text,
      'server.address': db.host,
      'server.port': db.port,
      'peer.service': db.id,
    };
    if (query.rows !== undefined) attributes['db.response.returned_rows'] = query.rows;
    const { span } = this.startSpan(hop.svc, `${query.operation} ${query.collection}`, SpanKind.CLIENT, start, attributes, hop.ctx);
    const end = start + logNormal(this.random, db.latency.medianMs, db.latency.sigma);
    const failed = chance(this.random, db.errorRate);
    if (failed) span.setAttribute('db.response.status_code', String(db.errorStatuses[0]));
    this.end(span, end, failed ? String(db.errorStatuses[0]) : undefined);
    return { end, status: failed ? 1 : 0 };
  }

  /** A Redis command (client span); `key` is shown with its variable part masked, as instrumentations do. */
  redis(hop: Hop, start: number, db: SubProcessor, command: string, key: string): Outcome {
    const attributes: Attributes = {
      'db.system.name': 'redis',
      'db.system': 'redis',
      'db.namespace': '0',
      'db.operation.name': command,
      'db.query.text': `${command} ${key}`,
      'server.address': db.host,
      'server.port': db.port,
      'peer.service': db.id,
    };
    const { span } = this.startSpan(hop.svc, command, SpanKind.CLIENT, start, attributes, hop.ctx);
    const end = start + logNormal(this.random, db.latency.medianMs, db.latency.sigma);
    this.end(span, end);
    return { end, status: 0 };
  }

  /** A Kafka send (producer span); returns the context consumers continue the trace from. */
  kafkaSend(hop: Hop, start: number, broker: SubProcessor, topic: string, key: string, partitions: number): Outcome & { ctx: Context; partition: number } {
    const partition = Math.floor(this.random() * partitions);
    const attributes: Attributes = {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': String(partition),
      'messaging.kafka.message.key': key,
      'messaging.message.body.size': 300 + Math.floor(this.random() * 900),
      'server.address': broker.host,
      'server.port': broker.port,
      'peer.service': broker.id,
    };
    const producer = this.startSpan(hop.svc, `send ${topic}`, SpanKind.PRODUCER, start, attributes, hop.ctx);
    const end = start + logNormal(this.random, broker.latency.medianMs, broker.latency.sigma);
    this.end(producer.span, end);
    return { end, status: 0, ctx: producer.hop.ctx, partition };
  }

  /** A consumer processing what a producer sent, in the producer's trace, after the consumer lag. */
  kafkaProcess(consumer: ServiceTelemetry, producerCtx: Context, sentAt: number, broker: SubProcessor, topic: string, partition: number, group: string, body: Handler): Outcome {
    const start = sentAt + logNormal(this.random, 12, 0.8);
    const attributes: Attributes = {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': String(partition),
      'messaging.consumer.group.name': group,
      'server.address': broker.host,
      'server.port': broker.port,
    };
    const { span, hop } = this.startSpan(consumer, `process ${topic}`, SpanKind.CONSUMER, start, attributes, producerCtx);
    const outcome = body(hop, start + this.work(0.2));
    const end = outcome.end + this.work(0.1);
    this.end(span, end, outcome.status >= 500 ? String(outcome.status) : undefined);
    return { end, status: outcome.status };
  }

  /** An `exception` event, as `recordException` writes it, with a fixed stack (no real frames). */
  exception(hop: Hop, at: number, type: string, message: string, frame: string): void {
    trace.getSpan(hop.ctx)?.addEvent(
      'exception',
      { 'exception.type': type, 'exception.message': message, 'exception.stacktrace': `${type}: ${message}\n    at ${frame}` },
      hr(at),
    );
  }

  /** A log record of the hop's service, correlated with its current span. */
  log(hop: Hop, at: number, severity: SeverityNumber, body: string, attributes?: AnyValueMap): void {
    this.logRecords++;
    hop.svc.logger.emit({ timestamp: hr(at), severityNumber: severity, severityText: SEVERITY_TEXT[severity] ?? 'INFO', body, attributes: attributes ?? {}, context: hop.ctx });
  }

  private httpClientAttributes(call: HttpCall, host: string, port: number, peer: string): Attributes {
    const attributes: Attributes = {
      'http.request.method': call.method,
      'url.full': call.url,
      'url.template': call.template,
      'server.address': host,
      'server.port': port,
      'peer.service': peer,
      'network.protocol.version': '1.1',
    };
    const headers = call.headers;
    if (headers) for (const name in headers) attributes[`http.request.header.${name}`] = [headers[name]!];
    if (call.attributes) Object.assign(attributes, call.attributes);
    return attributes;
  }
}
