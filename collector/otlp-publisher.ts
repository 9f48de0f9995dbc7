/**
 * Publishes received requests to the bus as OTLP protobuf `Export…ServiceRequest` messages —
 * spans on the span topic, log records on the log topic — so any OpenTelemetry Collector
 * `kafkareceiver` (encoding `otlp_proto`) can read the topics too. Written once for every signal.
 *
 * Keys: records are grouped into `trace_key_buckets` buckets and each bucket becomes one message
 * keyed by its number. A record's bucket is that of its trace id, so everything about a trace —
 * its spans and the log records emitted inside it, across requests and services — lands on one
 * partition; a log record outside any trace takes a bucket derived from its service name, stable
 * across processes and restarts. A request of hundreds of traces becomes a handful of messages
 * instead of hundreds. The resource and scope of each record travel with it.
 */
import type { Bus, BusMessage } from '../pipeline/bus.js';
import type { Resource, ResourceGroup, ScopeGroup, SignalLayout } from '../schemas/otlp-common.js';
import { LOGS_LAYOUT, type LogRecord, type LogsData, type ResourceLogs } from '../schemas/otlp-logs.js';
import { TRACES_LAYOUT, type Span, type TracesData } from '../schemas/otlp-traces.js';
import { encodeExportLogsServiceRequest } from './otlp-protobuf-logs.js';
import { encodeExportTraceServiceRequest } from './otlp-protobuf.js';

/** Bucket of a trace id: its last four hex digits modulo the bucket count (ids are random there). */
export function traceBucket(traceId: string, buckets: number): number {
  if (buckets <= 1 || traceId.length < 4) return 0;
  const tail = Number.parseInt(traceId.slice(-4), 16);
  return Number.isNaN(tail) ? 0 : tail % buckets;
}

/** Bucket of a service name: 32-bit FNV-1a of its UTF-16 code units modulo the bucket count. */
export function serviceBucket(serviceName: string, buckets: number): number {
  if (buckets <= 1) return 0;
  let hash = 0x811c_9dc5;
  for (let i = 0; i < serviceName.length; i++) hash = Math.imul(hash ^ serviceName.charCodeAt(i), 0x0100_0193);
  return (hash >>> 0) % buckets;
}

/** The `service.name` resource attribute when it is a string, else ''. */
function serviceNameOf(resource: Resource): string {
  for (const kv of resource.attributes) if (kv.key === 'service.name') return typeof kv.value === 'string' ? kv.value : '';
  return '';
}

/** Gives the bucketing function for the records of one resource group. */
export type BucketsOf<R, I> = (resourceGroup: R, buckets: number) => (record: I) => number;

const spanBuckets: BucketsOf<unknown, Span> = (_resource, buckets) => (span) => traceBucket(span.traceId, buckets);

const logRecordBuckets: BucketsOf<ResourceLogs, LogRecord> = (resourceLogs, buckets) => {
  const outsideTraces = serviceBucket(serviceNameOf(resourceLogs.resource), buckets);
  return (record) => (record.traceId === '' ? outsideTraces : traceBucket(record.traceId, buckets));
};

/** Splits a request into one request per bucket, keeping resource and scope with each record. */
export function splitByBucket<D, R extends ResourceGroup, S extends ScopeGroup, I>(
  layout: SignalLayout<D, R, S, I>,
  data: D,
  buckets: number,
  bucketsOf: BucketsOf<R, I>,
): Map<number, D> {
  const out = new Map<number, D>();
  for (const rs of layout.resourceGroups(data)) {
    const bucketOf = bucketsOf(rs, buckets);
    // Per resource: bucket → its copy of the resource group; per scope: bucket → its copy of the scope group.
    const resourceCopies = new Map<number, R>();
    for (const ss of layout.scopeGroups(rs)) {
      const scopeCopies = new Map<number, S>();
      for (const record of layout.records(ss)) {
        const b = bucketOf(record);
        let scopeCopy = scopeCopies.get(b);
        if (!scopeCopy) {
          scopeCopy = layout.scopeGroup(ss.scope, ss.schemaUrl);
          scopeCopies.set(b, scopeCopy);
          let resourceCopy = resourceCopies.get(b);
          if (!resourceCopy) {
            resourceCopy = layout.resourceGroup(rs.resource, rs.schemaUrl);
            resourceCopies.set(b, resourceCopy);
            let request = out.get(b);
            if (!request) out.set(b, (request = layout.request([])));
            layout.resourceGroups(request).push(resourceCopy);
          }
          layout.scopeGroups(resourceCopy).push(scopeCopy);
        }
        layout.records(scopeCopy).push(record);
      }
    }
  }
  return out;
}

/** Splits a trace request by the trace bucket of each span. */
export function splitByTraceBucket(data: TracesData, buckets: number): Map<number, TracesData> {
  return splitByBucket(TRACES_LAYOUT, data, buckets, spanBuckets);
}

/** Splits a logs request by the trace bucket of each record, or its service's bucket outside a trace. */
export function splitLogsByBucket(data: LogsData, buckets: number): Map<number, LogsData> {
  return splitByBucket(LOGS_LAYOUT, data, buckets, logRecordBuckets);
}

export interface PublisherOptions {
  bus: Bus;
  topic: string;
  traceKeyBuckets: number;
}

/** Returns the function the receiver calls with each decoded request; resolves once durable. */
function createPublisher<D>(options: PublisherOptions, split: (data: D, buckets: number) => Map<number, D>, encode: (data: D) => Uint8Array): (data: D) => Promise<void> {
  const { bus, topic, traceKeyBuckets } = options;
  return async (data) => {
    const messages: BusMessage[] = [];
    for (const [bucket, part] of split(data, traceKeyBuckets)) messages.push({ key: String(bucket), value: encode(part) });
    await bus.publish(topic, messages);
  };
}

/** Publishes trace requests to the span topic. */
export function createTracePublisher(options: PublisherOptions): (data: TracesData) => Promise<void> {
  return createPublisher(options, splitByTraceBucket, encodeExportTraceServiceRequest);
}

/** Publishes logs requests to the log topic. */
export function createLogPublisher(options: PublisherOptions): (data: LogsData) => Promise<void> {
  return createPublisher(options, splitLogsByBucket, encodeExportLogsServiceRequest);
}
