/**
 * The bus: topics of binary messages between the collector and the stages. Two implementations,
 * in-process (`memory-bus.ts`, embedded mode) and Kafka (`kafka-bus.ts`), behind one interface,
 * so stage code never knows which one carries its data.
 *
 * Contract, the same for both:
 * - `publish` resolves only once the messages are durable: on Kafka when every in-sync replica has
 *   them (acks=all); in-process, where nothing is durable until a sink has written it, once every
 *   consumer group has handled and committed them. It rejects with a `RetryableError` when the bus
 *   is full or unreachable, so the caller can answer 429/503 instead of buffering without bound.
 * - `subscribe` delivers batches of one partition in offset order to a handler; the offsets of a
 *   batch are committed only after the handler resolves. A handler that rejects gets the same
 *   messages again (at-least-once); a handler should retry on its own and reject only on shutdown.
 */

export interface BusMessage {
  /** Partitioning key; messages with the same key stay in order on one partition. */
  key: string | null;
  value: Uint8Array;
}

export interface ConsumedMessage extends BusMessage {
  /** Offset within the partition, as a decimal string (Kafka offsets are int64). */
  offset: string;
}

export interface ConsumedBatch {
  topic: string;
  partition: number;
  messages: ConsumedMessage[];
}

export interface HandlerContext {
  /** Aborted when the subscription stops: a handler retrying forever must give up then. */
  signal: AbortSignal;
  /** Keeps the consumer's group membership alive during long retries (Kafka). */
  heartbeat(): Promise<void>;
  /**
   * Counts the consumer's group (re)joins (Kafka): while it is unchanged, the consumer has owned
   * the batch's partition without interruption since its previous batch of that partition.
   */
  assignmentGeneration?: number;
}

export type BatchHandler = (batch: ConsumedBatch, ctx: HandlerContext) => Promise<void>;

export interface SubscribeOptions {
  topic: string;
  /** Consumer group: each group sees every message once; members of one group share partitions. */
  group: string;
  /** Most messages handed to the handler at once. */
  maxBatchMessages: number;
  /**
   * Kafka: how long a fetch may wait on the broker when no message is available (the in-process
   * bus wakes its consumers on publish instead). Neither bus holds back available messages to
   * fill a batch: batches grow by themselves while the handler is busy.
   */
  maxWaitMs: number;
}

export interface Subscription {
  /** Stops fetching, waits for the handler in flight, commits what it finished. Idempotent. */
  stop(): Promise<void>;
}

/** How far a consumer group of this process is behind the end of one partition. */
export interface ConsumerLag {
  topic: string;
  partition: number;
  group: string;
  /** Messages published and not yet committed by the group. */
  lag: number;
}

export interface Bus {
  readonly kind: 'memory' | 'kafka';
  start(): Promise<void>;
  /** Messages accepted by publish and not yet durable (in-process: not yet handled by every group; Kafka: not yet sent). */
  queueDepth(): number;
  /** Lag of every subscription of this process, per partition it owns now. */
  consumerLag(): Promise<ConsumerLag[]>;
  /** Resolves when the bus can be reached (Kafka: the cluster answers), else rejects saying why. */
  ping(): Promise<void>;
  publish(topic: string, messages: BusMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription>;
  /** Stops every subscription and the producer. Safe before start and twice. */
  shutdown(): Promise<void>;
}

/** Identifies one consumed batch; identical for every redelivery of the same offsets. */
export function batchId(batch: ConsumedBatch): string {
  const first = batch.messages[0]?.offset ?? '';
  const last = batch.messages[batch.messages.length - 1]?.offset ?? '';
  return `${batch.topic}/${batch.partition}/${first}-${last}`;
}
