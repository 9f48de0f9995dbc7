/**
 * The OpenTelemetry SDK of each demo service, wired the way a user's service is: its own
 * TracerProvider and LoggerProvider with its resource (service.name, service.version,
 * deployment.environment.name …), batch processors, and the real OTLP/HTTP protobuf exporters
 * (`<target>/v1/traces`, `<target>/v1/logs`). Nothing is registered globally: the generator passes
 * contexts explicitly, so several services live in one process.
 *
 * Trace and span ids come from a seeded generator shared by all services, so one seed gives one
 * sequence of ids. Export outcomes are counted; each kind of failure (HTTP 503, ECONNREFUSED …)
 * is reported once, not per export, and never thrown: a demo keeps running while its collector
 * restarts. A 404 on /v1/logs (a collector without a log receiver) is expected and noted quietly.
 */
import type { Tracer } from '@opentelemetry/api';
import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { BatchSpanProcessor, TracerProvider, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from '../pipeline/logger.js';
import { ESTATE_RESOURCE, type ServiceDefinition } from './estate.js';
import { hex8, type Random } from './seeded-random.js';

/** The instrumentation scope of the demo's spans and logs. */
export const DEMO_SCOPE = { name: 'chainwatch-demo', version: '1.0.0' } as const;

export interface ServiceTelemetry {
  readonly service: ServiceDefinition;
  readonly tracer: Tracer;
  readonly logger: OtelLogger;
  forceFlush(): Promise<void>;
  /** Flushes and stops both providers; safe twice. */
  shutdown(): Promise<void>;
}

export interface BatchTuning {
  /** Spans or log records a processor holds before dropping (the SDK's maxQueueSize). */
  maxQueueSize: number;
  /** Items per export request. */
  maxExportBatchSize: number;
  /** How long a processor waits to fill a batch. */
  scheduledDelayMs: number;
  /** How long one export may take, retries included. */
  exportTimeoutMs: number;
}

/** The exporters one service sends through. */
export interface ServiceExporters {
  spans: SpanExporter;
  logs: LogRecordExporter;
}

/** Real OTLP/HTTP protobuf exporters to `target` (a base URL such as http://127.0.0.1:4318). */
export function otlpHttpExporters(target: string, timeoutMs: number): ServiceExporters {
  const base = target.replace(/\/+$/, '');
  return {
    spans: new OTLPTraceExporter({ url: `${base}/v1/traces`, timeoutMillis: timeoutMs }),
    logs: new OTLPLogExporter({ url: `${base}/v1/logs`, timeoutMillis: timeoutMs }),
  };
}

/** Trace and span ids from a seeded generator (the SDK's default draws from Math.random). */
export class SeededIdGenerator implements IdGenerator {
  constructor(private readonly random: Random) {}

  generateTraceId(): string {
    return hex8(this.random) + hex8(this.random) + hex8(this.random) + hex8(this.random);
  }

  generateSpanId(): string {
    return hex8(this.random) + hex8(this.random);
  }
}

export function createServiceTelemetry(options: {
  service: ServiceDefinition;
  /** `service.instance.id`. */
  instanceId: string;
  idGenerator: IdGenerator;
  exporters: ServiceExporters;
  batch: BatchTuning;
  monitor: ExportMonitor;
}): ServiceTelemetry {
  const { service, batch, monitor } = options;
  const resource = defaultResource().merge(
    resourceFromAttributes({
      'service.name': service.name,
      'service.version': service.version,
      'service.instance.id': options.instanceId,
      ...ESTATE_RESOURCE,
    }),
  );
  const processorOptions = {
    maxQueueSize: batch.maxQueueSize,
    maxExportBatchSize: Math.min(batch.maxExportBatchSize, batch.maxQueueSize),
    scheduledDelayMillis: batch.scheduledDelayMs,
    exportTimeoutMillis: batch.exportTimeoutMs,
  };
  const tracerProvider = new TracerProvider({
    resource,
    idGenerator: options.idGenerator,
    spanProcessors: [new BatchSpanProcessor({ ...processorOptions, exporter: new ObservedExporter<ReadableSpan>(options.exporters.spans, 'traces', monitor) })],
  });
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ ...processorOptions, exporter: new ObservedExporter<ReadableLogRecord>(options.exporters.logs, 'logs', monitor) })],
  });
  let stopping: Promise<void> | null = null;
  return {
    service,
    tracer: tracerProvider.getTracer(DEMO_SCOPE.name, DEMO_SCOPE.version),
    logger: loggerProvider.getLogger(DEMO_SCOPE.name, DEMO_SCOPE.version),
    // A failed export is the monitor's business: flush and shutdown never reject.
    forceFlush: async () => {
      await Promise.allSettled([tracerProvider.forceFlush(), loggerProvider.forceFlush()]);
    },
    shutdown: () => (stopping ??= Promise.allSettled([tracerProvider.shutdown(), loggerProvider.shutdown()]).then(() => undefined)),
  };
}

export type Signal = 'traces' | 'logs';

export interface ExportCounts {
  /** Items the collector accepted. */
  exported: number;
  /** Items in failed exports (after the exporter's own retries). */
  failed: number;
}

/**
 * Counts export outcomes per signal and reports each kind of failure once: the first HTTP 503 of
 * the traces exporter is worth a line, the thousandth is not.
 */
export class ExportMonitor {
  readonly counts: Record<Signal, ExportCounts> = { traces: { exported: 0, failed: 0 }, logs: { exported: 0, failed: 0 } };
  /** Failures by kind (`traces: HTTP 503`), with how many exports failed so. */
  readonly failures = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  record(signal: Signal, items: number, result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      this.counts[signal].exported += items;
      return;
    }
    this.counts[signal].failed += items;
    const reason = failureReason(result.error);
    const kind = `${signal}: ${reason}`;
    const seen = this.failures.get(kind) ?? 0;
    this.failures.set(kind, seen + 1);
    if (seen > 0) return;
    if (signal === 'logs' && reason === 'HTTP 404') {
      this.logger.info('the collector does not accept OTLP logs (404 on /v1/logs): demo log records are dropped, traces are unaffected');
    } else {
      this.logger.warn({ signal, reason }, 'demo export failed; further failures of this kind are counted, not logged');
    }
  }
}

/** A short, stable name for an export failure: `HTTP 503`, `ECONNREFUSED`, `timeout`. */
export function failureReason(error: Error | undefined): string {
  if (!error) return 'unknown error';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number') return `HTTP ${code}`;
  if (typeof code === 'string' && code !== '') return code;
  const cause = (error as { cause?: { code?: unknown } }).cause?.code;
  if (typeof cause === 'string' && cause !== '') return cause;
  if (/timed? ?out/i.test(error.message)) return 'timeout';
  return error.message.split('\n')[0]!.slice(0, 80) || error.name;
}

/** What the span and log exporters have in common. */
interface Exporter<T> {
  export(items: T[], done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/** Passes exports through, telling the monitor how each ended. */
class ObservedExporter<T> implements Exporter<T> {
  constructor(
    private readonly inner: Exporter<T>,
    private readonly signal: Signal,
    private readonly monitor: ExportMonitor,
  ) {}

  export(items: T[], done: (result: ExportResult) => void): void {
    this.inner.export(items, (result) => {
      this.monitor.record(this.signal, items.length, result);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
