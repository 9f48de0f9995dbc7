/**
 * Edge windows rebuilt from ClickHouse: a worker that takes a partition over (restart, rebalance)
 * ends up with exactly the totals of a worker that never stopped — the rows before the batch's
 * offset, each source once — and waits while the inventory has not stored them yet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryableError } from '../../pipeline/errors.js';
import { silentLogger } from '../../pipeline/logger.js';
import type { StageContext } from '../../pipeline/stage.js';
import type { PlacedEdgePartial } from '../../schemas/edges.js';
import { createSpan, createTracesData, SpanKind, StatusCode } from '../../schemas/otlp-traces.js';
import { testEngineDir, uniqueName } from '../../test/harness/chainwatch.js';
import { processAndStore } from '../../test/harness/stages.js';
import { migrate, openClickHouse, type ClickHouse } from '../storage/clickhouse.js';
import { edgePartials } from './call-edges.js';
import { EdgeRegistryStage } from './edge-registry-stage.js';
import { EdgeWindows, type EdgeWindow } from './edge-windows.js';

const MINUTE0 = 1_763_900_040; // a minute start
let seq = 0;

/** One inventory batch: `calls` calls to each peer in `minute` (index from MINUTE0), every third an error, placed at offsets from `offset`. */
function batch(source: string, minute: number, peers: string[], calls: number, offset: number): PlacedEdgePartial[] {
  const spans = peers.flatMap((peer) =>
    Array.from({ length: calls }, (_, i) => {
      seq++;
      const start = BigInt(MINUTE0 + minute * 60) * 1_000_000_000n + BigInt(i);
      return createSpan({
        traceId: seq.toString(16).padStart(32, '0'),
        spanId: seq.toString(16).padStart(16, '0'),
        kind: SpanKind.CLIENT,
        startTimeUnixNano: start,
        endTimeUnixNano: start + BigInt(i + 1) * 7_000_000n,
        attributes: [{ key: 'peer.service', value: peer }],
        status: { code: i % 3 === 0 ? StatusCode.ERROR : StatusCode.UNSET, message: '' },
      });
    }),
  );
  return edgePartials([createTracesData('win', spans)], source).map((partial, i) => ({ partial, offset: String(offset + i) }));
}

const view = (edges: EdgeWindow[]): Record<string, Record<number, string>> =>
  Object.fromEntries(
    edges
      .map((e) => [e.identity.peer, Object.fromEntries([...e.minutes].sort(([a], [b]) => a - b).map(([m, t]) => [(m - MINUTE0) / 60, `${t.calls}/${t.errors}/${t.durationSumMs.toFixed(3)}/${t.latencyBuckets.join(',')}`]))] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );

describe('edge windows', () => {
  let ch: ClickHouse;
  const ctx = (batchId: string, assignmentGeneration: number, partition = 0): StageContext => ({ batchId, partition, signal: new AbortController().signal, assignmentGeneration });
  const windows = (windowMinutes = 10, rebuildWaitMs = 30_000): EdgeWindows => new EdgeWindows({ clickhouse: ch, windowMinutes, rebuildWaitMs, logger: silentLogger() });

  beforeAll(async () => {
    ch = await openClickHouse({ kind: 'embedded', path: testEngineDir(), database: uniqueName('windows'), username: 'default', password: '' });
    await migrate(ch);
  });
  afterAll(async () => {
    await ch?.close();
  });

  it('rebuilds on a takeover exactly what a worker that never stopped holds', async () => {
    const registry = new EdgeRegistryStage({ clickhouse: ch, longLivedCredentialS: 86_400, maxTrackedEdges: 1000 });
    const batches = [batch('s1', 0, ['a', 'b'], 5, 0), batch('s2', 1, ['a'], 7, 2), batch('s3', 1, ['b', 'c'], 4, 3), batch('s4', 2, ['a', 'c'], 3, 5)];
    // The same partial published twice (the inventory replayed its batch): a second message.
    batches.splice(3, 0, batches[2]!.map((p) => ({ ...p })));
    let next = 0;
    const placed = batches.map((b) => b.map((p) => ({ ...p, offset: String(next++) })));
    const steady = windows();
    for (const [i, b] of placed.entries()) {
      await processAndStore(registry, b, ctx(`e/0/${i}`, 1));
      await steady.apply(b, ctx(`e/0/${i}`, 1));
    }
    // A worker taking the partition over at the fourth batch (offset of its first partial).
    const takeover = windows();
    for (const b of placed.slice(3)) await takeover.apply(b, ctx('x', 1));
    expect(view(takeover.edgesOf(0))).toEqual(view(steady.edgesOf(0)));
    expect(view(steady.edgesOf(0)).b).toEqual({ 0: expect.stringMatching(/^5\/2\//), 1: expect.stringMatching(/^4\/2\//) });
    expect(takeover.edgesLoaded).toBe(3);
    // And the same after a rebalance of the steady one: it forgets and rebuilds.
    await steady.apply(placed[4]!, ctx('y', 2));
    expect(steady.edgesLoaded).toBe(3);
    expect(view(steady.edgesOf(0))).toEqual(view(takeover.edgesOf(0)));
  });

  it('waits while the inventory has not stored the partition up to the batch, then goes on without it', async () => {
    const w = windows(10, 300);
    const ahead = batch('s9', 0, ['z'], 2, 1_000_000);
    const err = await w.apply(ahead, ctx('e/7/1000000', 1, 7)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as Error).message).toBe('waiting for the inventory to store partition 7 of the edges topic up to offset 999999');
    await new Promise((r) => setTimeout(r, 350));
    const applied = await w.apply(ahead, ctx('e/7/1000000', 1, 7));
    expect(w.rebuildsIncomplete).toBe(1);
    expect(applied.touched.map((e) => e.identity.peer)).toEqual(['z']);
  });

  it('keeps the last window of minutes and counts a source once', async () => {
    // Nothing stored by an inventory here: no waiting (rebuildWaitMs 0), the stream alone.
    const w2 = windows(3, 0);
    for (let m = 0; m < 6; m++) await w2.apply(batch(`m${m}`, m, ['p'], 2, 6_000_000 + m), ctx(`e/8/${m}`, 1, 8));
    const again = batch('m5', 5, ['p'], 2, 6_000_100);
    const applied = await w2.apply(again, ctx('e/8/dup', 1, 8));
    expect(applied.watermark).toBe(MINUTE0 + 5 * 60);
    expect(Object.keys(view(w2.edgesOf(8)).p!)).toEqual(['3', '4', '5']);
    expect(view(w2.edgesOf(8)).p![5]).toMatch(/^2\/1\//);
  });

  it('skips partials whose minute lies far ahead of the clock, so a wrong client clock cannot empty the windows', async () => {
    const w = windows(3, 0);
    await w.apply(batch('f0', 0, ['q'], 2, 7_000_000), ctx('e/6/0', 1, 6));
    const aheadMinutes = Math.ceil((Date.now() / 1000 + 86_400 - MINUTE0) / 60); // a day ahead
    const applied = await w.apply(batch('f1', aheadMinutes, ['q'], 2, 7_000_001), ctx('e/6/1', 1, 6));
    expect(w.futureSkipped).toBe(1);
    expect(applied.watermark).toBe(MINUTE0);
    expect(Object.keys(view(w.edgesOf(6)).q!)).toEqual(['0']);
  });
});
