/**
 * Throughput of the collector path, OTLP/HTTP protobuf → decode → redaction → split → encode →
 * bus, with redaction on and off, in one run so the two figures compare on the same machine load.
 *
 * The collector runs in this process (role collector, in-process bus) with a consumer group that
 * acknowledges at once, standing in for a broker: what is measured is the collector's own work.
 * The load comes from a child process (so its CPU is not counted), replaying pre-encoded
 * realistic requests (bench/realistic-traces.ts, 1% of values secret) over keep-alive HTTP.
 * Reports spans/s (wall) and spans per CPU-second of the collector process.
 *
 * Standalone: `npx tsc -p tsconfig.json && node dist/bench/collector.bench.js [seconds]`.
 */
import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { encodeExportTraceServiceRequest } from '../collector/otlp-protobuf.js';
import { parseConfig } from '../pipeline/config-loader.js';
import { startChainwatch } from '../pipeline/chainwatch.js';
import { silentLogger } from '../pipeline/logger.js';
import { seededRandom } from '../processors/redaction/sample-credentials.js';
import { buildRealisticRequest } from './realistic-traces.js';

const SPANS_PER_REQUEST = 200;
const CONCURRENCY = 16;

interface LoadResult {
  requests: number;
  failures: number;
  seconds: number;
}

/** Child side: post the bodies round-robin for `seconds`, report counts. */
async function runLoad(url: string, seconds: number): Promise<LoadResult> {
  const random = seededRandom(7);
  const bodies = Array.from({ length: 32 }, () => Buffer.from(encodeExportTraceServiceRequest(buildRealisticRequest(random, 0.01, SPANS_PER_REQUEST))));
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const target = new URL(`${url}/v1/traces`);
  const post = (body: Buffer): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  let requests = 0;
  let failures = 0;
  let next = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const status = await post(bodies[next++ % bodies.length]!);
        if (status === 200) requests++;
        else failures++;
      }
    }),
  );
  agent.destroy();
  return { requests, failures, seconds: (performance.now() - started) / 1000 };
}

async function measure(redaction: boolean, seconds: number): Promise<{ spansPerSecond: number; spansPerCpuSecond: number; failures: number }> {
  const config = parseConfig(
    { collector: { http: { port: 0 }, grpc: { enabled: false } }, admin: { enabled: false }, bus: { memory: { max_pending_messages: 1_000_000 } }, stages: { redaction: { enabled: redaction, hmac_key: 'bench-key-0123456789abcdef0123456789' } } },
    '(bench)',
  );
  const app = await startChainwatch(config, silentLogger(), ['collector']);
  // Stands in for the broker: takes every message at once.
  const drains = await Promise.all(
    [config.bus.topics.spans, config.bus.topics.findings].map((topic) =>
      app.bus.subscribe({ topic, group: 'bench-drain', maxBatchMessages: 10_000, maxWaitMs: 0 }, async () => {}),
    ),
  );
  const child = fork(fileURLToPath(import.meta.url), ['--load', app.otlpHttpUrl!, String(seconds)]);
  const cpu0 = process.cpuUsage();
  const result = await new Promise<LoadResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('error', reject);
  });
  const cpu = process.cpuUsage(cpu0);
  child.kill();
  await Promise.all(drains.map((d) => d.stop()));
  await app.stop();
  const spans = result.requests * SPANS_PER_REQUEST;
  return { spansPerSecond: spans / result.seconds, spansPerCpuSecond: spans / ((cpu.user + cpu.system) / 1e6), failures: result.failures };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--load') {
    process.send!(await runLoad(process.argv[3]!, Number(process.argv[4])));
    return;
  }
  const seconds = Number(process.argv[2] ?? 5);
  console.log(`node ${process.version}, collector role, in-process bus drained at once, ${SPANS_PER_REQUEST} spans/request, ${CONCURRENCY} connections, ${seconds}s per case`);
  console.log('                     spans/s (wall)   spans per CPU-second   failed requests');
  const off = await measure(false, seconds);
  const on = await measure(true, seconds);
  for (const [name, r] of [['redaction off', off], ['redaction on', on]] as const) {
    console.log(`${name.padEnd(20)} ${Math.round(r.spansPerSecond).toLocaleString('en-US').padStart(14)} ${Math.round(r.spansPerCpuSecond).toLocaleString('en-US').padStart(22)} ${String(r.failures).padStart(17)}`);
  }
  console.log(`redaction costs ${(100 * (1 - on.spansPerCpuSecond / off.spansPerCpuSecond)).toFixed(0)}% of the collector's per-core throughput`);
}

await main();
