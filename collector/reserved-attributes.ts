/**
 * Attributes under `chainwatch.` are chainwatch's own (identity metadata the redaction stage
 * derives from credentials, for the inventory to trust). A client could send them to forge an
 * identity or hide a weak credential, so the collector drops them from every record — span or log
 * record — before any stage runs. Returns how many were dropped; each counts as a dropped
 * attribute of its record.
 */
import type { KeyValue, ResourceGroup, ScopeGroup, SignalLayout } from '../schemas/otlp-common.js';

export const RESERVED_ATTRIBUTE_PREFIX = 'chainwatch.';

/** What spans and log records have in common here. */
export interface AttributedRecord {
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export function stripReservedAttributes<D, R extends ResourceGroup, S extends ScopeGroup, I extends AttributedRecord>(
  layout: SignalLayout<D, R, S, I>,
  data: D,
): number {
  let dropped = 0;
  for (const rs of layout.resourceGroups(data)) {
    for (const ss of layout.scopeGroups(rs)) {
      for (const record of layout.records(ss)) {
        if (!hasReserved(record.attributes)) continue;
        const kept = record.attributes.filter((kv) => !kv.key.startsWith(RESERVED_ATTRIBUTE_PREFIX));
        const n = record.attributes.length - kept.length;
        record.attributes = kept;
        record.droppedAttributesCount += n;
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
