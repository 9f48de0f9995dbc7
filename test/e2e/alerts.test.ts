/**
 * Alerts end to end, in one embedded process as a newcomer runs it: spans of a service calling a
 * vendor over http:// with a static API key reach the inventory, whose posture findings become
 * alert events, which the alerting role delivers to a real webhook receiver on 127.0.0.1, signed
 * (checked with an independent implementation of Standard Webhooks) and logged.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { waitFor } from '../harness/wait-for.js';
import { startWebhookReceiver, verifyWebhookSignature } from '../harness/webhooks.js';

describe('alerts to a webhook', () => {
  let app: Chainwatch | undefined;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>> | undefined;
  afterAll(async () => {
    await app?.stop();
    await receiver?.close();
  });

  it('delivers the posture findings of a new plaintext edge as signed Alertmanager webhooks, once each', async () => {
    receiver = await startWebhookReceiver();
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    app = await startTestChainwatch(testConfig({ stages: { alerting: { receivers: [{ name: 'oncall', url: receiver.url, secret, min_severity: 'warning' }] } } }));
    const now = BigInt(Date.now()) * 1_000_000n;
    const spans = Array.from({ length: 3 }, (_, i) =>
      createSpan({
        traceId: 'ab'.repeat(16),
        spanId: (i + 1).toString(16).padStart(16, '0'),
        name: 'POST /v1/charges',
        kind: 3,
        startTimeUnixNano: now + BigInt(i),
        endTimeUnixNano: now + BigInt(i) + 40_000_000n,
        attributes: [
          { key: 'peer.service', value: 'acquirer' },
          { key: 'url.full', value: 'http://api.acquirer.test/v1/charges' },
          { key: 'http.request.header.x-api-key', value: ['sk_live_4eC39HqLyjWDarjtT1zdp7dc'] },
        ],
      }),
    );
    for (const round of [1, 2]) {
      const res = await fetch(`${app.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: encodeExportTraceServiceRequest(createTracesData('payments', spans)) });
      expect(res.status, `round ${round}`).toBe(200);
    }
    await waitFor('three webhooks', async () => receiver!.received.length >= 3, 30_000);
    await new Promise((r) => setTimeout(r, 500)); // nothing more comes
    const bodies = receiver.received.map((r) => JSON.parse(r.body) as { version: string; status: string; alerts: { labels: Record<string, string>; annotations: Record<string, string> }[] });
    expect(bodies.map((b) => [b.version, b.status, b.alerts[0]!.labels['alertname'], b.alerts[0]!.labels['severity'], b.alerts[0]!.labels['peer']]).sort()).toEqual([
      ['4', 'firing', 'new_edge', 'warning', 'acquirer'],
      ['4', 'firing', 'plaintext_call', 'critical', 'acquirer'],
      ['4', 'firing', 'static_credential', 'warning', 'acquirer'],
    ]);
    const nowS = Math.floor(Date.now() / 1000);
    for (const r of receiver.received) expect(verifyWebhookSignature(secret, r.headers, r.body, nowS)).toBe(true);
    expect(verifyWebhookSignature(secret, receiver.received[0]!.headers, receiver.received[0]!.body.replace('acquirer', 'acquirex'), nowS)).toBe(false);
    expect(receiver.received.map((r) => r.body).join('')).not.toContain('4eC39HqLyjWDarjtT1zdp7dc');

    const ch = app.clickhouse!;
    const rows = await (await ch.client.query({ query: `SELECT Rule, Delivery, Attempts, HttpStatus FROM ${ch.database}.chainwatch_alert_log ORDER BY Rule`, format: 'JSONEachRow' })).json();
    expect(rows).toEqual([
      { Rule: 'new_edge', Delivery: 'delivered', Attempts: 1, HttpStatus: 200 },
      { Rule: 'plaintext_call', Delivery: 'delivered', Attempts: 1, HttpStatus: 200 },
      { Rule: 'static_credential', Delivery: 'delivered', Attempts: 1, HttpStatus: 200 },
    ]);
  });
});
