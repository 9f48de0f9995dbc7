/**
 * What the OTLP mapping and the ClickHouse exporter make of OpenTelemetry JS SDK values, computed
 * independently of the code under test: the model AnyValue of an SDK attribute value or log body
 * (integers become int64, other numbers doubles, objects key-value lists), and the string a
 * ClickHouse column holds for it (pcommon's AsString).
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

/**
 * An SDK attribute value or log body as the ClickHouse exporter stores it (pcommon AsString):
 * strings as they are, bytes as base64, arrays and maps as JSON (map keys sorted, bytes inside as
 * base64), absent as ''.
 */
export function storedValue(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'object') return JSON.stringify(jsonForm(value));
  return String(value);
}

function jsonForm(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(jsonForm);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, jsonForm((value as Record<string, unknown>)[key])]));
  }
  return value ?? null;
}

/** Attributes as a ClickHouse `Map(LowCardinality(String), String)` column holds them. */
export function storedAttributes(attributes: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) out[key] = storedValue(value);
  return out;
}
