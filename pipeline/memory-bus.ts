/**
 * The in-process bus of embedded mode: one partition per topic, a cursor per consumer group.
 *
 * Nothing here is durable, so a publish resolves only when every group subscribed to the topic
 * has handled and committed the messages; with the storage stage subscribed, that means the
 * spans are in ClickHouse (DESIGN.md: in embedded mode an OTLP request is acknowledged only once
 * it is durably stored). Memory is bounded: a publish that would leave more than
 * `maxPendingMessages` uncommitted messages is refused with `BusFullError`.
 *
 * Offsets start at the bus's creation time in microseconds, not at 0: batch ids, and the
 * ClickHouse deduplication tokens derived from them, must not repeat when an embedded process
 * restarts on the data of an earlier one, or its first batches would be taken for retries and
 * dropped. (Colliding would take more messages in one run than microseconds between two starts.)
 */
import type { BatchHandler, Bus, BusMessage, ConsumerLag, ConsumedMessage, SubscribeOptions, Subscription } from './bus.js';
import { BusFullError, ShutdownError, sleep } from './errors.js';

interface PendingPublish {
  /** Offset of the publish's last message; resolved once every group committed past it. */
  lastOffset: number;
  resolve(): void;
  reject(err: Error): void;
}

interface Group {
  name: string;
  /** Next offset this group has not committed. */
  committed: number;
  /** Wakes the group's loop when messages arrive. */
  wake: (() => void) | null;
  abort: AbortController;
  done: Promise<void>;
}

class MemoryTopic {
  /** messages[i] has offset base + i. */
  messages: BusMessage[] = [];
  base: number;
  groups = new Map<string, Group>();
  waiting: PendingPublish[] = [];

  constructor(firstOffset: number) {
    this.base = firstOffset;
  }

  get end(): number {
    return this.base + this.messages.length;
  }

  /** Messages not yet committed by every group. */
  pending(): number {
    return this.end - this.minCommitted();
  }

  minCommitted(): number {
    let min = this.end;
    for (const g of this.groups.values()) min = Math.min(min, g.committed);
    return min;
  }

  /**
   * A group stops: the publishes it had not committed were never handled by it, so they are
   * refused rather than counted as done by the groups that remain.
   */
  leave(group: Group): void {
    const unhandled = this.waiting.filter((w) => w.lastOffset >= group.committed);
    this.waiting = this.waiting.filter((w) => w.lastOffset < group.committed);
    for (const w of unhandled) w.reject(new ShutdownError(`consumer group ${group.name} stopped before handling the messages`));
    this.settle();
  }

  /** Drops what every group has committed and resolves the publishes it completes. */
  settle(): void {
    const min = this.minCommitted();
    if (min > this.base) {
      this.messages.splice(0, min - this.base);
      this.base = min;
    }
    while (this.waiting.length > 0 && this.waiting[0]!.lastOffset < min) this.waiting.shift()!.resolve();
  }
}

export interface MemoryBusOptions {
  maxPendingMessages: number;
  /** Retry-After hint given with BusFullError. @default 1000 */
  retryAfterMs?: number;
  /** Offset of every topic's first message. @default the bus's creation time in µs */
  firstOffset?: number;
  /**
   * Topics whose publishes resolve once queued, not once handled: derived events whose handling
   * may take long (alert delivery retrying a webhook for minutes) must not hold up the
   * acknowledgement of the telemetry they come from. What is queued there is lost in a crash.
   */
  detachedTopics?: readonly string[];
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  readonly #topics = new Map<string, MemoryTopic>();
  readonly #options: Required<MemoryBusOptions>;
  #closed = false;

  constructor(options: MemoryBusOptions) {
    this.#options = { retryAfterMs: 1000, firstOffset: Date.now() * 1000, detachedTopics: [], ...options };
  }

  async start(): Promise<void> {}

