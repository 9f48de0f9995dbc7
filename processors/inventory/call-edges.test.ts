import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKET_BOUNDS_MS, decodeEdgePartials, encodeEdgePartials } from '../../schemas/edges.js';
import type { KeyValue } from '../../schemas/otlp-common.js';
import { createSpan, createTracesData, SpanKind, StatusCode, type TracesData } from '../../schemas/otlp-traces.js';
import { edgeId, edgePartials } from './call-edges.js';
import { callPeer } from './call-peer.js';

const T0 = 1_763_900_080_000_000_000n; // 40 s into the minute starting at 1_763_900_040
const MS = 1_000_000n;

let seq = 0;
function call(attributes: Record<string, string | bigint>, opts: { kind?: number; startMs?: number; durationMs?: number; error?: boolean } = {}) {
  const start = T0 + BigInt(opts.startMs ?? 0) * MS;
  seq++;
  return createSpan({
    traceId: seq.toString(16).padStart(32, '0'),
    spanId: seq.toString(16).padStart(16, '0'),
    name: 'call',
    kind: opts.kind ?? SpanKind.CLIENT,
    startTimeUnixNano: start,
    endTimeUnixNano: start + BigInt(Math.round((opts.durationMs ?? 10) * 1e6)),
    attributes: Object.entries(attributes).map(([key, value]): KeyValue => ({ key, value })),
    status: { code: opts.error ? StatusCode.ERROR : StatusCode.UNSET, message: '' },
  });
}

function withTenant(data: TracesData, tenant: string): TracesData {
  data.resourceSpans[0]!.resource.attributes.push({ key: 'chainwatch.tenant', value: tenant });
  return data;
}

describe('call peers', () => {
  it('names the peer by the first attribute that has one, with the kind of that attribute', () => {
    const kv = (o: Record<string, string>): KeyValue[] => Object.entries(o).map(([key, value]) => ({ key, value }));
    expect(callPeer(kv({ 'server.address': 'api.stripe.com', 'peer.service': 'stripe' }))).toEqual({ peer: 'stripe', kind: 'service' });
    expect(callPeer(kv({ 'server.address': 'api.stripe.com', 'db.system.name': 'postgresql' }))).toEqual({ peer: 'api.stripe.com', kind: 'host' });
    expect(callPeer(kv({ 'db.system': 'redis' }))).toEqual({ peer: 'redis', kind: 'database' });
    expect(callPeer(kv({ 'messaging.system': 'kafka' }))).toEqual({ peer: 'kafka', kind: 'messaging' });
    expect(callPeer(kv({ 'rpc.service': 'payments.v1.Charges' }))).toEqual({ peer: 'payments.v1.Charges', kind: 'rpc' });
    expect(callPeer(kv({ 'url.full': 'https://user@hooks.slack.com:443/services/x?token=y' }))).toEqual({ peer: 'hooks.slack.com', kind: 'host' });
    expect(callPeer(kv({ 'url.full': 'not a url', 'http.request.method': 'GET' }))).toBeNull();
    expect(callPeer([{ key: 'peer.service', value: 42 }])).toBeNull();
  });
});

