/**
 * The demo's traffic as the SDK produces it (in-memory exporters, no network): one seed gives one
 * sequence of traces; the estate has the services, sub-processors, call shapes and credentials
 * the issue asks for; the incidents bend the traffic inside their windows only.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemoryLogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../pipeline/logger.js';
import { parseJwt } from '../processors/redaction/validators.js';
import { createEstateTelemetry } from './demo-runner.js';
import { SERVICE_NAMES } from './estate.js';
import { ExportMonitor } from './service-telemetry.js';
import { createDemoEstate, TrafficGenerator, type EstateOptions } from './trace-generator.js';

/** 2026-01-01T00:00:00Z: a pinned start, so timestamps repeat too. */
const START = 1_767_225_600_000;

interface Generated {
  spans: ReadableSpan[];
  logs: ReadableLogRecord[];
  generator: TrafficGenerator;
}

async function generate(options: Partial<EstateOptions> & { seed: number }, untilMs: number): Promise<Generated> {
  const spanExporter = new InMemorySpanExporter();
  const logExporter = new InMemoryLogRecordExporter();
  const estate = createDemoEstate({ rate: 50, incidents: 'none', ...options });
  const telemetry = createEstateTelemetry(estate, {
    exporters: () => ({ spans: spanExporter, logs: logExporter }),
    batch: { maxQueueSize: 1_000_000, maxExportBatchSize: 1_000_000, scheduledDelayMs: 3_600_000, exportTimeoutMs: 10_000 },
    monitor: new ExportMonitor(silentLogger()),
  });
  const generator = new TrafficGenerator(estate, telemetry, START);
  generator.emitUntil(untilMs);
  await Promise.all(Object.values(telemetry).map((t) => t.forceFlush()));
  const out = { spans: [...spanExporter.getFinishedSpans()], logs: [...logExporter.getFinishedLogRecords()], generator };
  await Promise.all(Object.values(telemetry).map((t) => t.shutdown()));
  return out;
}

const service = (span: ReadableSpan): string => String(span.resource.attributes['service.name']);
const ms = (t: readonly [number, number]): number => t[0] * 1000 + t[1] / 1e6;
const header = (span: ReadableSpan, name: string): string | undefined => (span.attributes[`http.request.header.${name}`] as string[] | undefined)?.[0];
const clientSpans = (spans: ReadableSpan[]): ReadableSpan[] => spans.filter((s) => s.kind === SpanKind.CLIENT || s.kind === SpanKind.PRODUCER);

