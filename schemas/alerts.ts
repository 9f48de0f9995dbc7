/**
 * Alert events: what the detecting roles (sla, anomaly, inventory) publish on the alerts topic and
 * the alerting role delivers to webhooks. JSON lines (schemas/json-lines.ts), keyed by
 * `fingerprint`, so every event of one alert stays in order on one partition.
 *
 * An alert is identified by its fingerprint (which detector, which rule, which edge); it fires,
 * then resolves. An event's `id` is deterministic (fingerprint, status, starts_at), so an event
 * published twice after a replay has the same id: the alerting role and any receiver can drop the
 * second copy (`webhook-id` in the delivery headers).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PEER_KINDS } from '../processors/inventory/call-peer.js';
import { decodeJsonLines, encodeJsonLines } from './json-lines.js';

const ALERT_SOURCES = ['sla', 'anomaly', 'inventory'] as const;
export const ALERT_SEVERITIES = ['critical', 'warning', 'info'] as const;

const isoTime = z.iso.datetime({ offset: true });

export const alertEventSchema = z.strictObject({
  /** 32 hex digits: alertEventId(fingerprint, status, starts_at). */
  id: z.string().regex(/^[0-9a-f]{32}$/),
  /** 16 hex digits: alertFingerprint(source, rule, edge_id). */
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
  status: z.enum(['firing', 'resolved']),
  source: z.enum(ALERT_SOURCES),
  /** The detector's rule, e.g. `slo_burn_rate_page`, `latency_anomaly`, `new_edge`. */
  rule: z.string().min(1),
  severity: z.enum(ALERT_SEVERITIES),
  /** One line for a human, no record contents. */
  summary: z.string().min(1).max(1024),
  tenant: z.string(),
  service: z.string(),
  peer: z.string(),
  peer_kind: z.enum(PEER_KINDS),
  edge_id: z.string().regex(/^[0-9a-f]{16}$/),
  /** When the condition began (RFC 3339, event time of the telemetry). */
  starts_at: isoTime,
  /** When it ended; null while firing. */
  ends_at: isoTime.nullable(),
  /** Extra labels (e.g. window, objective). */
  labels: z.record(z.string(), z.string()),
  /** Numbers behind the decision (burn rates, observed and expected values). */
  values: z.record(z.string(), z.number()),
});

export type AlertEvent = z.infer<typeof alertEventSchema>;

export function alertFingerprint(source: AlertEvent['source'], rule: string, edgeId: string): string {
  return createHash('sha256').update(`${source}\0${rule}\0${edgeId}`).digest('hex').slice(0, 16);
}

export function alertEventId(fingerprint: string, status: AlertEvent['status'], startsAt: string): string {
  return createHash('sha256').update(`${fingerprint}\0${status}\0${startsAt}`).digest('hex').slice(0, 32);
}

export function encodeAlertEvents(events: readonly AlertEvent[]): Uint8Array {
  return encodeJsonLines(events);
}

/** Bus messages for the alerts topic: the events of each alert in one message keyed by its fingerprint, in order. */
export function alertEventMessages(events: readonly AlertEvent[]): { key: string; value: Uint8Array }[] {
  const byFingerprint = new Map<string, AlertEvent[]>();
  for (const e of events) {
    const list = byFingerprint.get(e.fingerprint);
    if (list) list.push(e);
    else byFingerprint.set(e.fingerprint, [e]);
  }
  return [...byFingerprint].map(([key, list]) => ({ key, value: encodeAlertEvents(list) }));
}

/** Throws an Error naming the first bad line. */
export function decodeAlertEvents(bytes: Uint8Array): AlertEvent[] {
  return decodeJsonLines(bytes, alertEventSchema, 'alert events');
}
