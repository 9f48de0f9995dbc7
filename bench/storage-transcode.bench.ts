/**
 * The storage path's own work, bus messages → ClickHouse, on realistic checkout requests
 * (bench/realistic-traces.ts, 200 spans each, 1% of values secret):
 *
 * - JavaScript: the old decode + encodeSpanRows + Buffer.from against transcodeSpanMessages, in
 *   spans per CPU-second (user + system, so GC and page faults count). The storage path's budget
 *   is 2.5 µs of JavaScript per span (400,000 spans per CPU-second).
 * - Insert into the embedded engine's real `otel_traces` (with its materialized view): chdb's
 *   zero-copy rawInsert against `client.insert`, in rows per CPU-second of the whole process (the
 *   engine's threads included), rounds alternating so background merges weigh on both alike.
 *
 * Prints the median and the best of several rounds: other load on the machine only ever makes a
 * round slower. Standalone: `npx tsc -p tsconfig.json && node dist/bench/storage-transcode.bench.js [seconds-per-round]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeExportTraceServiceRequest } from '../collector/otlp-protobuf.js';
import type { ConsumedMessage } from '../pipeline/bus.js';
import { seededRandom } from '../processors/redaction/sample-credentials.js';
import { migrate, openClickHouse, type ClickHouse } from '../processors/storage/clickhouse.js';
import { insertIdempotent } from '../processors/storage/clickhouse-insert.js';
import { encodeSpanRows, SPAN_COLUMNS } from '../processors/storage/span-rows.js';
import { transcodeSpanMessages } from '../processors/storage/span-transcoder.js';
import { decodeSpanMessages } from '../processors/storage/storage-stage.js';
import { buildRealisticRequest } from './realistic-traces.js';

const SPANS_PER_REQUEST = 200;
/** Messages per batch, as the storage consumer gets them. */
const BATCH_MESSAGES = 16;
const DISTINCT_BATCHES = 4;
const ROUNDS = 7;

/** A full GC before each case, so that none pays for the garbage of the one before. */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const noReject = (): void => {
  throw new Error('benchmark request rejected');
};

/** Runs `operation` round-robin over the inputs for about `seconds` of CPU time; returns units per CPU-second. */
async function measureRound<T>(inputs: readonly T[], seconds: number, unitsPerCall: number, operation: (input: T, call: number) => unknown): Promise<number> {
  const before = process.cpuUsage();
  let calls = 0;
  let elapsedMicros = 0;
  while (elapsedMicros < seconds * 1e6) {
    await operation(inputs[calls % inputs.length]!, calls);
    calls++;
    const used = process.cpuUsage(before);
    elapsedMicros = used.user + used.system;
  }
  return (calls * unitsPerCall) / (elapsedMicros / 1e6);
}

function summary(rates: number[]): { median: number; best: number } {
  const sorted = [...rates].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, best: sorted[sorted.length - 1]! };
}

function formatRate(perSecond: number): string {
  return Math.round(perSecond).toLocaleString('en-US').padStart(11);
}

function printRow(name: string, rates: number[], unit: string): void {
  const { median, best } = summary(rates);
  console.log(`${name.padEnd(34)} ${formatRate(median)} ${formatRate(best)}   ${(1e6 / median).toFixed(2)} µs/${unit} (median)`);
}

async function benchJavaScript(batches: readonly ConsumedMessage[][], seconds: number): Promise<void> {
  const spansPerBatch = BATCH_MESSAGES * SPANS_PER_REQUEST;
  const oldPath = (batch: ConsumedMessage[]) => Buffer.from(encodeSpanRows(decodeSpanMessages(batch, noReject)).text, 'utf8');
  // Released as the storage stage releases it once inserted, so that the next batch reuses its memory.
  const transcoded = (batch: ConsumedMessage[]) => transcodeSpanMessages(batch, noReject).release();
  for (const batch of batches) {
    const rows = transcodeSpanMessages(batch, noReject);
    if (!oldPath(batch).equals(rows.body)) throw new Error('the transcoder and the old path disagree');
    rows.release();
  }
  const cases: [string, (batch: ConsumedMessage[]) => unknown][] = [
    ['decode + encodeSpanRows (old)', oldPath],
    ['transcodeSpanMessages', transcoded],
  ];
  console.log(`\nJavaScript, bus messages → TSV Buffer          median        best   (spans per CPU-second)`);
  for (const [name, operation] of cases) {
    for (let i = 0; i < 30; i++) operation(batches[i % batches.length]!);
    collectGarbage();
    const rates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) rates.push(await measureRound(batches, seconds, spansPerBatch, operation));
    printRow(name, rates, 'span');
  }
}

async function benchInsert(bodies: readonly Buffer[], rowsPerBody: number, seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chainwatch-bench-'));
  let ch: ClickHouse | null = null;
  try {
    ch = await openClickHouse({ kind: 'embedded', path: dir, database: 'bench', username: 'default', password: '' });
    await migrate(ch);
    const embedded = ch;
    const signal = new AbortController().signal;
    const paths: [string, ClickHouse][] = [
      ['rawInsert (zero-copy)', embedded],
      ['client.insert', { ...embedded, rawInsert: null }],
    ];
    const rates = new Map<string, number[]>(paths.map(([name]) => [name, []]));
    let token = 0;
    const insert = (via: ClickHouse, body: Buffer) =>
      insertIdempotent(via, {
        table: 'bench.otel_traces',
        columns: SPAN_COLUMNS,
        data: { format: 'TabSeparated', body },
        rows: rowsPerBody,
        deduplicationToken: `bench/${token++}`,
        signal,
      });
    for (const [, via] of paths) await insert(via, bodies[0]!);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, via] of paths) rates.get(name)!.push(await measureRound(bodies, seconds, rowsPerBody, (body) => insert(via, body)));
    }
    console.log(`\nInsert into the embedded engine (${rowsPerBody} rows each)   median        best   (rows per CPU-second)`);
    for (const [name] of paths) printRow(name, rates.get(name)!, 'row');
  } finally {
    await ch?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 1);
  const random = seededRandom(0x5eed);
  let offset = 0;
  const batches = Array.from({ length: DISTINCT_BATCHES }, () =>
    Array.from({ length: BATCH_MESSAGES }, (): ConsumedMessage => ({
      key: null,
      offset: String(offset++),
      value: encodeExportTraceServiceRequest(buildRealisticRequest(random, 0.01, SPANS_PER_REQUEST)),
    })),
  );
  const bytes = batches.flat().reduce((sum, m) => sum + m.value.length, 0);
  console.log(`node ${process.version}, ${BATCH_MESSAGES} messages of ${SPANS_PER_REQUEST} spans per batch, ${ROUNDS} rounds of ~${seconds}s CPU per case`);
  console.log(`protobuf: ${(bytes / (batches.length * BATCH_MESSAGES * SPANS_PER_REQUEST)).toFixed(0)} bytes/span`);
  await benchJavaScript(batches, seconds);
  // Inserts of all the batches at once: the storage consumer's batches grow while an insert runs.
  const body = Buffer.concat(batches.map((batch) => transcodeSpanMessages(batch, noReject).body));
  await benchInsert([body], DISTINCT_BATCHES * BATCH_MESSAGES * SPANS_PER_REQUEST, seconds);
}

await main();
