/**
 * Attributes under `chainwatch.` are chainwatch's own (identity metadata the redaction stage
 * derives from credentials, for the inventory to trust). A client could send them to forge an
 * identity or hide a weak credential, so the collector drops them from spans before any stage
 * runs. Returns how many were dropped; each counts as a dropped attribute of its span.
 */
import type { KeyValue, TracesData } from '../schemas/otlp-traces.js';

export const RESERVED_ATTRIBUTE_PREFIX = 'chainwatch.';

export function stripReservedAttributes(data: TracesData): number {
  let dropped = 0;
  for (const rs of data.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        if (!hasReserved(span.attributes)) continue;
        const kept = span.attributes.filter((kv) => !kv.key.startsWith(RESERVED_ATTRIBUTE_PREFIX));
        const n = span.attributes.length - kept.length;
        span.attributes = kept;
        span.droppedAttributesCount += n;
        dropped += n;
      }
    }
  }
  return dropped;
}

function hasReserved(attributes: readonly KeyValue[]): boolean {
  for (const kv of attributes) if (kv.key.startsWith(RESERVED_ATTRIBUTE_PREFIX)) return true;
  return false;
}
