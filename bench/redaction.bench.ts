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
import type { AnyValue, KeyValue, TracesData } from '../schemas/otlp-traces.js';
import { redactionConfigSchema } from '../schemas/redaction-config.js';
import { createRedactor } from '../processors/redaction/redactor.js';
import type { Redactor } from '../processors/redaction/types.js';
import { seededRandom } from '../processors/redaction/sample-credentials.js';
import { buildRealisticRequest } from './realistic-traces.js';

const SPANS_PER_REQUEST = 200;
const REQUESTS_PER_ROUND = 40;
const ROUNDS = 5;
const SECRET_SHARE = 0.01;

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
  const withSecrets = Array.from({ length: REQUESTS_PER_ROUND }, () => buildRealisticRequest(random, SECRET_SHARE));
  const cleanOnly = Array.from({ length: REQUESTS_PER_ROUND }, () => buildRealisticRequest(random, 0));
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
