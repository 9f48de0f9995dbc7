/**
 * The in-memory shape of OTLP trace data (opentelemetry-proto `trace/v1/trace.proto`), shared by
 * the protobuf and JSON decoders, the encoder that writes bus messages, and every stage.
 *
 * Plain objects, no classes, so a batch is cheap to build and to walk. Ids are lowercase hex
 * (what ClickHouse stores and the OTLP JSON mapping uses); an absent id is ''. Timestamps are
 * unsigned nanoseconds since the epoch as bigint (fixed64 on the wire).
 */

/**
 * An OTLP `AnyValue`. Strings, booleans and doubles map to JS primitives; int64 is a bigint so
 * that the int/double distinction and the full 64-bit range survive a round trip; bytes are a
 * Uint8Array; arrays are JS arrays; key-value lists are `{ kvlist }`; an empty AnyValue is null.
 */
export type AnyValue = string | boolean | number | bigint | Uint8Array | AnyValue[] | KeyValueList | null;

export interface KeyValueList {
  kvlist: KeyValue[];
}

export interface KeyValue {
  key: string;
  value: AnyValue;
}

export interface Resource {
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface InstrumentationScope {
  name: string;
  version: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

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

/** Counts the spans in a request without allocating. */
export function countSpans(data: TracesData): number {
  let n = 0;
  for (const rs of data.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
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
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: serviceName }], droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeSpans: [{ scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0, ...scope }, spans, schemaUrl: '' }],
      },
    ],
  };
}
