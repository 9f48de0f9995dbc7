/**
 * The bus on Apache Kafka, through kafkajs (wrapped here so the client can change).
 *
 * Producer: idempotent, acks=all, so a publish that resolves is on every in-sync replica and a
 * retried send is not written twice within the producer's session. Concurrent publishes are
 * written together (group commit, see `publish`). A publish that the broker does not confirm
 * within `requestTimeoutMs` is reported as `BusUnavailableError` (the collector answers 503 and
 * the client retries).
 *
 * Consumers: one kafkajs consumer per subscription (one consumer group each), auto-commit off;
 * each fetched partition batch is cut into chunks of at most `maxBatchMessages`, and a chunk's
 * offsets are committed only after the handler resolved for it.
 */
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type KafkaConfig as KafkaJsConfig, type LogEntry, type Producer } from 'kafkajs';
import type { BatchIntentStore } from './batch-intents.js';
import type { BatchHandler, Bus, BusMessage, ConsumedMessage, ConsumerLag, SubscribeOptions, Subscription } from './bus.js';
import { BusUnavailableError, errorSummary, ShutdownError, sleep } from './errors.js';
import type { Logger } from './logger.js';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  requestTimeoutMs: number;
  /** Consumer group session timeout: a silent member loses its partitions after it. @default 30000 */
  sessionTimeoutMs?: number;
  logger: Logger;
}

export interface TopicSettings {
  partitions: number;
  replicationFactor: number;
  retentionMs: number;
}

const SEND_MS_BUCKETS = 16;

/** Commit metadata of an open batch intent: `chainwatch-intent:<first>-<last>`. */
const INTENT_METADATA = 'chainwatch-intent:';
const INTENT_PATTERN = /^chainwatch-intent:(\d+)-(\d+)$/;

/**
 * At most this many bytes of queued publishes go into one produce request: the broker refuses a
 * record batch (one per partition) over `message.max.bytes`, 1 MiB by default. A single publish
 * larger than this is still sent, alone.
 */
const MAX_GROUP_BYTES = 768 * 1024;

interface PendingPublish {
  topic: string;
  messages: BusMessage[];
  bytes: number;
  settled: boolean;
  resolve(): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout | undefined;
}

