/**
 * Attribute limits, applied by the collector to every request the way the OpenTelemetry SDKs
 * apply theirs (AttributeCountLimit, AttributeValueLengthLimit), so one misbehaving client cannot
 * make rows of unbounded width:
 * - beyond `maxAttributes` on a resource, scope, span, event, link or log record, the further
 *   attributes are dropped and counted in that element's `dropped_attributes_count`;
 * - string values longer than `maxValueLength` characters (and strings inside array values) are
 *   truncated to it. Other types are left alone, as in the SDKs.
 * Everything applied is counted in `AttributeLimitCounts`, which the process logs as a summary.
 */
import type { AnyValue, KeyValue, ResourceGroup, ScopeGroup, SignalLayout } from '../schemas/otlp-common.js';
import type { Span } from '../schemas/otlp-traces.js';
import type { AttributedRecord } from './reserved-attributes.js';

export interface AttributeLimits {
  maxAttributes: number;
  maxValueLength: number;
}

/** What the limits did since start. */
export interface AttributeLimitCounts {
  /** Attributes dropped beyond the count limit. */
  attributesDropped: number;
  /** String values truncated (each string inside an array counts once). */
  valuesTruncated: number;
}

interface Attributed {
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export function applyAttributeLimits<D, R extends ResourceGroup, S extends ScopeGroup, I extends AttributedRecord>(
  layout: SignalLayout<D, R, S, I>,
  data: D,
  limits: AttributeLimits,
  counts: AttributeLimitCounts,
): void {
  const limit = (element: Attributed): void => {
    const attrs = element.attributes;
    if (attrs.length > limits.maxAttributes) {
      const extra = attrs.length - limits.maxAttributes;
      attrs.length = limits.maxAttributes;
      element.droppedAttributesCount += extra;
      counts.attributesDropped += extra;
    }
    for (const kv of attrs) {
      const v = kv.value;
      if (typeof v === 'string') {
        if (v.length > limits.maxValueLength) {
          kv.value = truncate(v, limits.maxValueLength);
          counts.valuesTruncated++;
        }
      } else if (Array.isArray(v)) kv.value = truncateArray(v, limits.maxValueLength, counts);
    }
  };
  for (const rg of layout.resourceGroups(data)) {
    limit(rg.resource);
    for (const sg of layout.scopeGroups(rg)) {
      limit(sg.scope);
      for (const record of layout.records(sg)) {
        limit(record);
        const span = record as unknown as Partial<Span>;
        if (span.events) for (const e of span.events) limit(e);
        if (span.links) for (const l of span.links) limit(l);
      }
    }
  }
}

function truncateArray(values: AnyValue[], max: number, counts: AttributeLimitCounts): AnyValue[] {
  let out: AnyValue[] | null = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (typeof v === 'string' && v.length > max) {
      out ??= values.slice();
      out[i] = truncate(v, max);
      counts.valuesTruncated++;
    }
  }
  return out ?? values;
}

/** The first `max` characters, never splitting a surrogate pair. */
function truncate(s: string, max: number): string {
  const code = s.charCodeAt(max - 1);
  return code >= 0xd800 && code <= 0xdbff ? s.slice(0, max - 1) : s.slice(0, max);
}
