/**
 * The bus on Apache Kafka, through kafkajs (wrapped here so the client can change).
 *
 * Producer: idempotent, acks=all, so a publish that resolves is on every in-sync replica and a
 * retried send is not written twice within the producer's session. A publish that the broker does
 * not confirm within `requestTimeoutMs` is reported as `BusUnavailableError` (the collector
 * answers 503 and the client retries).
 *
 * Consumers: one kafkajs consumer per subscription (one consumer group each), auto-commit off;
 * each fetched partition batch is cut into chunks of at most `maxBatchMessages`, and a chunk's
 * offsets are committed only after the handler resolved for it.
 */
import { Kafka, logLevel, Partitioners, type Consumer, type KafkaConfig as KafkaJsConfig, type LogEntry, type Producer } from 'kafkajs';
import type { BatchHandler, Bus, BusMessage, ConsumedMessage, SubscribeOptions, Subscription } from './bus.js';
import { BusUnavailableError, ShutdownError } from './errors.js';
import type { Logger } from './logger.js';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  requestTimeoutMs: number;
  logger: Logger;
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  readonly #kafka: Kafka;
  readonly #options: KafkaBusOptions;
  #producer: Producer | null = null;
  #connecting: Promise<Producer> | null = null;
  readonly #subscriptions = new Set<Subscription>();
  #closed = false;

  constructor(options: KafkaBusOptions) {
    this.#options = options;
    const log = options.logger.child({ component: 'kafka' });
    const config: KafkaJsConfig = {
      clientId: options.clientId,
      brokers: options.brokers,
      connectionTimeout: 3000,
      requestTimeout: options.requestTimeoutMs,
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 5000 },
      logLevel: logLevel.WARN,
      // kafkajs logs through pino, at warn and above, never with message contents.
      logCreator: () => (entry: LogEntry) => {
        const { message, ...rest } = entry.log;
        const fields = { namespace: entry.namespace, error: rest['error'], broker: rest['broker'] };
        if (entry.level <= logLevel.ERROR) log.error(fields, message);
        else log.warn(fields, message);
      },
    };
    this.#kafka = new Kafka(config);
  }

  async start(): Promise<void> {
    await this.#ensureProducer();
  }

  /** Creates the topics that do not exist yet (existing ones are left as they are). Returns those created. */
  async ensureTopics(topics: string[], partitions: number, replicationFactor: number): Promise<string[]> {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
        });
      }
      return missing;
    } finally {
      await admin.disconnect();
    }
  }

  async publish(topic: string, messages: BusMessage[]): Promise<void> {
    if (this.#closed) throw new ShutdownError('bus is shut down');
    if (messages.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BusUnavailableError(`Kafka did not confirm the write to ${topic} within ${this.#options.requestTimeoutMs} ms`, 5000)),
        this.#options.requestTimeoutMs,
      );
    });
    try {
      const producer = await Promise.race([this.#ensureProducer(), timeout]);
      await Promise.race([
        producer.send({
          topic,
          acks: -1,
          messages: messages.map((m) => ({ key: m.key, value: toBuffer(m.value) })),
        }),
        timeout,
      ]);
    } catch (err) {
      if (err instanceof BusUnavailableError || err instanceof ShutdownError) throw err;
      throw new BusUnavailableError(`Kafka refused the write to ${topic}: ${(err as Error).message}`, 5000, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    if (this.#closed) throw new ShutdownError('bus is shut down');
    const consumer: Consumer = this.#kafka.consumer({
      groupId: options.group,
      maxWaitTimeInMs: options.maxWaitMs,
      maxBytesPerPartition: 8 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    const abort = new AbortController();
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        const all = batch.messages;
        for (let i = 0; i < all.length; i += options.maxBatchMessages) {
          if (!isRunning() || isStale() || abort.signal.aborted) return;
          const chunk = all.slice(i, i + options.maxBatchMessages);
          const messages: ConsumedMessage[] = chunk.map((m) => ({
            key: m.key ? m.key.toString('utf8') : null,
            value: m.value ?? new Uint8Array(0),
            offset: m.offset,
          }));
          try {
            await handler({ topic: batch.topic, partition: batch.partition, messages }, { signal: abort.signal, heartbeat });
          } catch (err) {
            // Stopping: leave the chunk uncommitted for whoever owns the partition next.
            if (abort.signal.aborted) return;
            throw err;
          }
          const last = messages[messages.length - 1]!.offset;
          resolveOffset(last);
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
          await heartbeat();
        }
      },
    });
    let stopped: Promise<void> | null = null;
    const subscription: Subscription = {
      stop: () => {
        stopped ??= (async () => {
          abort.abort();
          await consumer.disconnect();
          this.#subscriptions.delete(subscription);
        })();
        return stopped;
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    const producer = this.#producer ?? (this.#connecting ? await this.#connecting.catch(() => null) : null);
    await producer?.disconnect();
  }

  #ensureProducer(): Promise<Producer> {
    if (this.#producer) return Promise.resolve(this.#producer);
    this.#connecting ??= (async () => {
      // Idempotence needs the producer's own unlimited retries (kafkajs warns that capping them
      // may break it); the caller still gets an answer in time from publish's own timeout.
      const producer = this.#kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 5000 },
      });
      try {
        await producer.connect();
      } catch (err) {
        this.#connecting = null;
        throw new BusUnavailableError(`cannot connect to Kafka at ${this.#options.brokers.join(',')}: ${(err as Error).message}`, 5000, { cause: err });
      }
      this.#producer = producer;
      return producer;
    })();
    return this.#connecting;
  }
}

/** A Buffer view of the same memory: kafkajs wants Buffers, and copying a batch is waste. */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
