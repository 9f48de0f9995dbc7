import { describe, expect, it } from 'vitest';
import type { ConsumedBatch } from './bus.js';
import { BusFullError, ShutdownError } from './errors.js';
import { MemoryBus } from './memory-bus.js';

const msg = (n: number) => ({ key: String(n % 3), value: new Uint8Array([n]) });

describe('in-process bus', () => {
  it('resolves a publish only after every group committed it', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100 });
    const handledBy: string[] = [];
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((r) => (releaseSlow = r));
    await bus.subscribe({ topic: 't', group: 'fast', maxBatchMessages: 10, maxWaitMs: 0 }, async () => {
      handledBy.push('fast');
    });
    await bus.subscribe({ topic: 't', group: 'slow', maxBatchMessages: 10, maxWaitMs: 0 }, async () => {
      await slowGate;
      handledBy.push('slow');
    });
    let resolved = false;
    const p = bus.publish('t', [msg(1), msg(2)]).then(() => (resolved = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(handledBy).toEqual(['fast']);
    expect(resolved).toBe(false);
    releaseSlow();
    await p;
    expect(handledBy).toEqual(['fast', 'slow']);
    await bus.shutdown();
  });

  it('delivers in order with increasing offsets and batches up to the limit', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 1000, firstOffset: 0 });
    const batches: ConsumedBatch[] = [];
    await bus.subscribe({ topic: 't', group: 'g', maxBatchMessages: 4, maxWaitMs: 5 }, async (b) => {
      batches.push(b);
    });
    await Promise.all(Array.from({ length: 10 }, (_, i) => bus.publish('t', [msg(i)])));
    const offsets = batches.flatMap((b) => b.messages.map((m) => Number(m.offset)));
    expect(offsets).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batches.flatMap((b) => b.messages.map((m) => m.value[0]))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Math.max(...batches.map((b) => b.messages.length))).toBeLessThanOrEqual(4);
    await bus.shutdown();
  });

  it('starts offsets at its creation time in µs, so batch ids of two processes on the same data never meet', async () => {
    const offsetsOf = async (bus: MemoryBus): Promise<number[]> => {
      const offsets: number[] = [];
      await bus.subscribe({ topic: 't', group: 'g', maxBatchMessages: 10, maxWaitMs: 0 }, async (b) => void offsets.push(...b.messages.map((m) => Number(m.offset))));
      await bus.publish('t', [msg(1), msg(2)]);
      await bus.shutdown();
      return offsets;
    };
    const before = Date.now() * 1000;
    const first = await offsetsOf(new MemoryBus({ maxPendingMessages: 10 }));
    await new Promise((r) => setTimeout(r, 2));
    const second = await offsetsOf(new MemoryBus({ maxPendingMessages: 10 }));
    expect(first[0]).toBeGreaterThanOrEqual(before);
    expect(first[1]).toBe(first[0]! + 1);
    expect(second[0]).toBeGreaterThan(first[1]!);
  });

  it('resolves a publish to a detached topic once queued, and still delivers it', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 10, detachedTopics: ['alerts'] });
    let release!: () => void;
    const handled: number[] = [];
    const gate = new Promise<void>((r) => (release = r));
    for (const topic of ['alerts', 'spans']) {
      await bus.subscribe({ topic, group: 'g', maxBatchMessages: 10, maxWaitMs: 0 }, async (b) => {
        await gate;
        handled.push(...b.messages.map((m) => m.value[0]!));
      });
    }
    let spansDone = false;
    const spans = bus.publish('spans', [msg(1)]).then(() => (spansDone = true));
    await bus.publish('alerts', [msg(2)]); // resolves while the handler still waits
    expect(handled).toEqual([]);
    expect(spansDone).toBe(false);
    release();
    await spans;
    await new Promise((r) => setTimeout(r, 20));
    expect(handled.sort()).toEqual([1, 2]);
    expect(bus.queueDepth()).toBe(0);
    await bus.shutdown();
  });

  it('redelivers the same batch when the handler fails', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100, firstOffset: 0 });
    const seen: string[] = [];
    let failures = 2;
    await bus.subscribe({ topic: 't', group: 'g', maxBatchMessages: 10, maxWaitMs: 0 }, async (b) => {
      seen.push(b.messages.map((m) => m.offset).join(','));
      if (failures-- > 0) throw new Error('sink down');
    });
    await bus.publish('t', [msg(1), msg(2), msg(3)]);
    expect(seen).toEqual(['0,1,2', '0,1,2', '0,1,2']);
    await bus.shutdown();
  });

  it('refuses a publish beyond its capacity with BusFullError, and accepts again once drained', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 3, retryAfterMs: 2000 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await bus.subscribe({ topic: 't', group: 'g', maxBatchMessages: 10, maxWaitMs: 0 }, () => gate);
    const first = bus.publish('t', [msg(1), msg(2)]);
    const refused = await bus.publish('t', [msg(3), msg(4)]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BusFullError);
    expect((refused as BusFullError).retryAfterMs).toBe(2000);
    release();
    await first;
    await expect(bus.publish('t', [msg(5), msg(6), msg(7)])).resolves.toBeUndefined();
    await bus.shutdown();
  });

  it('rejects publishes still waiting at shutdown, after aborting the handler in flight', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 10 });
    let aborted = false;
    await bus.subscribe({ topic: 't', group: 'g', maxBatchMessages: 10, maxWaitMs: 0 }, (_b, { signal }) =>
      new Promise<void>((_, reject) =>
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(new ShutdownError());
        }),
      ),
    );
    const p = bus.publish('t', [msg(1)]);
    const outcome = p.then(() => 'resolved', (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 10));
    await bus.shutdown();
    expect(aborted).toBe(true);
    expect(await outcome).toBeInstanceOf(ShutdownError);
    await expect(bus.publish('t', [msg(2)])).rejects.toBeInstanceOf(ShutdownError);
  });
});
