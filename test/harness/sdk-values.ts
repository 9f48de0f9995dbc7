/**
 * What the OTLP mapping makes of OpenTelemetry JS SDK values, computed independently of the codecs
 * under test: the model AnyValue of an SDK attribute value or log body (integers become int64,
 * other numbers doubles, objects key-value lists).
 */
import type { Attributes } from '@opentelemetry/api';
import type { AnyValue, KeyValue } from '../../schemas/otlp-common.js';

/** The model value the OTLP mapping gives an SDK attribute value. */
export function expectedAnyValue(value: unknown): AnyValue {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (typeof value === 'string' || typeof value === 'boolean' || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(expectedAnyValue);
  if (value !== null && typeof value === 'object') return { kvlist: expectedKeyValues(value as Attributes) };
  return null;
}

export function expectedKeyValues(attributes: Attributes): KeyValue[] {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: expectedAnyValue(value) }));
}