/** Everything a span says, for comparing runs. */
function spanFacts(span: ReadableSpan): unknown {
  return [
    span.spanContext().traceId,
    span.spanContext().spanId,
    span.parentSpanContext?.spanId,
    service(span),
    span.name,
    span.kind,
    span.startTime,
    span.endTime,
    span.attributes,
    span.status,
    span.events.map((e) => [e.name, e.time, e.attributes]),
    span.resource.attributes,
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe('demo traffic generator', () => {
  it('gives the same sequence of traces for the same seed, and another for another seed', async () => {
    const a = await generate({ seed: 42 }, 10_000);
    const b = await generate({ seed: 42 }, 10_000);
    expect(a.spans.length).toBeGreaterThan(2000);
    expect(a.generator.traces).toBeGreaterThan(400);
    expect(b.spans.map(spanFacts)).toEqual(a.spans.map(spanFacts));
    const logFacts = (l: ReadableLogRecord): unknown => [l.hrTime, l.severityText, l.body, l.attributes, l.spanContext?.traceId, l.spanContext?.spanId, l.resource.attributes['service.name']];
    expect(b.logs.map(logFacts)).toEqual(a.logs.map(logFacts));
    expect(a.logs.length).toBeGreaterThan(100);

    const c = await generate({ seed: 43 }, 10_000);
    const traceIds = new Set(a.spans.map((s) => s.spanContext().traceId));
    expect(c.spans.some((s) => traceIds.has(s.spanContext().traceId))).toBe(false);
    expect(c.spans.length).not.toBe(a.spans.length);
  });

  it('runs 8 services calling more than 10 sub-processors, with the semantic conventions of each kind of call', async () => {
    const { spans } = await generate({ seed: 7 }, 20_000);
    const services = new Set(spans.map(service));
    expect([...services].sort()).toEqual([...SERVICE_NAMES].sort());
    const external = new Set(clientSpans(spans).map((s) => String(s.attributes['peer.service'])).filter((p) => !services.has(p)));
    expect([...external].sort()).toEqual(['auth0', 'aws-s3', 'google-maps', 'kafka', 'openai', 'orders-postgres', 'sendgrid', 'sessions-redis', 'slack', 'stripe', 'twilio']);

    const resource = spans.find((s) => service(s) === 'payments')!.resource.attributes;
    expect(resource).toMatchObject({ 'service.name': 'payments', 'service.version': '2.8.0', 'deployment.environment.name': 'demo', 'telemetry.sdk.language': 'nodejs' });

    const stripe = spans.find((s) => s.attributes['peer.service'] === 'stripe')!;
    expect(stripe.kind).toBe(SpanKind.CLIENT);
    expect(stripe.attributes).toMatchObject({ 'http.request.method': 'POST', 'server.address': 'api.stripe.com', 'server.port': 443 });
    expect(stripe.attributes['url.full']).toMatch(/^https:\/\/api\.stripe\.com\/v1\//);
    expect(typeof stripe.attributes['http.response.status_code']).toBe('number');
    const grpc = spans.find((s) => s.kind === SpanKind.CLIENT && s.attributes['rpc.system.name'] === 'grpc')!;
    expect(grpc.attributes).toMatchObject({ 'rpc.method': 'acme.auth.v1.TokenService/Introspect', 'peer.service': 'auth' });
    expect(grpc.attributes['rpc.status_code']).toBeDefined();
    const sql = spans.find((s) => s.attributes['db.system.name'] === 'postgresql')!;
    expect(sql.attributes).toMatchObject({ 'db.system': 'postgresql', 'server.address': 'orders-db.internal' });
    expect(sql.attributes['db.query.text']).toMatch(/^(SELECT|INSERT|UPDATE) /);
    const send = spans.find((s) => s.kind === SpanKind.PRODUCER)!;
    expect(send.attributes).toMatchObject({ 'messaging.system': 'kafka', 'messaging.operation.type': 'send', 'messaging.destination.name': 'orders.created' });
    const process = spans.find((s) => s.kind === SpanKind.CONSUMER && s.parentSpanContext?.spanId === send.spanContext().spanId)!;
    expect(process.attributes).toMatchObject({ 'messaging.operation.type': 'process', 'messaging.destination.name': 'orders.created' });
    expect(process.spanContext().traceId).toBe(send.spanContext().traceId);
  });

  it('puts the client span of one service and the server span of the callee in one trace, parent and child', async () => {
    const { spans } = await generate({ seed: 7 }, 10_000);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const internal = clientSpans(spans).filter((s) => (SERVICE_NAMES as readonly string[]).includes(String(s.attributes['peer.service'])));
    expect(internal.length).toBeGreaterThan(200);
    const servers = spans.filter((s) => s.kind === SpanKind.SERVER && s.parentSpanContext);
    const childOf = new Map(servers.map((s) => [s.parentSpanContext!.spanId, s]));
    for (const client of internal) {
      const server = childOf.get(client.spanContext().spanId);
      expect(server, `server span under ${service(client)} → ${String(client.attributes['peer.service'])}`).toBeDefined();
      expect(service(server!)).toBe(client.attributes['peer.service']);
      expect(server!.spanContext().traceId).toBe(client.spanContext().traceId);
      expect(ms(server!.startTime)).toBeGreaterThan(ms(client.startTime));
      expect(ms(server!.endTime)).toBeLessThan(ms(client.endTime));
    }
    // Every span's parent is in the same trace, and each trace has one root.
    const roots = new Map<string, number>();
    for (const span of spans) {
      const traceId = span.spanContext().traceId;
      if (span.parentSpanContext) expect(byId.get(span.parentSpanContext.spanId)?.spanContext().traceId).toBe(traceId);
      else roots.set(traceId, (roots.get(traceId) ?? 0) + 1);
    }
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(roots.size);
    expect([...roots.values()].every((n) => n === 1)).toBe(true);
  });

  it('carries credentials as real services do, plaintext internal calls, mTLS on one edge and one shared key', async () => {
    const { spans } = await generate({ seed: 7 }, 20_000);
    const calls = clientSpans(spans);
    const toPayments = calls.filter((s) => service(s) === 'checkout' && s.attributes['peer.service'] === 'payments');
    const jwt = parseJwt(header(toPayments[0]!, 'authorization')!.replace(/^Bearer /, ''))!;
    expect(jwt.payload).toMatchObject({ iss: 'https://acme-shop.eu.auth0.com/', scope: 'payments:create payments:read', aud: 'https://payments.internal' });
    expect(jwt.payload!['sub']).toMatch(/^[A-Za-z0-9]{32}@clients$/);
    expect(jwt.payload!['exp']).toBeGreaterThan(START / 1000);

    const keyOf = (peer: string, name = 'authorization'): string | undefined => header(calls.find((s) => s.attributes['peer.service'] === peer && header(s, name))!, name);
    expect(keyOf('stripe')).toMatch(/^Bearer rk_live_[A-Za-z0-9]{99}$/);
    expect(keyOf('sendgrid')).toMatch(/^Bearer SG\.[\w-]{22}\.[\w-]{43}$/);
    expect(keyOf('slack')).toMatch(/^Bearer xoxb-\d+-\d+-\w+$/);
    expect(keyOf('twilio')).toMatch(/^Basic [A-Za-z0-9+/]+=*$/);
    expect(keyOf('aws-s3')).toMatch(/^AWS4-HMAC-SHA256 Credential=A[KS]IA[A-Z2-7]{16}\/\d{8}\/eu-west-1\/s3\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/);
    expect(keyOf('google-maps', 'x-goog-api-key')).toMatch(/^AIza[\w-]{35}$/);
    expect(keyOf('notifications', 'x-api-key')).toMatch(/^ntf_live_\w{40}$/);

    // Plaintext internal calls: http:// and no credential among the recorded headers.
    const toCatalog = calls.filter((s) => s.attributes['peer.service'] === 'catalog');
    expect(toCatalog.length).toBeGreaterThan(50);
    expect(toCatalog.every((s) => String(s.attributes['url.full']).startsWith('http://catalog.internal:8080/') && header(s, 'authorization') === undefined && header(s, 'accept'))).toBe(true);
    // mTLS: the certificate is the credential; no headers recorded.
    const relayed = calls.filter((s) => service(s) === 'webhook-relay' && s.attributes['peer.service'] === 'payments');
    expect(relayed.length).toBeGreaterThan(5);
    expect(relayed.every((s) => s.attributes['tls.client.subject'] === 'CN=webhook-relay.internal,OU=services,O=Acme Shop' && !Object.keys(s.attributes).some((k) => k.startsWith('http.request.header.')))).toBe(true);
    // One key shared: billing-worker calls Stripe with payments' key; every other key has one owner.
    const owners = new Map<string, Set<string>>();
    for (const span of calls) {
      for (const [key, value] of Object.entries(span.attributes)) {
        if (!/^http\.request\.header\.(authorization|x-api-key|x-goog-api-key)$/.test(key) || String(span.attributes['peer.service']) === 'payments') continue;
        const credential = (value as string[])[0]!;
        (owners.get(credential) ?? owners.set(credential, new Set()).get(credential)!).add(service(span));
      }
    }
    const shared = [...owners.entries()].filter(([, s]) => s.size > 1);
    expect(shared.map(([credential, s]) => [credential.slice(0, 15), [...s].sort()])).toEqual([['Bearer rk_live_', ['billing-worker', 'payments']]]);
  });

  it('leaks a token now and then: in a URL query, a SQL literal, an exception message and a log body', async () => {
    const { spans, logs } = await generate({ seed: 11, incidents: ['error-burst'], durationS: 120 }, 120_000);
    expect(spans.some((s) => /[?&]key=AIza/.test(String(s.attributes['url.full'])))).toBe(true);
    expect(spans.some((s) => /VALUES \('usr_\w+', 'eyJ/.test(String(s.attributes['db.query.text'])))).toBe(true);
    expect(spans.some((s) => s.events.some((e) => e.name === 'exception' && /api_key=rk_live_/.test(String(e.attributes?.['exception.message']))))).toBe(true);
    expect(logs.some((l) => /Authorization: Basic /.test(String(l.body)))).toBe(true);
    // Log records sit in their trace.
    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    expect(logs.every((l) => l.spanContext !== undefined && traceIds.has(l.spanContext.traceId))).toBe(true);
  });

  it('bends the traffic during each incident and only then', async () => {
    const durationS = 60;
    const { spans, generator } = await generate({ seed: 3, incidents: 'all', durationS }, durationS * 1000);
    const schedule = createDemoEstate({ seed: 3, rate: 50, incidents: 'all', durationS }).schedule;
    const window = (kind: string): [number, number] => {
      const incident = schedule.incidents().find((i) => i.kind === kind)!;
      return [START + incident.startMs, START + (incident.endMs ?? durationS * 1000)];
    };
    const inside = (span: ReadableSpan, [from, to]: [number, number]): boolean => ms(span.startTime) >= from && ms(span.startTime) < to;
    const calls = clientSpans(spans);

    const spike = window('latency-spike');
    const stripe = calls.filter((s) => s.attributes['peer.service'] === 'stripe');
    const duration = (s: ReadableSpan): number => ms(s.endTime) - ms(s.startTime);
    expect(median(stripe.filter((s) => inside(s, spike)).map(duration))).toBeGreaterThan(8 * median(stripe.filter((s) => !inside(s, spike)).map(duration)));

    const burst = window('error-burst');
    const twilio = calls.filter((s) => s.attributes['peer.service'] === 'twilio');
    const errorShare = (list: ReadableSpan[]): number => list.filter((s) => s.status.code === SpanStatusCode.ERROR).length / list.length;
    expect(errorShare(twilio.filter((s) => inside(s, burst)))).toBeGreaterThan(0.5);
    expect(errorShare(twilio.filter((s) => !inside(s, burst)))).toBeLessThan(0.1);

    const leak = window('token-leak');
    const slackInQuery = calls.filter((s) => String(s.attributes['url.full']).includes('?token=xoxb-'));
    expect(slackInQuery.length).toBeGreaterThan(0);
    expect(slackInQuery.every((s) => inside(s, leak))).toBe(true);

    const [vendorFrom] = window('new-vendor');
    const anthropic = calls.filter((s) => s.attributes['peer.service'] === 'anthropic');
    expect(anthropic.length).toBeGreaterThan(0);
    expect(Math.min(...anthropic.map((s) => ms(s.startTime)))).toBeGreaterThanOrEqual(vendorFrom);

    const downgrade = window('auth-downgrade');
    const toPayments = calls.filter((s) => service(s) === 'checkout' && s.attributes['peer.service'] === 'payments');
    expect(toPayments.filter((s) => inside(s, downgrade)).every((s) => header(s, 'authorization') === undefined && header(s, 'x-request-id'))).toBe(true);
    expect(toPayments.filter((s) => !inside(s, downgrade)).every((s) => header(s, 'authorization')?.startsWith('Bearer eyJ'))).toBe(true);

    const cliff = window('traffic-cliff');
    const searches = spans.filter((s) => service(s) === 'search' && !s.parentSpanContext);
    const perSecond = (from: number, to: number): number => searches.filter((s) => inside(s, [from, to])).length / ((to - from) / 1000);
    const before = perSecond(cliff[0] - 10_000, cliff[0]);
    expect(before).toBeGreaterThan(5);
    expect(perSecond(cliff[0], cliff[1])).toBeLessThan(before * 0.2);
    expect(generator.thinned).toBeGreaterThan(0);
  });
});
