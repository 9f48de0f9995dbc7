/**
 * The crash window the batch intents close, made to happen on purpose, on the real broker and the
 * real ClickHouse engine: worker A stores a batch and dies before committing its offsets; more
 * messages arrive; worker B (same consumer group) gets a longer batch from the same offset. With
 * intents it cuts the batch where A's ended, so A's rows are deduplicated by their token and every
 * span is stored once. Without them the longer batch has a new token and A's spans are stored
 * twice — shown too, so the test proves the mechanism and not luck.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { KafkaBus } from '../../pipeline/kafka-bus.js';
import { silentLogger } from '../../pipeline/logger.js';
import { runConsumerStage, type RunningStage } from '../../pipeline/stage-runner.js';
import type { Stage, StageContext } from '../../pipeline/stage.js';
import { migrate, openClickHouse, type ClickHouse } from '../../processors/storage/clickhouse.js';
import { transcodeSpanMessages } from '../../processors/storage/span-transcoder.js';
import { StorageStage, type StorageInput } from '../../processors/storage/storage-stage.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { testConfig } from '../harness/chainwatch.js';
import { deleteTopics } from '../harness/kafka-broker.js';
import { countStoredSpans } from '../harness/span-expectations.js';

function message(n: number): { key: string; value: Uint8Array } {
  const span = createSpan({
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: (n + 1).toString(16).padStart(16, '0'),
    name: `span ${n}`,
    kind: 1,
    startTimeUnixNano: 1_767_225_600_000_000_000n,
    endTimeUnixNano: 1_767_225_600_000_001_000n,
  });
  return { key: 'k', value: encodeExportTraceServiceRequest(createTracesData('intents', [span], { name: 's' })) };
}

/** Stores like the real stage, then never returns: the process "dies" before its commit. */
class DiesAfterInsert implements Stage<StorageInput> {
  readonly name = 'storage';
  stored = 0;
  constructor(private readonly inner: StorageStage) {}
  async start(): Promise<void> {}
  async process(input: StorageInput, ctx: StageContext): Promise<void> {
    await this.inner.process(input, ctx);
    this.stored++;
    await new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('killed'))));
  }
  async shutdown(): Promise<void> {}
}

describe('batch intents across a crash between insert and commit', () => {
  const brokers = inject('kafkaBrokers');
  const config = testConfig();
  let ch: ClickHouse;
  const topics: string[] = [];

  beforeAll(async () => {
    ch = await openClickHouse(config.clickhouse);
    await migrate(ch);
  });
  afterAll(async () => {
    await ch?.close();
    await deleteTopics(brokers, topics);
  });

  async function scenario(withIntents: boolean): Promise<number> {
    const topic = `test.intents.${randomUUID()}`;
    topics.push(topic);
    const group = `intents-${randomUUID()}`;
    const newBus = (): KafkaBus => new KafkaBus({ brokers, clientId: 'intents-test', requestTimeoutMs: 10_000, sessionTimeoutMs: 6000, logger: silentLogger() });
    const run = (bus: KafkaBus, stage: Stage<StorageInput>): Promise<RunningStage> =>
      runConsumerStage({
        bus, topic, group, stage, decode: transcodeSpanMessages, maxBatchMessages: 100, maxWaitMs: 50, retryInitialMs: 10, retryMaxMs: 100,
        intents: withIntents ? bus.intents : undefined, logger: silentLogger(),
      }); // prettier-ignore
    const producer = newBus();
    await producer.start();
    await producer.ensureTopics([topic], { partitions: 1, replicationFactor: 1, retentionMs: 3_600_000 });
    await producer.publish(topic, [message(0), message(1)]);

    // Worker A stores the two spans, then dies before committing.
    const busA = newBus();
    await busA.start();
    const dying = new DiesAfterInsert(new StorageStage({ clickhouse: ch }));
    const a = await run(busA, dying);
    await expect.poll(() => dying.stored, { timeout: 30_000 }).toBe(1);
    await a.stop();
    await busA.shutdown();

    // Three more arrive; worker B takes the partition and gets all five from A's offset.
    await producer.publish(topic, [message(2), message(3), message(4)]);
    const busB = newBus();
    await busB.start();
    const b = await run(busB, new StorageStage({ clickhouse: ch }));
    await expect.poll(() => b.stats.messages, { timeout: 30_000 }).toBe(5);
    const stored = await countStoredSpans(ch, "ServiceName = 'intents' AND SpanName LIKE 'span %'");
    await b.stop();
    await busB.shutdown();
    await producer.shutdown();
    await ch.client.command({ query: `TRUNCATE TABLE ${ch.database}.otel_traces` });
    return stored;
  }

  it('stores every span once with intents; without them the crashed batch is stored twice', async () => {
    expect(await scenario(true)).toBe(5);
    expect(await scenario(false)).toBe(7);
  }, 120_000);
});
