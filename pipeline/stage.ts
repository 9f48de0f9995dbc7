/**
 * The shape of every stage (processor): it takes a batch and returns its outputs; it never calls
 * the next stage, owns a transport or commits anything. The runner (`stage-runner.ts`) does the
 * consuming, producing, acknowledging and retrying, once, for all stages.
 */
import type { BusMessage } from './bus.js';

export interface StageContext {
  /**
   * Identifies the input batch, identical on every retry and redelivery of the same messages, so
   * a sink can make its write idempotent (ClickHouse `insert_deduplication_token`).
   */
  batchId: string;
  /** The partition the batch was consumed from (0 in-process). */
  partition: number;
  /** Aborted on shutdown: a long operation should stop and throw. */
  signal: AbortSignal;
  /**
   * Changes whenever the consumer rejoined its group (Kafka); undefined in-process. A stateful
   * stage drops what it holds about partitions when it changes: another worker may have owned them
   * in between.
   */
  assignmentGeneration?: number | undefined;
  /** Keeps the consumer's group membership alive (Kafka): a stage that waits or retries for long calls it now and then. */
  heartbeat?: () => Promise<void>;
}

export interface StageOutput {
  /** Messages to publish before the input is acknowledged. */
  publish?: { topic: string; messages: BusMessage[] }[];
  /**
   * Runs once the messages are published, before the input is acknowledged: for writes that must
   * not be durable before the messages are (state that says "announced"), so a crash between the
   * two replays the batch and announces again (with the same, idempotent, message ids).
   */
  after?: () => Promise<void>;
}

export interface Stage<In> {
  readonly name: string;
  /** Prepares resources (connections, compiled rules). Fails fast on bad configuration. */
  start(): Promise<void>;
  /**
   * Handles one batch. Throws `RetryableError` (or any unknown error, treated as retryable) when
   * trying again may succeed, `PermanentError` when it never will.
   */
  process(input: In, ctx: StageContext): Promise<StageOutput | void>;
  /** Releases resources. Safe before start and twice. */
  shutdown(): Promise<void>;
}
