/**
 * Throughput of the redaction stage on realistic requests: HTTP server and client, database and
 * messaging spans with 8-15 attributes each (methods, routes, hosts, status codes, ids, user
 * agents, SQL, a few events), about 1% of the attribute values holding a secret or a personal
 * datum of some family, in realistic places (headers, URLs, SQL, exception messages).
 *
 * Prints attribute values scanned per CPU-second (process.cpuUsage, user + system, so GC
 * counts) for the full rule set, for the rule set with IP addresses on, for clean requests only,
 * and for a no-op walk over the same values (the floor any walk costs). redactTraces rewrites
 * in place, so every round redacts fresh copies made outside the timed region, followed by a full
 * GC so the copies sit in the old generation and only the redactor's own garbage is collected
 * (and counted) while the clock runs.
 *
 * Standalone: `npx tsc -p tsconfig.json && node dist/bench/redaction.bench.js [seconds-per-round]`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createSpan, type AnyValue, type KeyValue, type Span, type TracesData } from '../schemas/otlp-traces.js';
import { redactionConfigSchema } from '../schemas/redaction-config.js';
import { createRedactor } from '../processors/redaction/redactor.js';
import type { Redactor } from '../processors/redaction/types.js';
import { ALPHABETS, pick, sampleSecrets, seededRandom, type Random } from '../processors/redaction/sample-credentials.js';

const SPANS_PER_REQUEST = 200;
const REQUESTS_PER_ROUND = 40;
const ROUNDS = 5;
const SECRET_SHARE = 0.01;

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

function buildRequest(random: Random, secretShare: number): TracesData {
  const spans: Span[] = [];
  const start = 1_767_225_600_000_000_000n;
  let secrets: string[] = [];
  for (let i = 0; i < SPANS_PER_REQUEST; i++) {
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

/** Attribute values (nested ones included) plus span and event names: what a walk visits. */
function countValues(data: TracesData): number {
  const inValue = (v: AnyValue): number =>
    Array.isArray(v) ? v.reduce((n: number, x) => n + inValue(x), 0) : v !== null && typeof v === 'object' && 'kvlist' in v ? v.kvlist.reduce((n, kv) => n + inValue(kv.value), 0) : 1;
  const inList = (list: KeyValue[]) => list.reduce((n, kv) => n + inValue(kv.value), 0);
  let n = 0;
  for (const rs of data.resourceSpans) {
    n += inList(rs.resource.attributes);
    for (const ss of rs.scopeSpans) {
      n += inList(ss.scope.attributes);
      for (const span of ss.spans) {
        n += 1 + inList(span.attributes);
        for (const event of span.events) n += 1 + inList(event.attributes);
        for (const link of span.links) n += inList(link.attributes);
      }
    }
  }
  return n;
}

/** Touches every string the redactor would look at: the floor of any walk. */
function noOpWalk(data: TracesData): number {
  let sum = 0;
  const visit = (v: AnyValue): void => {
    if (typeof v === 'string') sum += v.length;
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object' && 'kvlist' in v) v.kvlist.forEach((kv) => visit(kv.value));
  };
  for (const rs of data.resourceSpans) {
    rs.resource.attributes.forEach((kv) => visit(kv.value));
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        sum += span.name.length;
        span.attributes.forEach((kv) => visit(kv.value));
        for (const event of span.events) event.attributes.forEach((kv) => visit(kv.value));
      }
    }
  }
  return sum;
}

/** A full GC between rounds without requiring `node --expose-gc` on the command line. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Values per CPU-second of `operation` over fresh copies of `templates`. */
function measureRound(templates: readonly TracesData[], valuesPerRequest: number, seconds: number, operation: (data: TracesData) => unknown): number {
  let cpuMicros = 0;
  let requests = 0;
  while (cpuMicros < seconds * 1e6) {
    const copies = templates.map((t) => structuredClone(t));
    collectGarbage();
    const before = process.cpuUsage();
    for (const copy of copies) operation(copy);
    const used = process.cpuUsage(before);
    cpuMicros += used.user + used.system;
    requests += copies.length;
  }
  return (requests * valuesPerRequest) / (cpuMicros / 1e6);
}

function measure(templates: readonly TracesData[], valuesPerRequest: number, seconds: number, operation: (data: TracesData) => unknown): { median: number; best: number } {
  measureRound(templates, valuesPerRequest, Math.min(0.5, seconds), operation); // warm-up
  const rounds = Array.from({ length: ROUNDS }, () => measureRound(templates, valuesPerRequest, seconds, operation)).sort((a, b) => a - b);
  return { median: rounds[Math.floor(ROUNDS / 2)]!, best: rounds[ROUNDS - 1]! };
}

function formatRate(rate: number): string {
  return Math.round(rate).toLocaleString('en-US').padStart(12);
}

function main(): void {
  const seconds = Number(process.argv[2] ?? 1);
  const random = seededRandom(0x5eed);
  const withSecrets = Array.from({ length: REQUESTS_PER_ROUND }, () => buildRequest(random, SECRET_SHARE));
  const cleanOnly = Array.from({ length: REQUESTS_PER_ROUND }, () => buildRequest(random, 0));
  const valuesPerRequest = countValues(withSecrets[0]!);
  const hmacKey = 'bench-hmac-key-0123456789abcdef0123';
  const base: Redactor = createRedactor(redactionConfigSchema.parse({}), { hmacKey });
  const withIp: Redactor = createRedactor(redactionConfigSchema.parse({ families: { ip_address: { enabled: true } } }), { hmacKey });

  let findings = 0;
  for (const t of withSecrets) findings += base.redactTraces(structuredClone(t)).findings.length;
  const totalValues = valuesPerRequest * withSecrets.length;
  console.log(`node ${process.version}, ${SPANS_PER_REQUEST} spans/request, ~${Math.round(valuesPerRequest / SPANS_PER_REQUEST)} values/span, ${ROUNDS} rounds of ~${seconds}s CPU per case`);
  console.log(`sample: ${totalValues} values, ${findings} findings (${((100 * findings) / totalValues).toFixed(2)}% of values)`);
  const cases: [string, TracesData[], (d: TracesData) => unknown][] = [
    ['no-op walk', withSecrets, noOpWalk],
    ['redact, 1% secrets', withSecrets, (d) => base.redactTraces(d)],
    ['redact, clean only', cleanOnly, (d) => base.redactTraces(d)],
    ['redact, + ip family', withSecrets, (d) => withIp.redactTraces(d)],
  ];
  console.log(`${''.padEnd(22)} ${'median'.padStart(12)} ${'best'.padStart(12)}  (attribute values per CPU-second)`);
  let walk = 0;
  for (const [name, templates, operation] of cases) {
    const { median, best } = measure(templates, valuesPerRequest, seconds, operation);
    if (walk === 0) walk = median;
    const ns = 1e9 / median - (walk === median ? 0 : 1e9 / walk);
    console.log(`${name.padEnd(22)} ${formatRate(median)} ${formatRate(best)}${walk === median ? '' : `  (${ns.toFixed(0)} ns/value over the walk)`}`);
  }
}

main();
