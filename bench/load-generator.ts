/**
 * The load generator: replays pre-encoded OTLP/HTTP protobuf payloads against any OTLP/HTTP
 * endpoint (chainwatch, or another receiver for a side-by-side run) over keep-alive connections.
 *
 * Two modes:
 * - closed loop (no rate): `concurrency` connections each send the next payload as soon as the
 *   previous answer arrives — the maximum the target sustains;
 * - open loop (`ratePerSecond`): requests are scheduled at fixed intervals whatever the target
 *   does, and each latency is measured from the request's scheduled time, not from when a
 *   connection became free, so a stalled target shows up in the percentiles (no coordinated
 *   omission).
 *
 * It counts answers by status, how many refusals carried Retry-After, and the spans of every 200 —
 * what the target acknowledged, which a benchmark compares with what was stored.
 *
 * Runs in its own process (`node dist/bench/load-generator.js`, JSON in and out over IPC or
 * stdout) so its CPU is never counted as the target's.
 */
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface Payload {
  body: Buffer;
  spans: number;
  /** Where each span's 16-byte trace id sits in `body` (bench/payloads.ts). */
  traceIdOffsets: number[];
}

/**
 * The body to send for the `n`th send: a copy whose trace ids start with `n` (4 bytes), so no two
 * sends carry the same span and the target's stored count is an exact loss/duplicate check. The
 * last bytes of each id, which chainwatch keys its partitions by, are left as they were.
 */
function stamped(payload: Payload, n: number): Buffer {
  if (payload.traceIdOffsets.length === 0) return payload.body;
  const body = Buffer.from(payload.body);
  for (const at of payload.traceIdOffsets) body.writeUInt32BE(n >>> 0, at);
  return body;
}

export interface LoadOptions {
  /** Base URL; requests go to `<target>/v1/traces`. */
  target: string;
  payloads: readonly Payload[];
  concurrency: number;
  durationS: number;
  /** Requests per second (open loop); omitted: closed loop, as fast as answers come. */
  ratePerSecond?: number;
  /** Send every payload exactly once (closed loop), then stop: a data set with no repeats. */
  once?: boolean;
  /** Extra request headers (an API key, for example). */
  headers?: Record<string, string>;
}

export interface LoadResult {
  seconds: number;
  requests: number;
  /** Answers by HTTP status; 0 counts connection errors. */
  statuses: Record<string, number>;
  /** 429/503 answers that carried a Retry-After header. */
  refusedWithRetryAfter: number;
  /** Spans in requests answered 200: what the target acknowledged. */
  acceptedSpans: number;
  /** Acknowledged spans per second of wall time. */
  acceptedSpansPerSecond: number;
  /** Latency percentiles in milliseconds over every answered request. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Open loop only: requests that could not even be scheduled because every connection was busy at the end. */
  unsent: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const url = new URL('/v1/traces', options.target);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let refusedWithRetryAfter = 0;
  let acceptedSpans = 0;
  let requests = 0;
  let next = 0;
  // Distinct across runs against the same target as well.
  const runStamp = (Date.now() & 0xffff) * 0x10000;

  const post = (payload: Payload, scheduledAt: number): Promise<void> =>
    new Promise((resolve) => {
      const done = (status: number, retryAfter: boolean): void => {
        latencies.push(performance.now() - scheduledAt);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 200) acceptedSpans += payload.spans;
        if ((status === 429 || status === 503) && retryAfter) refusedWithRetryAfter++;
        resolve();
      };
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/x-protobuf', ...options.headers },
        },
        (res) => {
          res.resume();
          res.on('end', () => done(res.statusCode ?? 0, res.headers['retry-after'] !== undefined));
          res.on('error', () => done(0, false));
        },
      );
      req.on('error', () => done(0, false));
      req.end(stamped(payload, runStamp + requests++));
    });

  const started = performance.now();
  const deadline = started + options.durationS * 1000;
  let unsent = 0;
  if (options.once) {
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < options.payloads.length) await post(options.payloads[next++]!, performance.now());
      }),
    );
  } else if (options.ratePerSecond === undefined) {
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (performance.now() < deadline) await post(options.payloads[next++ % options.payloads.length]!, performance.now());
      }),
    );
  } else {
    // Open loop: a request every 1/rate seconds from the start, each on a free connection; a
    // request waits for a connection, and that wait counts in its latency.
    const interval = 1000 / options.ratePerSecond;
    const inFlight = new Set<Promise<void>>();
    let i = 0;
    for (;;) {
      const scheduledAt = started + i * interval;
      if (scheduledAt >= deadline) break;
      const now = performance.now();
      if (scheduledAt > now) await new Promise((r) => setTimeout(r, scheduledAt - now));
      while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
      const p = post(options.payloads[next++ % options.payloads.length]!, scheduledAt).then(() => {
        inFlight.delete(p);
      });
      inFlight.add(p);
      i++;
    }
    await Promise.all(inFlight);
    unsent = Math.max(0, Math.floor(options.durationS * options.ratePerSecond) - i);
  }
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  const round = (n: number): number => Math.round(n * 100) / 100;
  return {
    seconds: round(seconds),
    requests,
    statuses,
    refusedWithRetryAfter,
    acceptedSpans,
    acceptedSpansPerSecond: Math.round(acceptedSpans / seconds),
    latencyMs: { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? 0) },
    unsent,
  };
}

/** Payloads as a file: each is `<u32 spans><u32 offsets><u32 length><u32 offset>…<bytes>`, little-endian. */
export function encodePayloadFile(payloads: readonly Payload[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of payloads) {
    const head = Buffer.alloc(12 + 4 * p.traceIdOffsets.length);
    head.writeUInt32LE(p.spans, 0);
    head.writeUInt32LE(p.traceIdOffsets.length, 4);
    head.writeUInt32LE(p.body.length, 8);
    p.traceIdOffsets.forEach((o, i) => head.writeUInt32LE(o, 12 + 4 * i));
    parts.push(head, p.body);
  }
  return Buffer.concat(parts);
}

export function decodePayloadFile(buf: Buffer): Payload[] {
  const out: Payload[] = [];
  let pos = 0;
  while (pos + 12 <= buf.length) {
    const spans = buf.readUInt32LE(pos);
    const offsets = buf.readUInt32LE(pos + 4);
    const length = buf.readUInt32LE(pos + 8);
    const bodyAt = pos + 12 + 4 * offsets;
    if (bodyAt + length > buf.length) throw new Error(`payload file truncated at byte ${pos}`);
    const traceIdOffsets = Array.from({ length: offsets }, (_, i) => buf.readUInt32LE(pos + 12 + 4 * i));
    out.push({ spans, traceIdOffsets, body: buf.subarray(bodyAt, bodyAt + length) });
    pos = bodyAt + length;
  }
  return out;
}

/** CLI: `load-generator --target URL --payloads FILE [--concurrency N] [--duration S] [--rate R | --once]`; prints the result as JSON. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      payloads: { type: 'string' },
      concurrency: { type: 'string', default: '16' },
      duration: { type: 'string', default: '10' },
      rate: { type: 'string' },
      once: { type: 'boolean', default: false },
    },
  });
  if (!values.target || !values.payloads) throw new Error('--target URL and --payloads FILE are required');
  const result = await runLoad({
    target: values.target,
    payloads: decodePayloadFile(readFileSync(values.payloads)),
    concurrency: Number(values.concurrency),
    durationS: Number(values.duration),
    ...(values.rate ? { ratePerSecond: Number(values.rate) } : {}),
    once: values.once ?? false,
  });
  if (process.send) process.send(result);
  else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`load-generator: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
