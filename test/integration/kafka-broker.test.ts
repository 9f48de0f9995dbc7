/**
 * Integration: kafkajs 2.2.4 against the real broker of test/harness/kafka-global-setup.ts.
 *
 * Proves the client calls the pipeline relies on work with the broker version the harness runs
 * (Kafka 4.x removed old protocol versions, KIP-896): admin createTopics/fetchOffsets/deleteTopics,
 * an idempotent producer with acks=-1, and a consumer group reading with eachBatch and committing
 * offsets by hand. Uses a topic and group of its own, and removes them.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const brokers = inject('kafkaBrokers');

const PARTITIONS = 3;
const KEYS = ['edge-a', 'edge-b', 'edge-c', 'edge-d', 'edge-e', 'edge-f'];
const PER_KEY = 10;

interface Received {
  partition: number;
  offset: number;
  key: string;
  value: string;
}

describe('Kafka test broker', () => {
  it('is reachable on loopback', () => {
    expect(brokers.length).toBeGreaterThan(0);
    if (process.env['KAFKA_BROKERS'] === undefined) expect(brokers).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
  });

  it('round-trips keyed messages: idempotent producer, consumer group, manual offset commits', async () => {
    const topic = `test.kafka-broker.${randomUUID()}`;
    const groupId = `test.kafka-broker.${randomUUID()}`;
    const kafka = new Kafka({ clientId: 'kafka-broker-test', brokers, logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    // kafkajs does not limit in-flight requests by itself; its idempotent producer relies on one
    // at a time per connection (KIP-98) to keep sequence numbers in order across retries.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    // A short fetch long-poll: stop() and disconnect() wait for the fetch in flight.
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250 });
    let topicDeleted = false;

    try {
      await admin.connect();
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true })).toBe(true);
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(metadata.topics[0]?.partitions).toHaveLength(PARTITIONS);

      // Two sends, so the idempotent producer's sequence numbers go past a first batch per partition.
      const produced = KEYS.flatMap((key) => Array.from({ length: PER_KEY }, (_, seq) => ({ key, value: `${key}#${seq}` })));
      await producer.connect();
      const half = produced.length / 2;
      const acks = [
        ...(await producer.send({ topic, acks: -1, messages: produced.slice(0, half) })),
        ...(await producer.send({ topic, acks: -1, messages: produced.slice(half) })),
      ];
      expect(acks.every((ack) => ack.errorCode === 0)).toBe(true);

      // Consume everything, committing each batch's next offset explicitly.
      const received: Received[] = [];
      let allReceived!: () => void;
      const done = new Promise<void>((resolve) => (allReceived = resolve));
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
          for (const message of batch.messages) {
            received.push({
              partition: batch.partition,
              offset: Number(message.offset),
              key: message.key?.toString() ?? '',
              value: message.value?.toString() ?? '',
            });
            resolveOffset(message.offset);
          }
          const last = batch.messages.at(-1);
          if (last !== undefined) {
            await consumer.commitOffsets([{ topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }]);
          }
          await heartbeat();
          if (received.length >= produced.length) allReceived();
        },
      });
      await Promise.race([
        done,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`consumed ${received.length} of ${produced.length} messages in 30s`)), 30_000),
        ),
      ]);

      // Everything arrived exactly once.
      expect(received).toHaveLength(produced.length);
      expect(received.map((m) => m.value).sort()).toEqual(produced.map((m) => m.value).sort());

      // Same key, same partition; within a key, the order it was produced in.
      const partitionsByKey = new Map<string, Set<number>>();
      for (const m of received) partitionsByKey.set(m.key, (partitionsByKey.get(m.key) ?? new Set()).add(m.partition));
      expect([...partitionsByKey.keys()].sort()).toEqual([...KEYS].sort());
      for (const [key, partitions] of partitionsByKey) expect(partitions.size, `partitions of key ${key}`).toBe(1);
      for (const key of KEYS) {
        const values = received.filter((m) => m.key === key).map((m) => m.value);
        expect(values).toEqual(Array.from({ length: PER_KEY }, (_, seq) => `${key}#${seq}`));
      }

      // Per partition: dense offsets 0..n-1, the high watermark is n, and the group committed n.
      const countByPartition = new Map<number, number>();
      for (const m of received) countByPartition.set(m.partition, (countByPartition.get(m.partition) ?? 0) + 1);
      expect(countByPartition.size, 'keys spread over more than one partition').toBeGreaterThan(1);
      for (const [partition, count] of countByPartition) {
        const offsets = received.filter((m) => m.partition === partition).map((m) => m.offset);
        expect(offsets).toEqual(Array.from({ length: count }, (_, i) => i));
      }
      const expectedOffsets = Array.from({ length: PARTITIONS }, (_, partition) => ({
        partition,
        offset: String(countByPartition.get(partition) ?? 0),
      }));

      const highWatermarks = await admin.fetchTopicOffsets(topic);
      expect(highWatermarks.map(({ partition, high }) => ({ partition, offset: high })).sort(byPartition)).toEqual(expectedOffsets);

      // Stop the consumer first so the committed offsets are final, then read them back.
      await consumer.stop();
      const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
      expect(committed).toHaveLength(1);
      expect(committed[0]?.topic).toBe(topic);
      // A partition with no messages has no commit: kafkajs reports it as -1.
      const expectedCommitted = expectedOffsets.map(({ partition, offset }) => ({ partition, offset: offset === '0' ? '-1' : offset }));
      expect(committed[0]?.partitions.map(({ partition, offset }) => ({ partition, offset })).sort(byPartition)).toEqual(
        expectedCommitted,
      );

      // Clean up through the API too (DeleteTopics is one of the calls KIP-896 narrowed).
      await consumer.disconnect();
      const [groupDeletion] = await admin.deleteGroups([groupId]);
      expect(groupDeletion).toMatchObject({ groupId, errorCode: 0 });
      await admin.deleteTopics({ topics: [topic] });
      topicDeleted = true;
      await expect.poll(() => admin.listTopics(), { timeout: 10_000 }).not.toContain(topic);
    } finally {
      // Best effort after a failure; disconnecting twice is harmless.
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      if (!topicDeleted) await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin.disconnect().catch(() => {});
    }
  });
});

function byPartition(a: { partition: number }, b: { partition: number }): number {
  return a.partition - b.partition;
}
