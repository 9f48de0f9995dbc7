/**
 * Running a stage in a test as the runner does with one batch: process, then (the runner would
 * publish the outputs here) the stage's after-publish step. Returns the outputs to publish.
 */
import type { Stage, StageContext, StageOutput } from '../../pipeline/stage.js';

export async function processAndStore<In>(stage: Stage<In>, input: In, ctx: StageContext): Promise<StageOutput> {
  const output = (await stage.process(input, ctx)) ?? {};
  await output.after?.();
  return output;
}
