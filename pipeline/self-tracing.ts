/**
 * chainwatch tracing itself (`self_tracing:`, off by default): a span per ingest request
 * (`ingest traces` / `ingest logs`) and per stage batch (`stage storage`, …), with counts and
 * outcomes as attributes — never record contents — sent by the OpenTelemetry SDK's batch processor
 * over OTLP/HTTP to another collector. The config refuses an endpoint that is this process's own
 * receiver, and nothing here is instrumented automatically (no HTTP instrumentation), so the
 * export itself is never traced and no span ever comes back into chainwatch's own ingest.
 *
 * Attribute names stay outside `chainwatch.*`, which a receiving chainwatch keeps for its own
 * derived attributes and drops from what clients send.
 *
 * The tracer provider belongs to one running chainwatch and is not registered globally: two
 * instances in one process (tests) keep their spans apart, and the demo's SDKs are untouched.
 */
import { SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Config } from '../schemas/config.js';
import { errorSummary } from './errors.js';

export interface SelfTracing {
  /** Runs `work` inside a span named `name` (when tracing is on); the span ends with its outcome. */
  span<T>(name: string, attributes: Attributes, work: (span: Span | null) => Promise<T>): Promise<T>;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** Tracing off: the work runs without a span. */
export const SELF_TRACING_OFF: SelfTracing = {
  span: (_name, _attributes, work) => work(null),
  shutdown: async () => {},
};

export function startSelfTracing(config: Config, roles: readonly string[]): SelfTracing {
  const settings = config.self_tracing;
  if (!settings.enabled || !settings.endpoint) return SELF_TRACING_OFF;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.service_name, 'pipeline.roles': roles.join(',') }),
    sampler: new TraceIdRatioBasedSampler(settings.sample_ratio),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${settings.endpoint.replace(/\/+$/, '')}/v1/traces`, timeoutMillis: 10_000 }) })],
  });
  const tracer: Tracer = provider.getTracer('chainwatch');
  return {
    span: (name, attributes, work) =>
      tracer.startActiveSpan(name, { attributes }, async (span) => {
        try {
          return await work(span);
        } catch (err) {
          // The error's kind only: a sink's message can quote the data it refused.
          span.setStatus({ code: SpanStatusCode.ERROR, message: errorSummary(err).type });
          throw err;
        } finally {
          span.end();
        }
      }),
    shutdown: () => provider.shutdown(),
  };
}
