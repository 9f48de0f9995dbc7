/**
 * Runs a stage as a consumer of a topic: consume a batch → decode → `stage.process` → publish its
 * outputs → commit. The commit happens only after the outputs are published and the stage's own
 * writes are done, so a crash anywhere before it replays the batch (at-least-once), and the
 * batch id handed to the stage is the same on replay, so sinks can deduplicate. With an intent
 * store (Kafka), each batch's offsets are recorded before it is written, and a redelivery after a
 * crash is cut to the recorded batch, so the batch id holds across processes too
 * (batch-intents.ts).
 *
 * Failures never escape into the consumer loop: a message that does not decode is counted and
 * dropped with a reason; a permanent stage error drops the batch, counted and logged once; any
 * other error is retried with capped, fully jittered backoff until it succeeds or the runner stops.
 */
import { cutAtIntent, spanOf, type BatchIntent, type BatchIntentStore } from './batch-intents.js';
import { batchId, type Bus, type ConsumedBatch, type ConsumedMessage } from './bus.js';
import { backoffDelay, errorSummary, PermanentError, ShutdownError, sleep } from './errors.js';
import type { Logger } from './logger.js';
import { SELF_TRACING_OFF, type SelfTracing } from './self-tracing.js';
import type { Stage } from './stage.js';

export interface StageStats {
  batches: number;
  messages: number;
  /** Messages dropped because they could not be decoded, or by a permanent stage error (the sum of droppedByReason). */
  readonly droppedMessages: number;
  /** The same, by reason (the decoder's reason, or `permanent error`). */
  droppedByReason: Record<string, number>;
  retries: number;
}

/** Turns consumed messages into the stage's input; reports messages it cannot use. */
export type BatchDecoder<In> = (messages: ConsumedMessage[], reject: (message: ConsumedMessage, reason: string) => void) => In;

export interface ConsumerStageOptions<In> {
  bus: Bus;
  topic: string;
  group: string;
  stage: Stage<In>;
  decode: BatchDecoder<In>;
  maxBatchMessages: number;
  maxWaitMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Where batch intents are recorded, for exactly-once writes across crashes (Kafka); none in-process. */
  intents?: BatchIntentStore | undefined;
  /** chainwatch's own tracing: a span per batch. */
  selfTracing?: SelfTracing;
  logger: Logger;
}

export interface RunningStage {
  readonly name: string;
  /** The topic it consumes, and as which consumer group. */
  readonly topic: string;
  readonly group: string;
  readonly stats: Readonly<StageStats>;
  /** Stops consuming, lets the batch in flight finish or abandons its retries, then shuts the stage down. */
  stop(): Promise<void>;
}

