/**
 * A real client that is not ours: `telemetrygen` (the OpenTelemetry Collector's load generator,
 * built on the Go SDK's OTLP exporters, installed by the harness with `go install`) sends traces
 * and logs over OTLP/HTTP and OTLP/gRPC, with an API key, to chainwatch with auth on. What it
 * generates is fixed by its source (a client span "lets-go" per trace with server children
 * "okey-dokey-<n>" laid end to end, each exactly --span-duration long), so the stored rows are
 * checked field by field: ids, parentage, kinds, durations, attributes, the tenant stamped by the
 * key, and a secret in a log body masked with its finding.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../collector/auth.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { readStoredLogs } from '../harness/log-expectations.js';
import { readStoredSpans } from '../harness/span-expectations.js';
import { ensureTelemetrygen, runTelemetrygen } from '../harness/telemetrygen.js';

const KEY = `cwk_${randomBytes(18).toString('base64url')}`;
const TENANT = 'ci-tenant';
const TRANSPORTS = ['http', 'grpc'] as const;
type Transport = (typeof TRANSPORTS)[number];

describe('telemetrygen (Go SDK exporters) → chainwatch', () => {
  let binary: string;
  let app: Chainwatch;

  beforeAll(async () => {
    binary = await ensureTelemetrygen();
    app = await startTestChainwatch(testConfig({ collector: { auth: { enabled: true, keys: [{ name: 'telemetrygen', sha256: sha256Hex(KEY), tenant: TENANT }] } } }));
  }, 600_000);
  afterAll(async () => {
    await app?.stop();
  });

  /** Where telemetrygen sends (host:port, no scheme), and its flags for the transport. */
  function target(transport: Transport): string[] {
    const endpoint = transport === 'http' ? new URL(app.otlpHttpUrl!).host : app.otlpGrpcAddress!;
    return ['--otlp-endpoint', endpoint, '--otlp-insecure', ...(transport === 'http' ? ['--otlp-http'] : []), '--otlp-header', `authorization="Bearer ${KEY}"`];
  }

  async function generate(args: string[]): Promise<void> {
    const result = await runTelemetrygen(binary, args);
    // telemetrygen logs export failures but may still exit 0: the stored rows are what count.
    expect(result.stderr).not.toMatch(/"level":"(error|fatal)"|\tERROR\t|\tFATAL\t/);
    expect(result.code).toBe(0);
  }

  it.each(TRANSPORTS)('stores its traces intact over %s', async (transport) => {
    const service = `tg-traces-${transport}`;
    const before = BigInt(Date.now()) * 1_000_000n;
    await generate([
      'traces',
      ...target(transport),
      '--workers', '2',
      '--traces', '5',
      '--child-spans', '3',
      '--span-duration', '250ms',
      '--rate', '0',
      '--status-code', 'Error',
      '--service', service,
      '--otlp-attributes', 'deployment.environment.name="ci"',
      '--telemetry-attributes', 'order.id="o-17"',
      '--telemetry-attributes', 'retry.count=2',
    ]); // prettier-ignore
    const after = BigInt(Date.now()) * 1_000_000n;

    const spans = await readStoredSpans(app.clickhouse!, `ServiceName = '${service}'`);
    expect(spans).toHaveLength(2 * 5 * 4);
    const traces = new Map<string, typeof spans>();
    for (const span of spans) traces.set(span.TraceId, [...(traces.get(span.TraceId) ?? []), span]);
    expect(traces.size).toBe(10);
    expect(new Set(spans.map((s) => s.SpanId)).size).toBe(spans.length);
    for (const [traceId, members] of traces) {
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      const root = members.find((s) => s.SpanName === 'lets-go')!;
      expect(root).toBeDefined();
      expect(root.ParentSpanId).toBe('');
      expect(root.SpanKind).toBe('SPAN_KIND_CLIENT');
      const children = members.filter((s) => s !== root).sort((a, b) => (a.SpanName < b.SpanName ? -1 : 1));
      expect(children.map((c) => c.SpanName)).toEqual(['okey-dokey-0', 'okey-dokey-1', 'okey-dokey-2']);
      // Laid end to end: each child starts where the previous one ended, the root spans all three.
      let start = BigInt(root.TimestampNs);
      for (const child of children) {
        expect(child.ParentSpanId).toBe(root.SpanId);
        expect(child.SpanKind).toBe('SPAN_KIND_SERVER');
        expect(child.TimestampNs).toBe(start.toString());
        expect(child.Duration).toBe('250000000');
        expect(child.SpanAttributes).toEqual({ 'network.peer.address': '1.2.3.4', 'service.peer.name': 'telemetrygen-client', 'order.id': 'o-17', 'retry.count': '2' });
        start += 250_000_000n;
      }
      expect(root.Duration).toBe('750000000');
      expect(BigInt(root.TimestampNs) >= before && BigInt(root.TimestampNs) <= after).toBe(true);
      expect(root.SpanAttributes).toEqual({ 'network.peer.address': '1.2.3.4', 'service.peer.name': 'telemetrygen-server', 'order.id': 'o-17', 'retry.count': '2' });
      for (const span of members) {
        expect(span.StatusCode).toBe('STATUS_CODE_ERROR');
        expect(span.ResourceAttributes).toMatchObject({ 'service.name': service, 'deployment.environment.name': 'ci', 'chainwatch.tenant': TENANT });
        expect(span.ScopeName).toBe('telemetrygen');
      }
    }
  });

  it.each(TRANSPORTS)('stores its logs intact over %s, with a secret in the body masked and reported', async (transport) => {
    const service = `tg-logs-${transport}`;
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const stripeKey = `sk_live_${randomBytes(24).toString('hex')}`;
    await generate([
      'logs',
      ...target(transport),
      '--logs', '6',
      '--rate', '0',
      '--service', service,
      '--body', `charge refused for key ${stripeKey} (retrying)`,
      '--severity-text', 'Error',
      '--severity-number', '17',
      '--trace-id', traceId,
      '--span-id', spanId,
      '--telemetry-attributes', 'order.id="o-18"',
    ]); // prettier-ignore

    const logs = await readStoredLogs(app.clickhouse!, `ServiceName = '${service}'`);
    expect(logs).toHaveLength(6);
    for (const log of logs) {
      expect(log.Body).toBe('charge refused for key [REDACTED:stripe_secret_key] (retrying)');
      expect(log.SeverityText).toBe('Error');
      expect(log.SeverityNumber).toBe(17);
      expect(log.TraceId).toBe(traceId);
      expect(log.SpanId).toBe(spanId);
      expect(log.LogAttributes).toEqual({ app: 'server', 'order.id': 'o-18' });
      expect(log.ResourceAttributes).toMatchObject({ 'service.name': service, 'chainwatch.tenant': TENANT });
    }
    const atRest = await app.clickhouse!.client.query({
      query: `SELECT count() AS n FROM ${app.clickhouse!.database}.otel_logs WHERE position(toString(tuple(*)), {k:String}) > 0`,
      query_params: { k: stripeKey.slice(8) },
      format: 'JSONEachRow',
    });
    expect(await atRest.json()).toEqual([{ n: 0 }]);
    const findings = await app.clickhouse!.client.query({
      query: `SELECT Location, Rule, TraceId, SpanId, count() AS n FROM ${app.clickhouse!.database}.chainwatch_findings WHERE ServiceName = {s:String} GROUP BY ALL`,
      query_params: { s: service },
      format: 'JSONEachRow',
    });
    expect(await findings.json()).toEqual([{ Location: 'log.body', Rule: 'stripe_secret_key', TraceId: traceId, SpanId: spanId, n: 6 }]);
  });

  it('is refused without the key, and nothing of it is stored', async () => {
    const service = 'tg-no-key';
    const endpoint = app.otlpGrpcAddress!;
    const result = await runTelemetrygen(binary, ['traces', '--otlp-endpoint', endpoint, '--otlp-insecure', '--traces', '1', '--rate', '0', '--service', service]);
    expect(`${result.stdout}${result.stderr}`).toMatch(/Unauthenticated|missing API key/);
    expect(await readStoredSpans(app.clickhouse!, `ServiceName = '${service}'`)).toEqual([]);
  });
});
