/**
 * The Kafka bus on the real broker: concurrent publishes are written together (group commit) —
 * far fewer produce requests than publishes — and still every message arrives exactly once, in
 * publish order per key.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaBus } from '../../pipeline/kafka-bus.js';
import { silentLogger } from '../../pipeline/logger.js';

const bus = new KafkaBus({ brokers: inject('kafkaBrokers'), clientId: 'kafka-bus-test', requestTimeoutMs: 30_000, logger: silentLogger() });
afterAll(() => bus.shutdown());

describe('KafkaBus publish', () => {
  it('groups concurrent publishes into few produce requests, losing and reordering nothing', async () => {
    const topic = `test.kafka-bus.${randomUUID()}`;
    await bus.start();
    await bus.ensureTopics([topic], { partitions: 3, replicationFactor: 1, retentionMs: 3_600_000 });
    const KEYS = ['edge-a', 'edge-b', 'edge-c', 'edge-d', 'edge-e', 'edge-f'];
    const PUBLISHES = 200;
    const before = bus.producerStats;
    await Promise.all(
      Array.from({ length: PUBLISHES }, (_, i) =>
        bus.publish(topic, [
          { key: KEYS[i % KEYS.length]!, value: Buffer.from(`${i}.0`) },
          { key: KEYS[i % KEYS.length]!, value: Buffer.from(`${i}.1`) },
        ]),
      ),
    );
    const after = bus.producerStats;
    expect(after.publishes - before.publishes).toBe(PUBLISHES);
    const sends = after.sends - before.sends;
    expect(sends).toBeGreaterThan(0);
    expect(sends).toBeLessThan(PUBLISHES / 4);
    // Every produce round trip is counted in the duration histogram.
    const timed = after.sendMsHistogram.reduce((a, b) => a + b, 0) - before.sendMsHistogram.reduce((a, b) => a + b, 0);
    expect(timed).toBe(sends);

    const received = new Map<string, string[]>();
    let count = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const sub = await bus.subscribe({ topic, group: `test.kafka-bus.${randomUUID()}`, maxBatchMessages: 1000, maxWaitMs: 100 }, async (batch) => {
      for (const m of batch.messages) {
        const list = received.get(m.key!) ?? [];
        list.push(Buffer.from(m.value).toString());
        received.set(m.key!, list);
        if (++count === PUBLISHES * 2) done();
      }
    });
    await all;
    await sub.stop();
    expect(count).toBe(PUBLISHES * 2);
    KEYS.forEach((key, k) => {
      const expected = Array.from({ length: PUBLISHES }, (_, i) => i)
        .filter((i) => i % KEYS.length === k)
        .flatMap((i) => [`${i}.0`, `${i}.1`]);
      expect(received.get(key)).toEqual(expected);
    });
  }, 60_000);
});
