/**
 * Running a stage in a test as the runner does with one batch: process, then (the runner would
 * publish the outputs here) the stage's after-publish step. Returns the outputs to publish.
 */
import type { Stage, StageContext, StageOutput } from '../../pipeline/stage.js';
import { decodeAlertEvents, type AlertEvent } from '../../schemas/alerts.js';

export async function processAndStore<In>(stage: Stage<In>, input: In, ctx: StageContext): Promise<StageOutput> {
  const output = (await stage.process(input, ctx)) ?? {};
  await output.after?.();
  return output;
}

/** The alert events a stage's output publishes, decoded (and so checked against the AlertEvent contract), in order. */
export function alertEventsOf(output: StageOutput): AlertEvent[] {
  return (output.publish ?? []).flatMap((p) => p.messages.flatMap((m) => decodeAlertEvents(m.value)));
}
