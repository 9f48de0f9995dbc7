/**
 * The in-memory shape of OTLP trace data (opentelemetry-proto `trace/v1/trace.proto`), shared by
 * the protobuf and JSON decoders, the encoder that writes bus messages, and every stage. Values,
 * attributes, resource and scope are shared with the other signals (`otlp-common.ts`, re-exported
 * here); conventions (hex ids, bigint nanoseconds) are described there.
 */

import {
  countRecords,
  singleResourceRequest,
  type InstrumentationScope,
  type KeyValue,
  type Resource,
  type SignalLayout,
} from './otlp-common.js';

export type { AnyValue, InstrumentationScope, KeyValue, KeyValueList, Resource } from './otlp-common.js';

/** `Span.SpanKind` enum values. */
export const SpanKind = {
  UNSPECIFIED: 0,
  INTERNAL: 1,
  SERVER: 2,
  CLIENT: 3,
  PRODUCER: 4,
  CONSUMER: 5,
} as const;

/** `Status.StatusCode` enum values. */
export const StatusCode = {
  UNSET: 0,
  OK: 1,
  ERROR: 2,
} as const;

export interface SpanEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  flags: number;
}

export interface SpanStatus {
  message: string;
  code: number;
}

export interface Span {
  traceId: string;
  spanId: string;
  traceState: string;
  parentSpanId: string;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  events: SpanEvent[];
  droppedEventsCount: number;
  links: SpanLink[];
  droppedLinksCount: number;
  status: SpanStatus;
}

export interface ScopeSpans {
  scope: InstrumentationScope;
  spans: Span[];
  schemaUrl: string;
}

export interface ResourceSpans {
  resource: Resource;
  scopeSpans: ScopeSpans[];
  schemaUrl: string;
}

/** `ExportTraceServiceRequest` / `TracesData`: the unit the collector receives and the bus carries. */
export interface TracesData {
  resourceSpans: ResourceSpans[];
}

/** How a trace request nests, for code written once for every signal. */
export const TRACES_LAYOUT: SignalLayout<TracesData, ResourceSpans, ScopeSpans, Span> = {
  resourceGroups: (data) => data.resourceSpans,
  scopeGroups: (resource) => resource.scopeSpans,
  records: (scope) => scope.spans,
  request: (resourceSpans) => ({ resourceSpans }),
  resourceGroup: (resource, schemaUrl) => ({ resource, scopeSpans: [], schemaUrl }),
  scopeGroup: (scope, schemaUrl) => ({ scope, spans: [], schemaUrl }),
};

/** Counts the spans in a request without allocating. */
export function countSpans(data: TracesData): number {
  return countRecords(TRACES_LAYOUT, data);
}

/** A span with every field at its proto3 default, then `fields` on top. */
export function createSpan(fields: Partial<Span> = {}): Span {
  return {
    traceId: '',
    spanId: '',
    traceState: '',
    parentSpanId: '',
    flags: 0,
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { message: '', code: 0 },
    ...fields,
  };
}

/** A request of one resource (`service.name` = `serviceName`) and one scope holding `spans`. */
export function createTracesData(serviceName: string, spans: Span[], scope: Partial<InstrumentationScope> = {}): TracesData {
  return singleResourceRequest(TRACES_LAYOUT, serviceName, spans, scope);
}
