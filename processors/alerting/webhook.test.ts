/**
 * The request builder on its own: the signature is the Standard Webhooks one (the specification's
 * published test vector, reproduced), and the body is an Alertmanager version 4 webhook. Signatures
 * of real deliveries are checked by an independent verifier (test/harness/webhooks.ts) in
 * alerting-stage.test.ts and the e2e alert test.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { alertEventId, alertEventSchema, alertFingerprint, type AlertEvent } from '../../schemas/alerts.js';
import { alertmanagerPayload, FIRING_ENDS_AT, webhookHeaders, webhookSignature, webhookSigningKey } from './webhook.js';

/** The test vector published with the Standard Webhooks specification and its reference libraries. */
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function event(overrides: Partial<AlertEvent> = {}): AlertEvent {
  const fingerprint = alertFingerprint('sla', 'slo_burn_rate_page', '00000000000000aa');
  const status = overrides.status ?? 'firing';
  const startsAt = '2025-11-23T12:00:00.123456789Z';
  return alertEventSchema.parse({
    id: alertEventId(fingerprint, status, startsAt),
    fingerprint,
    status,
    source: 'sla',
    rule: 'slo_burn_rate_page',
    severity: 'critical',
    summary: 'checkout → stripe burns its error budget 14.4× too fast',
    tenant: 'acme',
    service: 'checkout',
    peer: 'stripe',
    peer_kind: 'service',
    edge_id: '00000000000000aa',
    starts_at: startsAt,
    ends_at: status === 'resolved' ? '2025-11-23T12:30:00Z' : null,
    labels: { window: '1h', severity: 'info', objective: '99.9' },
    values: { burn_rate: 14.4, summary: 3 },
    ...overrides,
  });
}

describe('webhook signature', () => {
  it('reproduces the Standard Webhooks test vector', () => {
    expect(webhookSignature(webhookSigningKey(VECTOR.secret), VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
    // The content signed is id.timestamp.body: any one of them changed, another signature.
    expect(webhookSignature(webhookSigningKey(VECTOR.secret), VECTOR.id, VECTOR.timestamp + 1, VECTOR.body)).not.toBe(VECTOR.signature);
  });

  it('puts the event id, the send time in seconds and the signature in the headers', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const key = webhookSigningKey(secret);
    const body = JSON.stringify(alertmanagerPayload(event(), 'oncall'));
    const headers = webhookHeaders(key, event().id, body, 1_763_900_000_500);
    expect(headers).toEqual({
      'content-type': 'application/json',
      'user-agent': 'chainwatch',
      'webhook-id': event().id,
      'webhook-timestamp': '1763900000',
      'webhook-signature': webhookSignature(key, event().id, 1_763_900_000, body),
    });
  });

  it('refuses a key that is not a Standard Webhooks secret, without repeating it', () => {
    const bad = 'whsec_not*base64';
    expect(() => webhookSigningKey(bad)).toThrow(/not valid base64/);
    try {
      webhookSigningKey(bad);
    } catch (err) {
      expect((err as Error).message).not.toContain('not*base64');
    }
  });
});

describe('Alertmanager payload', () => {
  it('holds one alert with chainwatch labels winning over event labels, values as annotations, Go zero time while firing', () => {
    const firing = event();
    const p = alertmanagerPayload(firing, 'oncall');
    expect(p).toMatchObject({ version: '4', groupKey: firing.fingerprint, truncatedAlerts: 0, status: 'firing', receiver: 'oncall', externalURL: '', groupLabels: { alertname: 'slo_burn_rate_page' } });
    const labels = {
      alertname: 'slo_burn_rate_page',
      source: 'sla',
      severity: 'critical',
      tenant: 'acme',
      service: 'checkout',
      peer: 'stripe',
      peer_kind: 'service',
      edge_id: '00000000000000aa',
      window: '1h',
      objective: '99.9',
    };
    expect(p.commonLabels).toEqual(labels);
    expect(p.commonAnnotations).toEqual({ summary: firing.summary });
    expect(p.alerts).toEqual([
      {
        status: 'firing',
        labels,
        annotations: { summary: firing.summary, burn_rate: '14.4' },
        startsAt: '2025-11-23T12:00:00.123456789Z',
        endsAt: FIRING_ENDS_AT,
        generatorURL: '',
        fingerprint: firing.fingerprint,
      },
    ]);
    expect(p.chainwatch).toEqual({ event_id: firing.id, values: { burn_rate: 14.4, summary: 3 } });
    expect(FIRING_ENDS_AT).toBe('0001-01-01T00:00:00Z');

    const resolved = alertmanagerPayload(event({ status: 'resolved' }), 'oncall');
    expect(resolved.status).toBe('resolved');
    expect(resolved.alerts[0]!.endsAt).toBe('2025-11-23T12:30:00Z');
    expect(resolved.chainwatch.event_id).not.toBe(firing.id);
  });
});
