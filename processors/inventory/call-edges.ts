/**
 * Call edges from spans: every outgoing call (a CLIENT or PRODUCER span) is an edge from the
 * span's service to the peer it names (call-peer.ts), within the tenant of the API key that sent
 * it. A batch of requests becomes one partial aggregate per edge and minute: calls, errors,
 * latency sum, maximum and histogram, plaintext and unauthenticated calls, the auth schemes and
 * the longest credential lifetime seen (the identity metadata redaction left on the span), and
 * the first span showing each posture signal.
 *
 * Pure: no state between calls. Hot path: one pass over the spans, attributes read by key.
 */
import { createHash } from 'node:crypto';
import { IDENTITY_ATTRIBUTES } from '../redaction/types.js';
import { LATENCY_BUCKET_BOUNDS_MS, type EdgePartial, type ExampleSignal } from '../../schemas/edges.js';
import type { KeyValue } from '../../schemas/otlp-common.js';
import { SpanKind, StatusCode, type Span, type TracesData } from '../../schemas/otlp-traces.js';
import { callPeer, stringAttribute, type PeerKind } from './call-peer.js';

/** Auth schemes whose credential is a static secret rather than an issued, expiring token. */
export const STATIC_SCHEMES: ReadonlySet<string> = new Set(['Basic', 'ApiKey']);

/** The resource attribute the collector stamps with the API key's tenant. */
const TENANT_ATTRIBUTE = 'chainwatch.tenant';

/** 16 hex digits of SHA-256 over the edge's identity; stable across processes and versions. */
export function edgeId(tenant: string, service: string, peerKind: PeerKind, peer: string): string {
  return createHash('sha256').update(`${tenant}\0${service}\0${peerKind}\0${peer}`).digest('hex').slice(0, 16);
}

function intAttribute(attributes: readonly KeyValue[], key: string): number {
  for (const kv of attributes) {
    if (kv?.key !== key) continue;
    if (typeof kv.value === 'bigint') return Number(kv.value);
    if (typeof kv.value === 'number' && Number.isFinite(kv.value)) return Math.trunc(kv.value);
  }
  return 0;
}

function isPlaintext(attributes: readonly KeyValue[]): boolean {
  const scheme = stringAttribute(attributes, 'url.scheme');
  if (scheme !== '') return scheme.toLowerCase() === 'http';
  return /^http:\/\//i.test(stringAttribute(attributes, 'url.full'));
}

function bucketOf(ms: number): number {
  let i = 0;
  while (i < LATENCY_BUCKET_BOUNDS_MS.length && ms > LATENCY_BUCKET_BOUNDS_MS[i]!) i++;
  return i;
}

/**
 * The partials of a batch, one per edge and minute, in first-seen order. `source` identifies the
 * batch (the same on every replay of it).
 */
export function edgePartials(requests: readonly TracesData[], source: string): EdgePartial[] {
  type Example = { ns: bigint; span: Span };
  const byKey = new Map<string, EdgePartial & { schemes: Set<string>; firstNs: bigint; lastNs: bigint; found: Partial<Record<ExampleSignal, Example>> }>();
  for (const request of requests) {
    for (const rs of request.resourceSpans) {
      const resourceAttributes = rs.resource?.attributes ?? [];
      const service = stringAttribute(resourceAttributes, 'service.name');
      const tenant = stringAttribute(resourceAttributes, TENANT_ATTRIBUTE);
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          if (span.kind !== SpanKind.CLIENT && span.kind !== SpanKind.PRODUCER) continue;
          const peer = callPeer(span.attributes);
          if (!peer) continue;
          const minute = Number(span.startTimeUnixNano / 60_000_000_000n) * 60;
          // The edge's identity as the key: its hash is taken once per partial, not per span.
          const key = `${tenant}\0${service}\0${peer.kind}\0${peer.peer}\0${minute}`;
          let p = byKey.get(key);
          if (!p) {
            p = {
              edge_id: edgeId(tenant, service, peer.kind, peer.peer),
              tenant,
              service,
              peer: peer.peer,
              peer_kind: peer.kind,
              minute,
              source,
              calls: 0,
              errors: 0,
              plaintext: 0,
              unauthenticated: 0,
              duration_sum_ms: 0,
              duration_max_ms: 0,
              latency_buckets: new Array<number>(LATENCY_BUCKET_BOUNDS_MS.length + 1).fill(0),
              auth_schemes: [],
              max_credential_lifetime_s: 0,
              first_ns: '',
              last_ns: '',
              trace_id: span.traceId,
              span_id: span.spanId,
              examples: {},
              found: {},
              schemes: new Set(),
              firstNs: span.startTimeUnixNano,
              lastNs: span.startTimeUnixNano,
            };
            byKey.set(key, p);
          }
          const ms = span.endTimeUnixNano > span.startTimeUnixNano ? Number(span.endTimeUnixNano - span.startTimeUnixNano) / 1e6 : 0;
          p.calls++;
          const start = span.startTimeUnixNano;
          const found = p.found;
          /** The span as the example of a signal when it is the earliest (or `always`). */
          const example = (signal: ExampleSignal, always = false): void => {
            const prev = found[signal];
            if (always || !prev || start < prev.ns) found[signal] = { ns: start, span };
          };
          if (span.status?.code === StatusCode.ERROR) p.errors++;
          if (isPlaintext(span.attributes)) {
            p.plaintext++;
            example('plaintext');
          }
          const scheme = stringAttribute(span.attributes, IDENTITY_ATTRIBUTES.authScheme);
          if (scheme !== '') {
            p.schemes.add(scheme);
            if (scheme === 'None') {
              p.unauthenticated++;
              example('unauthenticated');
            }
            if (STATIC_SCHEMES.has(scheme)) example('static_credential');
          }
          const lifetime = intAttribute(span.attributes, IDENTITY_ATTRIBUTES.lifetimeS);
          if (lifetime > p.max_credential_lifetime_s) {
            p.max_credential_lifetime_s = lifetime;
            example('longest_credential', true);
          }
          p.duration_sum_ms += ms;
          p.duration_max_ms = Math.max(p.duration_max_ms, ms);
          p.latency_buckets[bucketOf(ms)]!++;
          if (span.startTimeUnixNano < p.firstNs) {
            p.firstNs = span.startTimeUnixNano;
            p.trace_id = span.traceId;
            p.span_id = span.spanId;
          }
          if (span.startTimeUnixNano > p.lastNs) p.lastNs = span.startTimeUnixNano;
        }
      }
    }
  }
  return [...byKey.values()].map(({ schemes, firstNs, lastNs, found, ...partial }) => ({
    ...partial,
    auth_schemes: [...schemes].sort(),
    first_ns: firstNs.toString(),
    last_ns: lastNs.toString(),
    examples: Object.fromEntries(Object.entries(found).map(([signal, e]) => [signal, { ns: e.ns.toString(), trace_id: e.span.traceId, span_id: e.span.spanId }])),
  }));
}
