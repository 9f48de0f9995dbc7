/**
 * Throughput of the OTLP trace codecs on realistic requests: 512 spans each, 8 string attributes
 * per span, a handful of resource attributes, ids and timestamps as an SDK sends them. Prints
 * spans per CPU-second (process.cpuUsage, user + system, so GC counts) for protobuf decode and
 * encode, and for JSON decode as a reference point: the median and the best of several rounds,
 * since other load on the machine only ever makes a round slower.
 *
 * Standalone: `npx tsc -p tsconfig.json && node dist/bench/otlp-codec.bench.js [seconds-per-round]`.
 */

import { createSpan, type Span, type TracesData } from '../schemas/otlp-traces.js';
import { decodeExportTraceServiceRequestJson, encodeExportTraceServiceRequestJson } from '../collector/otlp-json.js';
import { decodeExportTraceServiceRequest, encodeExportTraceServiceRequest } from '../collector/otlp-protobuf.js';
import { checkoutRequest } from './realistic-traces.js';

const SPANS_PER_REQUEST = 512;
const ROUNDS = 5;
const SPANS_PER_TRACE = 8;
const DISTINCT_REQUESTS = 8;

/** xorshift32: the same requests on every run. */
function makeRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

function randomHex(random: () => number, bytes: number): string {
  let hex = '';
  for (let i = 0; i < bytes; i++) hex += Math.floor(random() * 256).toString(16).padStart(2, '0');
  return hex;
}

const ROUTES = ['/api/v1/users/{id}', '/api/v1/orders/{id}/items', '/healthz', '/api/v1/payments', '/api/v2/search'];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const PEERS = ['payments', 'inventory', 'users', 'search', 'ledger'];

function buildRequest(random: () => number): TracesData {
  const spans: Span[] = [];
  const startBase = 1_767_225_600_000_000_000n + BigInt(Math.floor(random() * 1e9));
  let traceId = '';
  let rootSpanId = '';
  for (let i = 0; i < SPANS_PER_REQUEST; i++) {
    const spanId = randomHex(random, 8);
    if (i % SPANS_PER_TRACE === 0) {
      traceId = randomHex(random, 16);
      rootSpanId = spanId;
    }
    const route = ROUTES[Math.floor(random() * ROUTES.length)]!;
    const id = Math.floor(random() * 1_000_000);
    const start = startBase + BigInt(i * 1_000_000);
    spans.push(
      createSpan({
        traceId,
        spanId,
        parentSpanId: spanId === rootSpanId ? '' : rootSpanId,
        flags: 0x101,
        name: `${METHODS[i % METHODS.length]} ${route}`,
        kind: spanId === rootSpanId ? 2 : 3,
        startTimeUnixNano: start,
        endTimeUnixNano: start + BigInt(Math.floor(random() * 50_000_000)),
        attributes: [
          { key: 'http.request.method', value: METHODS[i % METHODS.length]! },
          { key: 'http.route', value: route },
          { key: 'url.path', value: route.replace('{id}', String(id)) },
          { key: 'server.address', value: 'orders.internal.svc.cluster.local' },
          { key: 'http.response.status_code', value: random() < 0.95 ? '200' : '503' },
          { key: 'peer.service', value: PEERS[i % PEERS.length]! },
          { key: 'user_agent.original', value: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)' },
          { key: 'enduser.id', value: `user-${id}` },
        ],
      }),
    );
  }
  return checkoutRequest(spans);
}

/** Runs `operation` over the inputs round-robin for about `seconds` of CPU time; returns spans per CPU-second. */
function measureRound<T>(inputs: readonly T[], seconds: number, operation: (input: T) => unknown): number {
  const before = process.cpuUsage();
  let requests = 0;
  let elapsedMicros = 0;
  while (elapsedMicros < seconds * 1e6) {
    for (let i = 0; i < 20; i++) operation(inputs[requests++ % inputs.length]!);
    const used = process.cpuUsage(before);
    elapsedMicros = used.user + used.system;
  }
  return (requests * SPANS_PER_REQUEST) / (elapsedMicros / 1e6);
}

/** Median and best spans per CPU-second over {@link ROUNDS} rounds, after a warm-up. */
function measure<T>(inputs: readonly T[], seconds: number, operation: (input: T) => unknown): { median: number; best: number } {
  // Warm-up, so that the measured rounds run optimised code.
  for (let i = 0; i < 200; i++) operation(inputs[i % inputs.length]!);
  const rounds = Array.from({ length: ROUNDS }, () => measureRound(inputs, seconds, operation)).sort((a, b) => a - b);
  return { median: rounds[Math.floor(ROUNDS / 2)]!, best: rounds[ROUNDS - 1]! };
}

function formatRate(spansPerSecond: number): string {
  return Math.round(spansPerSecond).toLocaleString('en-US').padStart(10);
}

function main(): void {
  const seconds = Number(process.argv[2] ?? 1);
  const random = makeRandom(0x5eed);
  const built = Array.from({ length: DISTINCT_REQUESTS }, () => buildRequest(random));
  const protobufBodies = built.map(encodeExportTraceServiceRequest);
  const jsonBodies = built.map((request) => Buffer.from(encodeExportTraceServiceRequestJson(request)));
  // Encode what the decoder produced, as the collector does: flat strings rather than the
  // concatenations buildRequest made, which V8 reads more slowly.
  const requests = protobufBodies.map(decodeExportTraceServiceRequest);
  const bytesPerSpan = (bodies: readonly Uint8Array[]) =>
    (bodies.reduce((sum, body) => sum + body.length, 0) / (bodies.length * SPANS_PER_REQUEST)).toFixed(0);

  console.log(`node ${process.version}, ${SPANS_PER_REQUEST} spans/request, ${ROUNDS} rounds of ~${seconds}s CPU per case`);
  console.log(`protobuf: ${bytesPerSpan(protobufBodies)} bytes/span, JSON: ${bytesPerSpan(jsonBodies)} bytes/span`);
  const cases: [string, () => { median: number; best: number }][] = [
    ['protobuf decode', () => measure(protobufBodies, seconds, decodeExportTraceServiceRequest)],
    ['protobuf encode', () => measure(requests, seconds, encodeExportTraceServiceRequest)],
    ['JSON decode', () => measure(jsonBodies, seconds, decodeExportTraceServiceRequestJson)],
  ];
  console.log(`${''.padEnd(16)} ${'median'.padStart(10)} ${'best'.padStart(10)}  (spans per CPU-second)`);
  for (const [name, run] of cases) {
    const { median, best } = run();
    console.log(`${name.padEnd(16)} ${formatRate(median)} ${formatRate(best)}`);
  }
}

main();
