/**
 * One webhook delivery of an alert event, built and signed (the alerting stage's request
 * builder; sending and retrying live in alerting-stage.ts):
 *
 * - the body is an Alertmanager webhook (version "4") holding the one alert, so anything that
 *   takes Alertmanager notifications (Grafana OnCall, PagerDuty's and Opsgenie's Alertmanager
 *   integrations, custom handlers) takes chainwatch's; the event id and the numbers behind the
 *   decision ride along under `chainwatch`;
 * - the headers follow Standard Webhooks: `webhook-id` is the event id (the same on every retry
 *   and replay, so a receiver drops duplicates), `webhook-timestamp` the send time in Unix
 *   seconds, `webhook-signature` `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the
 *   receiver's secret.
 *
 * State: none. The body is built once per event and receiver; it is signed again at every attempt,
 * with a fresh timestamp, so a late retry is not refused as a replay by a receiver checking the
 * timestamp's age.
 */
import { createHmac } from 'node:crypto';
import { decodeWebhookSecret } from '../../schemas/alerting-config.js';
import type { AlertEvent } from '../../schemas/alerts.js';

/** What Alertmanager sends as `endsAt` for an alert still firing (Go's zero time). */
export const FIRING_ENDS_AT = '0001-01-01T00:00:00Z';

export interface AlertmanagerAlert {
  status: AlertEvent['status'];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

/** Alertmanager's webhook payload, version 4, plus chainwatch's own fields. */
export interface AlertmanagerWebhook {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: AlertEvent['status'];
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AlertmanagerAlert[];
  chainwatch: { event_id: string; values: Record<string, number> };
}

/**
 * The payload for `receiver`: one group per alert (fingerprint), holding this event. The event's
 * own labels are added to the alert's, but never replace the ones chainwatch sets (alertname,
 * severity, edge…): routing on them must mean what chainwatch decided.
 */
export function alertmanagerPayload(event: AlertEvent, receiver: string): AlertmanagerWebhook {
  const labels: Record<string, string> = {
    alertname: event.rule,
    source: event.source,
    severity: event.severity,
    tenant: event.tenant,
    service: event.service,
    peer: event.peer,
    peer_kind: event.peer_kind,
    edge_id: event.edge_id,
  };
  for (const [k, v] of Object.entries(event.labels)) if (!Object.hasOwn(labels, k)) labels[k] = v;
  const annotations: Record<string, string> = { summary: event.summary };
  for (const [k, v] of Object.entries(event.values)) if (!Object.hasOwn(annotations, k)) annotations[k] = String(v);
  return {
    version: '4',
    groupKey: event.fingerprint,
    truncatedAlerts: 0,
    status: event.status,
    receiver,
    groupLabels: { alertname: event.rule },
    commonLabels: { ...labels },
    commonAnnotations: { summary: event.summary },
    externalURL: '',
    alerts: [
      {
        status: event.status,
        labels,
        annotations,
        startsAt: event.starts_at,
        endsAt: event.ends_at ?? FIRING_ENDS_AT,
        generatorURL: '',
        fingerprint: event.fingerprint,
      },
    ],
    chainwatch: { event_id: event.id, values: event.values },
  };
}

/** A receiver's signing key, decoded once from its `whsec_` secret. Throws (without the secret) when it is not one. */
export function webhookSigningKey(secret: string): Buffer {
  const decoded = decodeWebhookSecret(secret);
  if ('problem' in decoded) throw new Error(decoded.problem);
  return decoded.key;
}

/** `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`: the Standard Webhooks signature. */
export function webhookSignature(key: Buffer, id: string, timestampS: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampS}.${body}`).digest('base64')}`;
}

/** The headers of one attempt: Standard Webhooks id, timestamp and signature, signed at `nowMs`. */
export function webhookHeaders(key: Buffer, id: string, body: string, nowMs: number): Record<string, string> {
  const timestampS = Math.floor(nowMs / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'chainwatch',
    'webhook-id': id,
    'webhook-timestamp': String(timestampS),
    'webhook-signature': webhookSignature(key, id, timestampS, body),
  };
}
