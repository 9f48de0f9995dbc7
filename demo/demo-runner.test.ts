/**
 * The demo runner over real HTTP on 127.0.0.1: what it sends is OTLP/HTTP protobuf on the
 * standard paths (decoded here with the collector's own decoder), a high rate keeps every trace,
 * an unreachable collector costs one warning and no crash, and stop() flushes and is idempotent.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeExportTraceServiceRequest } from '../collector/otlp-protobuf.js';
import { SERVICE_NAMES } from './estate.js';
import { runDemo } from './demo-runner.js';

interface Captured {
  path: string;
  contentType: string;
  body: Buffer;
}

/** An OTLP/HTTP endpoint that keeps every request and answers 200 (an empty protobuf response). */
async function captureServer(): Promise<{ url: string; requests: Captured[]; server: Server }> {
  const requests: Captured[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

function capturingLogger(lines: { level: number; msg: string }[]) {
  return pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as { level: number; msg: string });
        done();
      },
    }),
  );
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('demo runner', () => {
  it('sends OTLP/HTTP protobuf traces and logs of every service, all of them flushed when the run ends', async () => {
    const capture = await captureServer();
    servers.push(capture.server);
    const demo = runDemo({ target: capture.url, rate: 100, durationS: 1.5, seed: 5, incidents: 'none', batch: { scheduledDelayMs: 100 } });
    expect(demo.seed).toBe(5);
    expect(demo.timeline).toBe('incidents: none scheduled\n');
    const stats = await demo.done;
    expect(stats.traces).toBeGreaterThan(100);
    expect(stats.exported.traces).toEqual({ exported: stats.spans, failed: 0 });
    expect(stats.exported.logs).toEqual({ exported: stats.logRecords, failed: 0 });
    expect(stats.failures).toEqual({});

    const traces = capture.requests.filter((r) => r.path === '/v1/traces');
    expect(traces.every((r) => r.contentType === 'application/x-protobuf')).toBe(true);
    const decoded = traces.map((r) => decodeExportTraceServiceRequest(r.body));
    const spans = decoded.flatMap((d) => d.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
    expect(spans).toHaveLength(stats.spans);
    const services = new Set(decoded.flatMap((d) => d.resourceSpans.map((rs) => rs.resource?.attributes.find((kv) => kv.key === 'service.name')?.value)));
    expect([...services].sort()).toEqual([...SERVICE_NAMES].sort());
    const logs = capture.requests.filter((r) => r.path === '/v1/logs');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.every((r) => r.contentType === 'application/x-protobuf' && r.body.length > 0)).toBe(true);
    // Stopping after the end changes nothing and gives the same figures.
    expect(await demo.stop()).toEqual(stats);
  });

  it('keeps every trace at a high rate', async () => {
    const capture = await captureServer();
    servers.push(capture.server);
    const demo = runDemo({ target: capture.url, rate: 3000, durationS: 1, seed: 9, incidents: 'none', batch: { scheduledDelayMs: 100 } });
    const stats = await demo.done;
    // A Poisson process: 3000 expected, well within ±10%.
    expect(stats.traces).toBeGreaterThan(2700);
    expect(stats.traces).toBeLessThan(3300);
    expect(stats.exported.traces).toEqual({ exported: stats.spans, failed: 0 });
  }, 60_000);

  it('survives an unreachable collector with one warning per kind of failure', async () => {
    const closed = await captureServer();
    const target = closed.url;
    await new Promise((resolve) => closed.server.close(resolve));
    const lines: { level: number; msg: string }[] = [];
    const demo = runDemo({ target, rate: 50, durationS: 1, seed: 1, incidents: 'none', logger: capturingLogger(lines), batch: { scheduledDelayMs: 50, exportTimeoutMs: 300 }, flushTimeoutMs: 5000 });
    const stats = await demo.done;
    expect(stats.exported.traces.exported).toBe(0);
    expect(stats.exported.traces.failed).toBe(stats.spans);
    // Refused, or (on a machine too busy to notice the refusal within 300 ms) timed out.
    const kinds = Object.keys(stats.failures);
    expect(kinds.every((k) => /^(traces|logs): (ECONNREFUSED|timeout)$/.test(k))).toBe(true);
    expect(new Set(kinds.map((k) => k.split(':')[0]))).toEqual(new Set(['traces', 'logs']));
    // One line per kind, while many exports failed.
    const warnings = lines.filter((l) => l.level === 40) as unknown as { reason: string; signal: string }[];
    expect(warnings.map((w) => `${w.signal}: ${w.reason}`).sort()).toEqual(kinds.sort());
    expect(Object.values(stats.failures).reduce((a, b) => a + b, 0)).toBeGreaterThan(kinds.length);
  }, 30_000);

  it('stops on request: generation ends, what is buffered is sent, stop is safe twice', async () => {
    const capture = await captureServer();
    servers.push(capture.server);
    const announced: string[] = [];
    const demo = runDemo({ target: capture.url, rate: 50, seed: 2, cycleS: 10, batch: { scheduledDelayMs: 60_000 }, onIncident: (t) => announced.push(`${t.phase} ${t.incident.kind}`) });
    // Stop inside the first incident (1 s to 2 s into the 10 s cycle).
    while (announced.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const [first, second] = await Promise.all([demo.stop(), demo.stop()]);
    expect(second).toEqual(first);
    expect(await demo.done).toEqual(first);
    expect(first.traces).toBeGreaterThan(20);
    // Nothing was exported before stop (the batch delay is a minute): stop flushed it all.
    expect(first.exported.traces).toEqual({ exported: first.spans, failed: 0 });
    expect(announced).toEqual(['start latency-spike']);
    const after = demo.stats();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(demo.stats().traces).toBe(after.traces);
  });
});