function settle(entry: PendingPublish, err?: unknown): void {
  if (entry.settled) return;
  entry.settled = true;
  clearTimeout(entry.timer);
  if (err === undefined) entry.resolve();
  else entry.reject(err);
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  readonly #kafka: Kafka;
  readonly #options: KafkaBusOptions;
  #producer: Producer | null = null;
  #connecting: Promise<Producer> | null = null;
  /** The admin client, connected on first use (#withAdmin). */
  #admin: Promise<Admin> | null = null;
  /** Each subscription of this process, with what it reads (for the lag). */
  readonly #subscriptions = new Map<Subscription, { group: string; topic: string; consumer: Consumer; assigned: number[] }>();
  readonly #queue: PendingPublish[] = [];
  #draining: Promise<void> | null = null;
  #publishes = 0;
  #sends = 0;
  /** Produce request round trips by duration: bucket i counts those under 2^i ms (the last, the rest). */
  readonly #sendMs = new Array<number>(SEND_MS_BUCKETS).fill(0);
  #closed = false;
  readonly #log: Logger;

  constructor(options: KafkaBusOptions) {
    this.#options = options;
    const log = options.logger.child({ component: 'kafka' });
    this.#log = log;
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

  queueDepth(): number {
    let depth = 0;
    for (const entry of this.#queue) depth += entry.messages.length;
    return depth;
  }

  /**
   * Runs a task on the bus's admin client, connected on first use and kept: readiness probes,
   * metric scrapes and intent reads come often, and a connection each would cost a TCP handshake
   * and a metadata bootstrap every time. A task that fails drops the client, so the next one
   * starts from a fresh connection.
   */
  async #withAdmin<T>(task: (admin: Admin) => Promise<T>): Promise<T> {
    const connecting = (this.#admin ??= (async () => {
      const admin = this.#kafka.admin();
      await admin.connect();
      return admin;
    })());
    try {
      return await task(await connecting);
    } catch (err) {
      if (this.#admin === connecting) this.#admin = null;
      await connecting.then((admin) => admin.disconnect()).catch(() => {});
      throw err;
    }
  }

  async consumerLag(): Promise<ConsumerLag[]> {
    const reading = [...this.#subscriptions.values()];
    if (reading.length === 0) return [];
    return this.#withAdmin(async (admin) => {
      const ends = new Map<string, { partition: number; high: string; low: string }[]>();
      for (const topic of new Set(reading.map((r) => r.topic))) ends.set(topic, await admin.fetchTopicOffsets(topic));
      const lags: ConsumerLag[] = [];
      for (const { group, topic, assigned } of reading) {
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        const byPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]));
        // This member's partitions only: summed over the members, the lags add up to the group's.
        for (const end of (ends.get(topic) ?? []).filter((e) => assigned.includes(e.partition))) {
          const at = byPartition.get(end.partition);
          // -1: nothing committed yet, so the group starts from the beginning of what is kept.
          const from = at === undefined || BigInt(at) < 0n ? BigInt(end.low) : BigInt(at);
          lags.push({ topic, partition: end.partition, group, lag: Number(BigInt(end.high) - from) });
        }
      }
      return lags;
    });
  }

  /**
   * Batch intents (batch-intents.ts) kept with the offsets: before a batch is written, its
   * partition's offset is committed again where the batch starts, with the batch's end as the
   * commit metadata; the commit after the batch replaces both. What a successor reads back is
   * therefore exactly the batch that was in flight when its owner died, and nothing is written
   * anywhere else.
   */
  readonly intents: BatchIntentStore = {
    record: async (group, topic, partition, intent) => {
      const owner = [...this.#subscriptions.values()].find((s) => s.group === group && s.topic === topic);
      if (!owner) throw new ShutdownError(`no consumer of ${topic} in group ${group}`);
      await owner.consumer.commitOffsets([{ topic, partition, offset: intent.first, metadata: `${INTENT_METADATA}${intent.first}-${intent.last}` }]);
    },
    read: (group, topic, partition) =>
      this.#withAdmin(async (admin) => {
        const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
        const entry = committed?.partitions.find((p) => p.partition === partition);
        const m = entry?.metadata ? INTENT_PATTERN.exec(entry.metadata) : null;
        // Only an intent for the batch at the committed offset is open: later commits replace it.
        return m && m[1] === entry!.offset ? { first: m[1]!, last: m[2]! } : null;
      }),
  };

  /** The cluster answers a metadata request (how long to wait is the caller's: /readyz bounds each check). */
  async ping(): Promise<void> {
    await this.#withAdmin((admin) => admin.describeCluster());
  }

  /** Creates the topics that do not exist yet (existing ones are left as they are). Returns those created. */
  async ensureTopics(topics: string[], settings: TopicSettings): Promise<string[]> {
    return this.#withAdmin(async (admin) => {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t));
      if (missing.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: settings.partitions,
            replicationFactor: settings.replicationFactor,
            configEntries: [{ name: 'retention.ms', value: String(settings.retentionMs) }],
          })),
        });
      }
      return missing;
    });
  }

  /**
   * Resolves once every message is on all in-sync replicas. Publishes that arrive while a send is
   * in flight are written together by the next send (group commit): one produce request carries
   * many requests' messages, so the producer keeps one request in flight (what idempotence needs)
   * without making callers queue one round trip each.
   */
  publish(topic: string, messages: BusMessage[]): Promise<void> {
    this.#publishes++;
    if (this.#closed) return Promise.reject(new ShutdownError('bus is shut down'));
    if (messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let bytes = 0;
      for (const m of messages) bytes += m.value.byteLength + (m.key?.length ?? 0);
      const entry: PendingPublish = { topic, messages, bytes, settled: false, resolve, reject, timer: undefined };
      entry.timer = setTimeout(() => {
        // Not sent yet: leave the queue too, so a broker that is down cannot make it grow without bound.
        const at = this.#queue.indexOf(entry);
        if (at >= 0) this.#queue.splice(at, 1);
        settle(entry, new BusUnavailableError(`Kafka did not confirm the write to ${topic} within ${this.#options.requestTimeoutMs} ms`, 5000));
      }, this.#options.requestTimeoutMs);
      this.#queue.push(entry);
      this.#kick();
    });
  }

  /**
   * Publish calls and produce requests since start (how much group commit saves), and the produce
   * round trips by duration (bucket i: under 2^i ms), to tell broker latency from the caller's.
   */
  get producerStats(): { publishes: number; sends: number; sendMsHistogram: readonly number[] } {
    return { publishes: this.#publishes, sends: this.#sends, sendMsHistogram: [...this.#sendMs] };
  }

  #kick(): void {
    if (this.#draining) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#queue.length > 0) this.#kick();
    });
  }

  /** Sends queued publishes, as many as fit one produce request, until the queue is empty. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      let take = 0;
      let bytes = 0;
      while (take < this.#queue.length && (take === 0 || bytes + this.#queue[take]!.bytes <= MAX_GROUP_BYTES)) bytes += this.#queue[take++]!.bytes;
      const group = this.#queue.splice(0, take).filter((e) => !e.settled);
      if (group.length === 0) continue;
      try {
        const producer = await this.#ensureProducer();
        const byTopic = new Map<string, { key: string | null; value: Buffer }[]>();
        for (const e of group) {
          let list = byTopic.get(e.topic);
          if (!list) byTopic.set(e.topic, (list = []));
          for (const m of e.messages) list.push({ key: m.key, value: toBuffer(m.value) });
        }
        this.#sends++;
        const started = performance.now();
        await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })) });
        const ms = performance.now() - started;
        this.#sendMs[Math.min(SEND_MS_BUCKETS - 1, Math.max(0, Math.ceil(Math.log2(ms + 1e-9))))]!++;
        for (const e of group) settle(e);
      } catch (err) {
        const failure =
          err instanceof BusUnavailableError || err instanceof ShutdownError
            ? err
            : new BusUnavailableError(`Kafka refused the write to ${[...new Set(group.map((e) => e.topic))].join(', ')}: ${(err as Error).message}`, 5000, { cause: err });
        for (const e of group) settle(e, failure);
      }
    }
  }

  async subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    if (this.#closed) throw new ShutdownError('bus is shut down');
    const consumer: Consumer = this.#kafka.consumer({
      groupId: options.group,
      maxWaitTimeInMs: options.maxWaitMs,
      maxBytesPerPartition: 8 * 1024 * 1024,
      sessionTimeout: this.#options.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.min(3000, Math.floor((this.#options.sessionTimeoutMs ?? 30_000) / 5)),
      allowAutoTopicCreation: false,
    });
    const abort = new AbortController();
    let generation = 0;
    /** The partitions of the topic this member owns since its last join (for the lag). */
    const assigned: number[] = [];
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      generation++;
      assigned.splice(0, assigned.length, ...(payload.memberAssignment[options.topic] ?? []));
    });
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
            await handler({ topic: batch.topic, partition: batch.partition, messages }, { signal: abort.signal, heartbeat, assignmentGeneration: generation });
          } catch (err) {
            // Stopping: leave the chunk uncommitted for whoever owns the partition next.
            if (abort.signal.aborted) return;
            // Handed back (the bus contract): fetched again from its first offset, after a pause.
            this.#log.debug({ err: errorSummary(err), topic: batch.topic, partition: batch.partition, offset: messages[0]!.offset }, 'batch handed back, fetching it again');
            consumer.seek({ topic: batch.topic, partition: batch.partition, offset: messages[0]!.offset });
            await sleep(200, abort.signal);
            return;
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
    this.#subscriptions.set(subscription, { group: options.group, topic: options.topic, consumer, assigned });
    return subscription;
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions.keys()].map((s) => s.stop()));
    // Publishes accepted before shutdown are written (or fail) before the producer goes.
    while (this.#draining) await this.#draining;
    const producer = this.#producer ?? (this.#connecting ? await this.#connecting.catch(() => null) : null);
    await producer?.disconnect();
    const admin = this.#admin;
    this.#admin = null;
    await admin?.then((a) => a.disconnect()).catch(() => {});
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