export async function runConsumerStage<In>(options: ConsumerStageOptions<In>): Promise<RunningStage> {
  const { bus, stage, logger } = options;
  const log = logger.child({ stage: stage.name, topic: options.topic, group: options.group });
  const stats: StageStats = {
    batches: 0,
    messages: 0,
    droppedByReason: {},
    get droppedMessages() {
      return Object.values(this.droppedByReason).reduce((a, b) => a + b, 0);
    },
    retries: 0,
  };
  const drop = (reason: string, count: number): void => {
    stats.droppedByReason[reason] = (stats.droppedByReason[reason] ?? 0) + count;
  };
  await stage.start();

  /** Runs `attempt` until it succeeds, retrying with capped full-jitter backoff; false when it failed for good. */
  async function withRetries(attempt: () => Promise<void>, batch: string, messages: number, signal: AbortSignal, heartbeat: () => Promise<void>): Promise<boolean> {
    for (let n = 0; ; n++) {
      if (signal.aborted) throw new ShutdownError();
      try {
        await attempt();
        return true;
      } catch (err) {
        if (signal.aborted) throw new ShutdownError();
        if (err instanceof PermanentError) {
          drop('permanent error', messages);
          log.error({ err: errorSummary(err), batch, messages }, 'batch dropped: permanent error');
          return false;
        }
        stats.retries++;
        const delay = backoffDelay(n, options.retryInitialMs, options.retryMaxMs);
        // One line at the first failure and then at powers of two: an outage does not flood the log.
        if ((n & (n + 1)) === 0) log.warn({ err: errorSummary(err), batch, attempt: n + 1, retryInMs: delay }, 'stage failed, retrying');
        await sleep(delay, signal);
        await heartbeat().catch(() => {});
      }
    }
  }

  /** Per partition: the offset after this consumer's last batch, and in which assignment. */
  const continuing = new Map<number, { generation: number; next: string }>();
  const subscription = await bus.subscribe(
    { topic: options.topic, group: options.group, maxBatchMessages: options.maxBatchMessages, maxWaitMs: options.maxWaitMs },
    async (delivered, { signal, heartbeat, assignmentGeneration }) => {
      let parts = [delivered];
      const intents = options.intents;
      const continued = continuing.get(delivered.partition);
      // A batch that follows this consumer's own previous batch of the partition, with no rejoin
      // in between, cannot be a redelivery of someone else's: no intent to read.
      const ownContinuation = assignmentGeneration !== undefined && continued?.generation === assignmentGeneration && continued.next === delivered.messages[0]?.offset;
      if (intents && !ownContinuation) {
        // A redelivery after a crash is cut where the crashed batch ended (see batch-intents.ts);
        // one that does not reach that far yet is handed back to the bus to be fetched again.
        let intent: BatchIntent | null = null;
        await withRetries(async () => void (intent = await intents.read(options.group, delivered.topic, delivered.partition)), batchId(delivered), delivered.messages.length, signal, heartbeat);
        parts = cutAtIntent(delivered, intent);
      }
      for (const batch of parts) await handleBatch(batch, signal, heartbeat, assignmentGeneration);
      const last = delivered.messages[delivered.messages.length - 1];
      if (last && assignmentGeneration !== undefined) continuing.set(delivered.partition, { generation: assignmentGeneration, next: (BigInt(last.offset) + 1n).toString() });
    },
  );

  async function handleBatch(batch: ConsumedBatch, signal: AbortSignal, heartbeat: () => Promise<void>, assignmentGeneration: number | undefined): Promise<void> {
    const rejected = new Map<string, number>();
    const input = options.decode(batch.messages, (_message, reason) => {
      rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
    });
    if (rejected.size > 0) {
      const count = [...rejected.values()].reduce((a, b) => a + b, 0);
      for (const [reason, n] of rejected) drop(reason, n);
      log.warn({ dropped: count, reasons: Object.fromEntries(rejected) }, 'dropped undecodable messages');
    }
    const ctx = { batchId: batchId(batch), partition: batch.partition, signal, assignmentGeneration, heartbeat };
    const intents = options.intents;
    const attributes = { 'messaging.destination.name': batch.topic, 'messaging.destination.partition.id': String(batch.partition), 'messaging.batch.message_count': batch.messages.length, 'batch.id': ctx.batchId };
    await (options.selfTracing ?? SELF_TRACING_OFF).span(`stage ${stage.name}`, attributes, async (span) => {
      const retriesBefore = stats.retries;
      // The intent is recorded once: nothing commits the partition between two attempts.
      let intentRecorded = !intents;
      const stored = await withRetries(
        async () => {
          if (!intentRecorded) {
            await intents!.record(options.group, batch.topic, batch.partition, spanOf(batch));
            intentRecorded = true;
          }
          const output = await stage.process(input, ctx);
          for (const out of output?.publish ?? []) await bus.publish(out.topic, out.messages);
          await output?.after?.();
        },
        ctx.batchId,
        batch.messages.length,
        signal,
        heartbeat,
      );
      span?.setAttributes({ 'batch.retries': stats.retries - retriesBefore, 'batch.dropped': !stored });
    });
    stats.batches++;
    stats.messages += batch.messages.length;
  }

  let stopping: Promise<void> | null = null;
  return {
    name: stage.name,
    topic: options.topic,
    group: options.group,
    stats,
    stop: () => {
      stopping ??= (async () => {
        await subscription.stop();
        await stage.shutdown();
      })();
      return stopping;
    },
  };
}
