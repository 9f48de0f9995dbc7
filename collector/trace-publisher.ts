/**
 * Publishes received trace data to the span topic as OTLP protobuf `ExportTraceServiceRequest`
 * messages, so any OpenTelemetry Collector `kafkareceiver` (encoding `otlp_proto`) can read the
 * topic too.
 *
 * Keys: spans are grouped by a bucket of their trace id (`trace_key_buckets` buckets) and each
 * bucket becomes one message keyed by its number, so all spans of a trace — across requests and
 * services — land on the same partition, while a request of hundreds of traces becomes a handful
 * of messages instead of hundreds. The resource and scope of each span travel with it.
 */
import type { Bus, BusMessage } from '../pipeline/bus.js';
import type { ResourceSpans, ScopeSpans, TracesData } from '../schemas/otlp-traces.js';
import { encodeExportTraceServiceRequest } from './otlp-protobuf.js';

/** Bucket of a trace id: its last four hex digits modulo the bucket count (ids are random there). */
export function traceBucket(traceId: string, buckets: number): number {
  if (buckets <= 1 || traceId.length < 4) return 0;
  const tail = Number.parseInt(traceId.slice(-4), 16);
  return Number.isNaN(tail) ? 0 : tail % buckets;
}

/** Splits a request into one request per trace bucket, keeping resource and scope with each span. */
export function splitByTraceBucket(data: TracesData, buckets: number): Map<number, TracesData> {
  const out = new Map<number, TracesData>();
  for (const rs of data.resourceSpans) {
    // Per resource: bucket → its ResourceSpans copy; per scope: bucket → its ScopeSpans copy.
    const resourceCopies = new Map<number, ResourceSpans>();
    for (const ss of rs.scopeSpans) {
      const scopeCopies = new Map<number, ScopeSpans>();
      for (const span of ss.spans) {
        const b = traceBucket(span.traceId, buckets);
        let scopeCopy = scopeCopies.get(b);
        if (!scopeCopy) {
          scopeCopy = { scope: ss.scope, spans: [], schemaUrl: ss.schemaUrl };
          scopeCopies.set(b, scopeCopy);
          let resourceCopy = resourceCopies.get(b);
          if (!resourceCopy) {
            resourceCopy = { resource: rs.resource, scopeSpans: [], schemaUrl: rs.schemaUrl };
            resourceCopies.set(b, resourceCopy);
            let request = out.get(b);
            if (!request) out.set(b, (request = { resourceSpans: [] }));
            request.resourceSpans.push(resourceCopy);
          }
          resourceCopy.scopeSpans.push(scopeCopy);
        }
        scopeCopy.spans.push(span);
      }
    }
  }
  return out;
}

export interface TracePublisherOptions {
  bus: Bus;
  topic: string;
  traceKeyBuckets: number;
}

/** Returns the function the receiver calls with each decoded request; resolves once durable. */
export function createTracePublisher(options: TracePublisherOptions): (data: TracesData) => Promise<void> {
  const { bus, topic, traceKeyBuckets } = options;
  return async (data) => {
    const messages: BusMessage[] = [];
    for (const [bucket, part] of splitByTraceBucket(data, traceKeyBuckets)) {
      messages.push({ key: String(bucket), value: encodeExportTraceServiceRequest(part) });
    }
    await bus.publish(topic, messages);
  };
}
