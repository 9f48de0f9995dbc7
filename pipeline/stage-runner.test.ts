/**
 * The stage runner on the in-process bus: outputs are published and offsets committed only after
 * the stage succeeded; retryable failures are retried with the same batch id; a permanent failure
 * drops the batch (counted) instead of blocking the stream; undecodable messages are counted and
 * dropped with their reason.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from './logger.js';
import { MemoryBus } from './memory-bus.js';
import { PermanentError, RetryableError } from './errors.js';
import type { Stage, StageContext } from './stage.js';
import { runConsumerStage, type BatchDecoder } from './stage-runner.js';

const decodeNumbers: BatchDecoder<number[]> = (messages, reject) => {
  const out: number[] = [];
  for (const m of messages) {
    if (m.value.length === 0) reject(m, 'empty message');
    else out.push(m.value[0]!);
  }
  return out;
};

class RecordingStage implements Stage<number[]> {
  readonly name = 'recording';
  readonly calls: { input: number[]; batchId: string }[] = [];
  constructor(private readonly behaviour: (call: number, input: number[]) => void) {}
  async start(): Promise<void> {}
  async process(input: number[], ctx: StageContext) {
    this.calls.push({ input, batchId: ctx.batchId });
    this.behaviour(this.calls.length, input);
    return { publish: [{ topic: 'out', messages: input.map((n) => ({ key: null, value: new Uint8Array([n * 10]) })) }] };
  }
  async shutdown(): Promise<void> {}
}

function runner(bus: MemoryBus, stage: Stage<number[]>) {
  return runConsumerStage({
    bus,
    topic: 'in',
    group: 'g',
    stage,
    decode: decodeNumbers,
    maxBatchMessages: 100,
    maxWaitMs: 1,
    retryInitialMs: 1,
    retryMaxMs: 5,
    logger: silentLogger(),
  });
}

describe('stage runner', () => {
  it('retries a failing batch with the same id, then publishes its outputs and commits', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100, firstOffset: 0 });
    const outputs: number[] = [];
    await bus.subscribe({ topic: 'out', group: 'sink', maxBatchMessages: 100, maxWaitMs: 0 }, async (b) => {
      for (const m of b.messages) outputs.push(m.value[0]!);
    });
    const stage = new RecordingStage((call) => {
      if (call <= 3) throw new RetryableError('sink unavailable', 10);
    });
    const running = await runner(bus, stage);
    await bus.publish('in', [1, 2, 3].map((n) => ({ key: null, value: new Uint8Array([n]) })));
    expect(stage.calls).toHaveLength(4);
    expect(new Set(stage.calls.map((c) => c.batchId)).size).toBe(1);
    expect(stage.calls[0]!.batchId).toBe('in/0/0-2');
    expect(outputs).toEqual([10, 20, 30]);
    expect(running.stats).toMatchObject({ batches: 1, messages: 3, retries: 3, droppedMessages: 0 });
    await running.stop();
    await bus.shutdown();
  });

  it('runs a stage\'s after-publish step once the outputs are durable; a failure there publishes again', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100, firstOffset: 0 });
    const events: string[] = [];
    await bus.subscribe({ topic: 'out', group: 'sink', maxBatchMessages: 100, maxWaitMs: 0 }, async (b) => {
      events.push(`published ${b.messages.map((m) => m.value[0]).join(',')}`);
    });
    let afterCalls = 0;
    const stage: Stage<number[]> = {
      name: 'announcing',
      start: async () => {},
      shutdown: async () => {},
      process: async (input) => ({
        publish: [{ topic: 'out', messages: input.map((n) => ({ key: null, value: new Uint8Array([n]) })) }],
        after: async () => {
          events.push(`after ${++afterCalls}`);
          if (afterCalls === 1) throw new RetryableError('state store unavailable', 10);
        },
      }),
    };
    const running = await runner(bus, stage);
    await bus.publish('in', [{ key: null, value: new Uint8Array([4]) }]);
    expect(events).toEqual(['published 4', 'after 1', 'published 4', 'after 2']);
    expect(running.stats).toMatchObject({ batches: 1, retries: 1 });
    await running.stop();
    await bus.shutdown();
  });

  it('drops a batch on a permanent error and goes on with the next', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100 });
    const stage = new RecordingStage((_call, input) => {
      if (input.includes(66)) throw new PermanentError('schema mismatch');
    });
    const running = await runner(bus, stage);
    await bus.publish('in', [{ key: null, value: new Uint8Array([66]) }]);
    await bus.publish('in', [{ key: null, value: new Uint8Array([7]) }]);
    expect(stage.calls.map((c) => c.input)).toEqual([[66], [7]]);
    expect(running.stats).toMatchObject({ batches: 2, droppedMessages: 1 });
    await running.stop();
    await bus.shutdown();
  });

  it('counts and drops undecodable messages, and hands the rest to the stage', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100 });
    const stage = new RecordingStage(() => {});
    const running = await runner(bus, stage);
    await bus.publish('in', [{ key: null, value: new Uint8Array([5]) }, { key: null, value: new Uint8Array(0) }, { key: null, value: new Uint8Array([6]) }]);
    expect(stage.calls.map((c) => c.input)).toEqual([[5, 6]]);
    expect(running.stats.droppedMessages).toBe(1);
    await running.stop();
    await bus.shutdown();
  });

  it('stops while a batch is being retried, leaving it uncommitted', async () => {
    const bus = new MemoryBus({ maxPendingMessages: 100 });
    const stage = new RecordingStage(() => {
      throw new Error('connection refused');
    });
    const running = await runner(bus, stage);
    const published = bus.publish('in', [{ key: null, value: new Uint8Array([1]) }]).then(() => 'acknowledged', (e: Error) => e.name);
    while (stage.calls.length < 2) await new Promise((r) => setTimeout(r, 2));
    await running.stop();
    await bus.shutdown();
    expect(await published).toBe('ShutdownError');
  });
});
