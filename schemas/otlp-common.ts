/**
 * The in-memory shape shared by every OTLP signal (opentelemetry-proto `common/v1/common.proto`,
 * `resource/v1/resource.proto`): values, attributes, resource and instrumentation scope; and
 * {@link SignalLayout}, the one description of how a signal's request nests, so that code which
 * walks or regroups requests (redaction, publishing, the receiver) is written once for traces and
 * logs alike.
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

/** What `ResourceSpans` and `ResourceLogs` have in common (besides their list of scope groups). */
export interface ResourceGroup {
  resource: Resource;
  schemaUrl: string;
}

/** What `ScopeSpans` and `ScopeLogs` have in common (besides their list of records). */
export interface ScopeGroup {
  scope: InstrumentationScope;
  schemaUrl: string;
}

/**
 * How one signal's request nests: request → resource groups → scope groups → records (spans, log
 * records). Accessors return the live arrays, so a caller may push into a group it built.
 */
export interface SignalLayout<Data, R extends ResourceGroup, S extends ScopeGroup, Item> {
  resourceGroups(data: Data): R[];
  scopeGroups(resource: R): S[];
  records(scope: S): Item[];
  /** A request holding `resources`. */
  request(resources: R[]): Data;
  /** A resource group with no scope groups yet. */
  resourceGroup(resource: Resource, schemaUrl: string): R;
  /** A scope group with no records yet. */
  scopeGroup(scope: InstrumentationScope, schemaUrl: string): S;
}

/** Counts the records of a request without allocating. */
export function countRecords<D, R extends ResourceGroup, S extends ScopeGroup, I>(layout: SignalLayout<D, R, S, I>, data: D): number {
  let n = 0;
  for (const rs of layout.resourceGroups(data)) for (const ss of layout.scopeGroups(rs)) n += layout.records(ss).length;
  return n;
}

/** A request of one resource (`service.name` = `serviceName`) and one scope holding `records`. */
export function singleResourceRequest<D, R extends ResourceGroup, S extends ScopeGroup, I>(
  layout: SignalLayout<D, R, S, I>,
  serviceName: string,
  records: I[],
  scope: Partial<InstrumentationScope> = {},
): D {
  const resource = layout.resourceGroup({ attributes: [{ key: 'service.name', value: serviceName }], droppedAttributesCount: 0 }, '');
  const scopeGroup = layout.scopeGroup({ name: '', version: '', attributes: [], droppedAttributesCount: 0, ...scope }, '');
  layout.records(scopeGroup).push(...records);
  layout.scopeGroups(resource).push(scopeGroup);
  return layout.request([resource]);
}
