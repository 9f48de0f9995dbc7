/**
 * chainwatch as the benchmark runs it: `startChainwatch` in a child process of its own, so its CPU
 * time and peak RSS are its own, answering the harness over IPC:
 *
 *   { op: 'stats' }       → CPU seconds (user + system, every thread: the embedded ClickHouse
 *                            engine's included) and current/peak RSS
 *   { op: 'stored' }      → spans in otel_traces and distinct (TraceId, SpanId) pairs, after the
 *                            storage consumers have caught up
 *   { op: 'at-rest' }     → bytes per span at rest (system.parts after OPTIMIZE FINAL)
 *   { op: 'stop' }        → graceful stop, then exit
 *
 * Started with `node dist/bench/system-under-test.js '<config JSON>' <role,role>`; it sends
 * `{ ready, url }` once listening.
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { parseConfig } from '../pipeline/config-loader.js';
import { startChainwatch, type Role } from '../pipeline/chainwatch.js';
import { KafkaBus } from '../pipeline/kafka-bus.js';
import { silentLogger } from '../pipeline/logger.js';

export interface ProcessStats {
  cpuSeconds: number;
  rssMiB: number;
  peakRssMiB: number;
  /**
   * Event-loop delay since the previous stats request, ms (monitorEventLoopDelay): a stall delays
   * every request in flight at once.
   */
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  /** Garbage-collection pauses since the previous stats request, ms. */
  gcPauseMaxMs: number;
  gcPauseTotalMs: number;
  /** Kafka produce round trips since the previous stats request: p99 and max, as power-of-two ms upper bounds (collector on Kafka only). */
  kafkaSendP99Ms?: number;
  kafkaSendMaxMs?: number;
}

let lastSends: readonly number[] = [];

/** p99 and max of the produce round trips since the previous call, from the bus's cumulative histogram. */
function kafkaSends(bus: unknown): Pick<ProcessStats, 'kafkaSendP99Ms' | 'kafkaSendMaxMs'> {
  if (!(bus instanceof KafkaBus)) return {};
  const now = bus.producerStats.sendMsHistogram;
  const counts = now.map((n, i) => n - (lastSends[i] ?? 0));
  lastSends = now;
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return {};
  let seen = 0;
  let p99 = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= total * 0.99) {
      p99 = 2 ** i;
      break;
    }
  }
  let max = 0;
  counts.forEach((n, i) => (n > 0 ? (max = 2 ** i) : undefined));
  return { kafkaSendP99Ms: p99, kafkaSendMaxMs: max };
}

const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const gc = { max: 0, total: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.max = Math.max(gc.max, e.duration);
    gc.total += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

export interface StoredCounts {
  rows: number;
  distinctSpans: number;
  /** Batches the span storage stage has written (one insert each), when this process runs it. */
  spanBatches: number;
}

export interface AtRest {
  rows: number;
  bytesOnDisk: number;
  bytesPerSpan: number;
  uncompressedBytesPerSpan: number;
  /** The heaviest columns, compressed bytes per span (wide parts only: a compact part does not track its columns). */
  columns: Record<string, number>;
  /** Bytes per span of the skip indexes and of the marks (both included in bytesPerSpan). */
  skipIndexBytesPerSpan: number;
  marksBytesPerSpan: number;
}

export type Request = { op: 'stats' } | { op: 'stored' } | { op: 'at-rest' } | { op: 'stop' };

/** Peak RSS from the kernel (VmHWM), in MiB. */
function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

export function processStats(bus?: unknown): ProcessStats {
  const cpu = process.cpuUsage();
  const stats: ProcessStats = {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    rssMiB: process.memoryUsage.rss() / 2 ** 20,
    peakRssMiB: peakRssMiB(),
    eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    eventLoopDelayMaxMs: loopDelay.max / 1e6,
    gcPauseMaxMs: gc.max,
    gcPauseTotalMs: gc.total,
    ...kafkaSends(bus),
  };
  loopDelay.reset();
  gc.max = 0;
  gc.total = 0;
  return stats;
}

async function main(): Promise<void> {
  const config = parseConfig(JSON.parse(process.argv[2]!), '(bench)');
  const roles = (process.argv[3] ?? 'collector,storage').split(',') as Role[];
  const app = await startChainwatch(config, silentLogger(), roles);
  const db = config.clickhouse.database;
  const query = async <T>(sql: string): Promise<T[]> => (await app.clickhouse!.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();

  process.on('message', (msg: Request & { id: number }) => {
    const answer = async (): Promise<unknown> => {
      switch (msg.op) {
        case 'stats':
          return processStats(app.bus);
        case 'stored': {
          const [row] = await query<{ rows: string; spans: string }>(`SELECT count() AS rows, uniqExact(TraceId, SpanId) AS spans FROM ${db}.otel_traces`);
          const spanBatches = app.stages.find((st) => st.name === 'storage')?.stats.batches ?? 0;
          return { rows: Number(row!.rows), distinctSpans: Number(row!.spans), spanBatches } satisfies StoredCounts;
        }
        case 'at-rest': {
          await app.clickhouse!.client.command({ query: `OPTIMIZE TABLE ${db}.otel_traces FINAL` });
          const [parts] = await query<{ rows: string; bytes: string; raw: string; skip: string; marks: string }>(
            `SELECT sum(rows) AS rows, sum(bytes_on_disk) AS bytes, sum(data_uncompressed_bytes) AS raw, sum(secondary_indices_compressed_bytes) AS skip, sum(marks_bytes) AS marks FROM system.parts WHERE database = '${db}' AND table = 'otel_traces' AND active`,
          );
          const rows = Number(parts!.rows);
          const columns = await query<{ name: string; bytes: string }>(
            `SELECT column AS name, sum(column_data_compressed_bytes) AS bytes FROM system.parts_columns WHERE database = '${db}' AND table = 'otel_traces' AND active GROUP BY column HAVING bytes > 0 ORDER BY bytes DESC LIMIT 8`,
          );
          return {
            rows,
            bytesOnDisk: Number(parts!.bytes),
            bytesPerSpan: rows ? Number(parts!.bytes) / rows : 0,
            uncompressedBytesPerSpan: rows ? Number(parts!.raw) / rows : 0,
            skipIndexBytesPerSpan: rows ? Number(parts!.skip) / rows : 0,
            marksBytesPerSpan: rows ? Number(parts!.marks) / rows : 0,
            columns: Object.fromEntries(columns.map((c) => [c.name, rows ? Math.round((10 * Number(c.bytes)) / rows) / 10 : 0])),
          } satisfies AtRest;
        }
        case 'stop':
          await app.stop();
          setImmediate(() => process.exit(0));
          return { stopped: true };
      }
    };
    answer().then(
      (result) => process.send!({ id: msg.id, result }),
      (err: unknown) => process.send!({ id: msg.id, error: (err as Error).message }),
    );
  });
  process.send!({ ready: true, url: app.otlpHttpUrl });
}

main().catch((err: unknown) => {
  process.send?.({ ready: false, error: (err as Error).message });
  process.exitCode = 1;
});
