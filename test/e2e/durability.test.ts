/**
 * Embedded mode acknowledges an OTLP request only once its spans are stored: every span whose
 * request got a 200 must be in ClickHouse after the process is killed with SIGKILL mid-stream.
 * The pipeline runs as a real `chainwatch start` child process; this test process then opens the
 * same embedded data directory and counts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { openClickHouse, type ClickHouse } from '../../processors/storage/clickhouse.js';
import { createSpan, createTracesData, type TracesData } from '../../schemas/otlp-traces.js';
import { testConfig, startTestChainwatch } from '../harness/chainwatch.js';
import { killAndWait, startCli } from '../harness/cli.js';
import { countStoredSpans } from '../harness/span-expectations.js';

const SPANS_PER_REQUEST = 50;

function request(n: number): TracesData {
  const traceId = n.toString(16).padStart(32, '0');
  const spans = Array.from({ length: SPANS_PER_REQUEST }, (_, i) =>
    createSpan({
      traceId,
      spanId: (i + 1).toString(16).padStart(16, '0'),
      parentSpanId: i === 0 ? '' : '0000000000000001',
      flags: 1,
      name: `op-${i % 5}`,
      kind: 3,
      startTimeUnixNano: 1_763_900_000_000_000_000n + BigInt(n * 1000 + i),
      endTimeUnixNano: 1_763_900_000_000_500_000n + BigInt(n * 1000 + i),
      attributes: [{ key: 'request.n', value: BigInt(n) }],
    }),
  );
  return createTracesData('durability', spans, { name: 'test' });
}

describe('durability in embedded mode', () => {
  let ch: ClickHouse | null = null;
  afterAll(async () => {
    await ch?.close();
  });

  it('keeps every acknowledged span across kill -9', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-kill9-'));
    const file = join(dir, 'chainwatch.yaml');
    writeFileSync(file, `collector:\n  http:\n    port: 0\n  grpc:\n    port: 0\nadmin:\n  port: 0\nclickhouse:\n  path: ${dir}/engine\n  database: kill9\n`);
    const app = await startCli(['--config', file]);

    const acked: number[] = [];
    let stop = false;
    let n = 1;
    const sender = async (): Promise<void> => {
      while (!stop) {
        const id = n++;
        try {
          const res = await fetch(`${app.otlpUrl}/v1/traces`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-protobuf' },
            body: encodeExportTraceServiceRequest(request(id)),
          });
          if (res.status === 200) acked.push(id);
        } catch {
          return; // the process is gone: no answer, no acknowledgement
        }
      }
    };
    const senders = Array.from({ length: 8 }, sender);
    while (acked.length < 40) await new Promise((r) => setTimeout(r, 5));
    await killAndWait(app.child, 'SIGKILL'); // requests are in flight at this moment
    stop = true;
    await Promise.all(senders);
    const ackedAtKill = acked.length;
    expect(ackedAtKill).toBeGreaterThanOrEqual(40);

    ch = await openClickHouse({ kind: 'embedded', path: `${dir}/engine`, database: 'kill9', username: 'default', password: '' });
    const ackedIds = acked.map((id) => `'${id.toString(16).padStart(32, '0')}'`).join(',');
    expect(await countStoredSpans(ch, `TraceId IN (${ackedIds})`)).toBe(ackedAtKill * SPANS_PER_REQUEST);
    // Nothing is stored twice either.
    const rs = await ch.client.query({ query: 'SELECT count() AS n, uniqExact(TraceId, SpanId) AS u FROM kill9.otel_traces', format: 'JSONEachRow' });
    const [row] = await rs.json<{ n: string; u: string }>();
    expect(Number(row!.n)).toBe(Number(row!.u));
  });

  it('stores what a restarted process accepts on the data of the one before (batch ids never repeat)', async () => {
    // The in-process bus starts its offsets afresh in every process; if batch ids (the inserts'
    // deduplication tokens) repeated, the new process's first batches would be dropped as retries.
    await ch?.close(); // one embedded data directory per process at a time
    ch = null;
    const config = testConfig();
    for (const run of [1, 2, 3]) {
      const app = await startTestChainwatch(config);
      try {
        for (const n of [run * 100 + 1, run * 100 + 2]) {
          const res = await fetch(`${app.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: encodeExportTraceServiceRequest(request(n)) });
          expect(res.status).toBe(200);
        }
        expect(await countStoredSpans(app.clickhouse!)).toBe(run * 2 * SPANS_PER_REQUEST);
      } finally {
        await app.stop();
      }
    }
  });
});

