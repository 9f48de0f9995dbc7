/**
 * Realistic trace requests for benchmarks: what a checkout service's instrumentation sends, with
 * a tunable share of attribute values holding a secret or personal datum (from the redaction
 * stage's sample credentials), so every benchmark measures the same traffic.
 */
import { createSpan, type KeyValue, type Span, type TracesData } from '../schemas/otlp-traces.js';
import { ALPHABETS, pick, sampleSecrets, type Random } from '../processors/redaction/sample-credentials.js';

const ROUTES = ['/api/v1/users/{id}', '/api/v1/orders/{id}/items', '/healthz', '/api/v1/payments', '/api/v2/search', '/v1/carts/{cart_id}/checkout'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const PEERS = ['payments', 'inventory', 'users', 'search', 'ledger', 'notifications'];
const HOSTS = ['orders.internal.svc.cluster.local', 'api.stripe.com', 'payments.internal:8443', 'inventory-7d9f8b6c5d-x2x9q', 'search.eu-west-1.example.net'];
const STATEMENTS = ['SELECT id, status FROM orders WHERE id = $1', 'UPDATE carts SET updated_at = now() WHERE id = $1', 'INSERT INTO events (id, kind, payload) VALUES ($1, $2, $3)', 'SELECT * FROM users WHERE tenant_id = $1 LIMIT 50'];
const AGENTS = ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)', 'okhttp/4.12.0', 'Go-http-client/1.1', 'python-requests/2.32.3'];

/** Where a secret sits: the attribute it goes in, given its sample text. */
const PLACEMENTS: ((secret: string) => KeyValue)[] = [
  (s) => ({ key: 'message', value: `request failed: ${s}` }),
  (s) => ({ key: 'url.full', value: `https://api.example.net/v1/resource?q=1&note=${encodeURIComponent(s)}` }),
  (s) => ({ key: 'db.query.text', value: `SELECT id FROM accounts WHERE note = '${s.replace(/'/g, "''")}'` }),
  (s) => ({ key: 'app.config', value: s }),
];

function hex(random: Random, n: number): string {
  return pick(random, ALPHABETS.hex, n);
}

function clean(random: Random, kind: number, i: number): KeyValue[] {
  const route = ROUTES[i % ROUTES.length]!;
  const id = Math.floor(random() * 1_000_000);
  const common: KeyValue[] = [
    { key: 'peer.service', value: PEERS[i % PEERS.length]! },
    { key: 'server.address', value: HOSTS[i % HOSTS.length]! },
    { key: 'enduser.id', value: `user-${id}` },
  ];
  switch (kind) {
    case 0: // HTTP server
      return [
        ...common,
        { key: 'http.request.method', value: METHODS[i % METHODS.length]! },
        { key: 'http.route', value: route },
        { key: 'url.path', value: route.replace(/\{[a-z_]+\}/, String(id)) },
        { key: 'url.scheme', value: 'https' },
        { key: 'http.response.status_code', value: BigInt(random() < 0.95 ? 200 : 503) },
        { key: 'user_agent.original', value: AGENTS[i % AGENTS.length]! },
        { key: 'client.address', value: `10.0.${i % 255}.${id % 255}` },
        { key: 'http.request.header.x-request-id', value: [hex(random, 32)] },
      ];
    case 1: // HTTP client
      return [
        ...common,
        { key: 'http.request.method', value: METHODS[i % METHODS.length]! },
        { key: 'url.full', value: `https://${HOSTS[i % HOSTS.length]}${route.replace(/\{[a-z_]+\}/, String(id))}?limit=50&page=${i % 7}` },
        { key: 'http.response.status_code', value: 200n },
        { key: 'network.protocol.version', value: '1.1' },
        { key: 'http.request.resend_count', value: 0n },
      ];
    case 2: // database
      return [
        ...common,
        { key: 'db.system.name', value: 'postgresql' },
        { key: 'db.namespace', value: 'orders' },
        { key: 'db.operation.name', value: 'SELECT' },
        { key: 'db.query.text', value: STATEMENTS[i % STATEMENTS.length]! },
        { key: 'db.collection.name', value: 'orders' },
        { key: 'server.port', value: 5432n },
        { key: 'db.response.returned_rows', value: BigInt(id % 50) },
      ];
    default: // messaging
      return [
        ...common,
        { key: 'messaging.system', value: 'kafka' },
        { key: 'messaging.destination.name', value: 'orders.v1' },
        { key: 'messaging.operation.type', value: 'publish' },
        { key: 'messaging.kafka.message.key', value: `order-${id}` },
        { key: 'messaging.message.id', value: `${hex(random, 8)}-${hex(random, 4)}-${hex(random, 4)}-${hex(random, 4)}-${hex(random, 12)}` },
        { key: 'messaging.destination.partition.id', value: String(id % 12) },
        { key: 'messaging.message.body.size', value: BigInt(id % 4096) },
        { key: 'messaging.batch.message_count', value: 1n },
        { key: 'app.retry', value: false },
      ];
  }
}

/**
 * One request of `spansPerRequest` spans of a checkout service (HTTP server and client, database,
 * messaging), with about `secretShare` of the attribute values replaced by a sample secret or
 * personal datum in a realistic place.
 */
export function buildRealisticRequest(random: Random, secretShare: number, spansPerRequest = 200): TracesData {
  const spans: Span[] = [];
  const start = 1_767_225_600_000_000_000n;
  let secrets: string[] = [];
  for (let i = 0; i < spansPerRequest; i++) {
    const kind = i % 4;
    const attributes = clean(random, kind, i);
    for (let a = 0; a < attributes.length; a++) {
      if (random() >= secretShare) continue;
      if (secrets.length === 0) secrets = Object.values(sampleSecrets(random));
      const secret = secrets.splice(Math.floor(random() * secrets.length), 1)[0]!;
      attributes[a] = PLACEMENTS[Math.floor(random() * PLACEMENTS.length)]!(secret);
    }
    const events = random() < 0.05 ? [{ timeUnixNano: start, name: 'exception', attributes: [{ key: 'exception.type', value: 'TimeoutError' }, { key: 'exception.message', value: 'upstream timed out after 5000 ms' }], droppedAttributesCount: 0 }] : [];
    spans.push(
      createSpan({
        traceId: hex(random, 32),
        spanId: hex(random, 16),
        name: `${METHODS[i % METHODS.length]} ${ROUTES[i % ROUTES.length]}`,
        kind: kind === 0 ? 2 : kind === 3 ? 4 : 3,
        startTimeUnixNano: start + BigInt(i),
        endTimeUnixNano: start + BigInt(i + 1_000_000),
        attributes,
        events,
      }),
    );
  }
  return checkoutRequest(spans);
}

/** The resource and scope every benchmark request carries: one checkout pod's HTTP instrumentation. */
export function checkoutRequest(spans: Span[]): TracesData {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: 'checkout' },
            { key: 'service.version', value: '2.14.1' },
            { key: 'deployment.environment.name', value: 'production' },
            { key: 'host.name', value: 'ip-10-0-12-34.eu-west-1.compute.internal' },
            { key: 'k8s.pod.name', value: 'checkout-7d9f8b6c5d-x2x9q' },
          ],
          droppedAttributesCount: 0,
        },
        scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.57.0', attributes: [], droppedAttributesCount: 0 }, spans, schemaUrl: '' }],
        schemaUrl: '',
      },
    ],
  };
}
