/**
 * Runs a stage as a consumer of a topic: consume a batch → decode → `stage.process` → publish its
 * outputs → commit. The commit happens only after the outputs are published and the stage's own
 * writes are done, so a crash anywhere before it replays the batch (at-least-once), and the
 * batch id handed to the stage is the same on replay, so sinks can deduplicate.
 *
 * Failures never escape into the consumer loop: a message that does not decode is counted and
 * dropped with a reason; a permanent stage error drops the batch, counted and logged once; any
 * other error is retried with capped, fully jittered backoff until it succeeds or the runner stops.
 */
import { batchId, type Bus, type ConsumedMessage } from './bus.js';
import { backoffDelay, PermanentError, ShutdownError, sleep } from './errors.js';
import type { Logger } from './logger.js';
import type { Stage } from './stage.js';

export interface StageStats {
  batches: number;
  messages: number;
  /** Messages dropped because they could not be decoded, or by a permanent stage error. */
  droppedMessages: number;
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
  const stats: StageStats = { batches: 0, messages: 0, droppedMessages: 0, droppedByReason: {}, retries: 0 };
  const drop = (reason: string, count: number): void => {
    stats.droppedMessages += count;
    stats.droppedByReason[reason] = (stats.droppedByReason[reason] ?? 0) + count;
  };
  await stage.start();

  const subscription = await bus.subscribe(
    { topic: options.topic, group: options.group, maxBatchMessages: options.maxBatchMessages, maxWaitMs: options.maxWaitMs },
    async (batch, { signal, heartbeat }) => {
      const rejected = new Map<string, number>();
      const input = options.decode(batch.messages, (_message, reason) => {
        rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
      });
      if (rejected.size > 0) {
        const count = [...rejected.values()].reduce((a, b) => a + b, 0);
        for (const [reason, n] of rejected) drop(reason, n);
        log.warn({ dropped: count, reasons: Object.fromEntries(rejected) }, 'dropped undecodable messages');
      }
      const ctx = { batchId: batchId(batch), signal };
      for (let attempt = 0; ; attempt++) {
        if (signal.aborted) throw new ShutdownError();
        try {
          const output = await stage.process(input, ctx);
          for (const out of output?.publish ?? []) await bus.publish(out.topic, out.messages);
          break;
        } catch (err) {
          if (signal.aborted) throw new ShutdownError();
          if (err instanceof PermanentError) {
            drop('permanent error', batch.messages.length);
            log.error({ err: errorSummary(err), batch: ctx.batchId, messages: batch.messages.length }, 'batch dropped: permanent error');
            break;
          }
          stats.retries++;
          const delay = backoffDelay(attempt, options.retryInitialMs, options.retryMaxMs);
          // One line at the first failure and then at powers of two: an outage does not flood the log.
          if ((attempt & (attempt + 1)) === 0) {
            log.warn({ err: errorSummary(err), batch: ctx.batchId, attempt: attempt + 1, retryInMs: delay }, 'stage failed, retrying');
          }
          await sleep(delay, signal);
          await heartbeat().catch(() => {});
        }
      }
      stats.batches++;
      stats.messages += batch.messages.length;
    },
  );

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

/** The name and message of an error, for logs: never a record, never a stack of user data. */
export function errorSummary(err: unknown): { type: string; message: string } {
  if (err instanceof Error) return { type: err.name, message: err.message.slice(0, 500) };
  return { type: typeof err, message: String(err).slice(0, 500) };
}