  queueDepth(): number {
    let depth = 0;
    for (const topic of this.#topics.values()) depth += topic.pending();
    return depth;
  }

  async consumerLag(): Promise<ConsumerLag[]> {
    const lags: ConsumerLag[] = [];
    for (const [name, topic] of this.#topics) for (const g of topic.groups.values()) lags.push({ topic: name, partition: 0, group: g.name, lag: topic.end - g.committed });
    return lags;
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new ShutdownError('bus is shut down');
  }

  publish(topicName: string, messages: BusMessage[]): Promise<void> {
    if (this.#closed) return Promise.reject(new ShutdownError('bus is shut down'));
    if (messages.length === 0) return Promise.resolve();
    const topic = this.#topic(topicName);
    // With no group subscribed there is nobody to wait for; nothing is retained.
    if (topic.groups.size === 0) return Promise.resolve();
    const pending = topic.pending();
    if (pending + messages.length > this.#options.maxPendingMessages) {
      return Promise.reject(
        new BusFullError(`bus is full: ${pending} messages wait for consumers on ${topicName}`, this.#options.retryAfterMs),
      );
    }
    for (const m of messages) topic.messages.push(m);
    const lastOffset = topic.end - 1;
    for (const g of topic.groups.values()) g.wake?.();
    if (this.#options.detachedTopics.includes(topicName)) return Promise.resolve();
    return new Promise((resolve, reject) => topic.waiting.push({ lastOffset, resolve, reject }));
  }

  async subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    if (this.#closed) throw new ShutdownError('bus is shut down');
    const topic = this.#topic(options.topic);
    if (topic.groups.has(options.group)) throw new Error(`group ${options.group} is already subscribed to ${options.topic}`);
    // A new group starts at the end: messages published before it existed were not waiting for it.
    const group: Group = { name: options.group, committed: topic.end, wake: null, abort: new AbortController(), done: Promise.resolve() };
    topic.groups.set(options.group, group);
    group.done = this.#consume(topic, group, options, handler);
    return {
      stop: async () => {
        group.abort.abort();
        group.wake?.();
        await group.done;
        if (topic.groups.get(options.group) === group) {
          topic.groups.delete(options.group);
          topic.leave(group);
        }
      },
    };
  }

  async #consume(topic: MemoryTopic, group: Group, options: SubscribeOptions, handler: BatchHandler): Promise<void> {
    const { signal } = group.abort;
    const ctx = { signal, heartbeat: async () => {} };
    while (!signal.aborted) {
      if (topic.end <= group.committed) {
        await new Promise<void>((resolve) => (group.wake = resolve));
        group.wake = null;
        continue;
      }
      // No lingering for a fuller batch (Kafka's fetch.min.bytes = 1 behaviour): whatever is
      // waiting goes now, and while the handler works the next batch grows by itself, so batches
      // are large under load and latency stays low when it is light.
      if (signal.aborted) break;
      const start = group.committed;
      const count = Math.min(options.maxBatchMessages, topic.end - start);
      const messages: ConsumedMessage[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const m = topic.messages[start - topic.base + i]!;
        messages[i] = { key: m.key, value: m.value, offset: String(start + i) };
      }
      try {
        await handler({ topic: options.topic, partition: 0, messages }, ctx);
      } catch {
        // Not committed: the same messages are delivered again (unless we are stopping).
        await sleep(100, signal);
        continue;
      }
      group.committed = start + count;
      topic.settle();
    }
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const stops: Promise<void>[] = [];
    for (const topic of this.#topics.values()) {
      for (const g of topic.groups.values()) {
        g.abort.abort();
        g.wake?.();
        stops.push(g.done);
      }
    }
    await Promise.all(stops);
    for (const topic of this.#topics.values()) {
      for (const w of topic.waiting.splice(0)) w.reject(new ShutdownError('bus shut down before the messages were stored'));
    }
  }

  #topic(name: string): MemoryTopic {
    let t = this.#topics.get(name);
    if (!t) this.#topics.set(name, (t = new MemoryTopic(this.#options.firstOffset)));
    return t;
  }
}