describe('call-edge partials', () => {
  it('counts outgoing calls per edge and minute, ignoring server, internal and consumer spans and calls with no peer', () => {
    const spans = [
      call({ 'peer.service': 'stripe' }, { durationMs: 3 }),
      call({ 'peer.service': 'stripe' }, { durationMs: 30, error: true }),
      call({ 'peer.service': 'stripe' }, { startMs: 25_000, durationMs: 20_000 }), // next minute
      call({ 'messaging.system': 'kafka' }, { kind: SpanKind.PRODUCER, durationMs: 1 }),
      call({ 'peer.service': 'stripe' }, { kind: SpanKind.SERVER }),
      call({ 'peer.service': 'stripe' }, { kind: SpanKind.INTERNAL }),
      call({ 'messaging.system': 'kafka' }, { kind: SpanKind.CONSUMER }),
      call({ 'http.request.method': 'GET' }),
    ];
    const partials = edgePartials([createTracesData('checkout', spans)], 'chainwatch.spans/3/10-12');
    expect(partials.map((p) => [p.peer, p.peer_kind, p.minute, p.calls, p.errors])).toEqual([
      ['stripe', 'service', 1_763_900_040, 2, 1],
      ['stripe', 'service', 1_763_900_100, 1, 0],
      ['kafka', 'messaging', 1_763_900_040, 1, 0],
    ]);
    const [first, nextMinute] = partials;
    expect(first).toMatchObject({
      edge_id: edgeId('', 'checkout', 'service', 'stripe'),
      service: 'checkout',
      tenant: '',
      source: 'chainwatch.spans/3/10-12',
      duration_sum_ms: 33,
      duration_max_ms: 30,
      first_ns: String(T0),
      last_ns: String(T0),
      trace_id: spans[0]!.traceId,
      span_id: spans[0]!.spanId,
    });
    // 3 ms ≤ 5, 30 ms ≤ 50; 20 s is past the last bound.
    const buckets = (ms: number[]): number[] => LATENCY_BUCKET_BOUNDS_MS.concat(Infinity as never).map((bound, i) => ms.filter((m) => m <= bound && (i === 0 || m > LATENCY_BUCKET_BOUNDS_MS[i - 1]!)).length);
    expect(first!.latency_buckets).toEqual(buckets([3, 30]));
    expect(nextMinute!.latency_buckets).toEqual(buckets([20_000]));
    expect(nextMinute!.latency_buckets.at(-1)).toBe(1);
    expect(first!.edge_id).toBe(nextMinute!.edge_id);
  });

  it('keeps tenants, services and peer kinds apart, and the edge id is stable', () => {
    const a = edgePartials([withTenant(createTracesData('checkout', [call({ 'peer.service': 'stripe' })]), 'acme')], 's');
    const b = edgePartials([withTenant(createTracesData('checkout', [call({ 'peer.service': 'stripe' })]), 'globex')], 's');
    const c = edgePartials([createTracesData('billing', [call({ 'peer.service': 'stripe' })])], 's');
    const d = edgePartials([createTracesData('checkout', [call({ 'server.address': 'stripe' })])], 's');
    const ids = [a, b, c, d].map((p) => p[0]!.edge_id);
    expect(new Set(ids).size).toBe(4);
    expect(a[0]!.tenant).toBe('acme');
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(edgeId('acme', 'checkout', 'service', 'stripe')).toBe(ids[0]);
    // Fixed across versions: an id that changed would make every known edge new again.
    expect(edgeId('', 'checkout', 'service', 'stripe')).toBe('040921177ae33a89');
  });

  it('counts plaintext and unauthenticated calls, and collects auth schemes and the longest credential lifetime', () => {
    const spans = [
      call({ 'peer.service': 'ledger', 'url.full': 'http://ledger.internal/entries' }),
      call({ 'peer.service': 'ledger', 'url.scheme': 'HTTP', 'url.full': 'https://ledger.internal/x' }),
      call({ 'peer.service': 'ledger', 'url.scheme': 'https', 'url.full': 'http://ignored-when-scheme-given/' }),
      call({ 'peer.service': 'ledger', 'chainwatch.auth.scheme': 'None' }, { startMs: 3 }),
      call({ 'peer.service': 'ledger', 'chainwatch.auth.scheme': 'Bearer', 'chainwatch.credential.lifetime_s': 3600n }, { startMs: 4 }),
      call({ 'peer.service': 'ledger', 'chainwatch.auth.scheme': 'Basic', 'chainwatch.credential.lifetime_s': 900n }, { startMs: 5 }),
    ];
    const [p] = edgePartials([createTracesData('orders', spans)], 's');
    expect(p).toMatchObject({ calls: 6, plaintext: 2, unauthenticated: 1, auth_schemes: ['Basic', 'Bearer', 'None'], max_credential_lifetime_s: 3600 });
    // The span that showed each signal first (the longest-lived credential for lifetimes), not the first call.
    const ex = (i: number) => ({ ns: String(spans[i]!.startTimeUnixNano), trace_id: spans[i]!.traceId, span_id: spans[i]!.spanId });
    expect(p!.examples).toEqual({ plaintext: ex(0), unauthenticated: ex(3), static_credential: ex(5), longest_credential: ex(4) });
  });

  it('travels the edges topic as JSON lines, validated when read', () => {
    const partials = edgePartials([createTracesData('checkout', [call({ 'peer.service': 'stripe' }), call({ 'peer.service': 'twilio' })])], 'src');
    expect(decodeEdgePartials(encodeEdgePartials(partials))).toEqual(partials);
    const bad = Buffer.from(`${JSON.stringify(partials[0])}\n${JSON.stringify({ ...partials[1], calls: -1 })}`);
    expect(() => decodeEdgePartials(bad)).toThrow('edge partials line 2: calls:');
    expect(() => decodeEdgePartials(Buffer.from('{'))).toThrow('edge partials line 1: not JSON');
  });
});
