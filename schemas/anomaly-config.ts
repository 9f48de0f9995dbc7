/**
 * Config of the anomaly stage (`stages.anomaly`): how it reads the edges topic (the consumer
 * batching fields every consuming stage has) and how it judges a call edge's minutes against the
 * edge's own recent past (processors/anomaly/detectors.ts) and turns anomalous minutes into alerts
 * (processors/anomaly/anomaly-stage.ts).
 *
 * Every default lives here; unknown keys are rejected; every message names what is expected and
 * what was given; the cross-field rule (backoff cap not below its first delay) is checked in
 * `superRefine` with the path of the offending key.
 */
import { z } from 'zod';
import { checkRetryRange, consumerStageFields, describe, positiveInt } from './config-fields.js';

/** A whole number of minutes in [min, max]. */
const minutes = (min: number, max: number) => {
  const error = (iss: { input?: unknown }): string => `expected a whole number of minutes from ${min} to ${max}, got ${describe(iss.input)}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
};

export const anomalyStageConfigSchema = z
  .strictObject({
    ...consumerStageFields(),
    /**
     * Closed minutes of an edge's history a minute is judged against (its baseline: median and
     * MAD). A minute is judged only when at least half of them had traffic. @default 60
     */
    baseline_minutes: minutes(10, 1440).default(60),
    /**
     * How far a minute must be from its baseline to count as anomalous, as a robust z-score:
     * |value − median| / (1.4826 · MAD), where 1.4826 · MAD estimates the standard deviation of
     * normal data. @default 6
     */
    threshold: z
      .number({ error: (iss) => `expected a number greater than 1 (a robust z-score), got ${describe(iss.input)}` })
      .gt(1, { error: (iss) => `expected a number greater than 1 (a robust z-score), got ${describe(iss.input)}` })
      .refine(Number.isFinite, { error: 'expected a finite number' })
      .default(6),
    /**
     * A minute with fewer calls is not judged for latency or error rate (its mean is noise), and
     * volume is judged only when the minute or its baseline reaches this many calls. @default 20
     */
    min_calls: positiveInt('a positive whole number of calls').default(20),
    /** Anomalous minutes in a row before an alert fires. @default 2 */
    consecutive_minutes: minutes(1, 60).default(2),
    /** Minutes without an anomaly before a firing alert resolves. @default 5 */
    resolve_after_minutes: minutes(1, 1440).default(5),
    /**
     * A minute is judged once the latest minute seen on its partition of the edges topic (event
     * time) is this many minutes past it, so the partials of the minute from other span partitions
     * (late ones) have arrived. @default 2
     */
    close_after_minutes: minutes(1, 60).default(2),
  })
  .superRefine(checkRetryRange)
  .prefault({});

export type AnomalyStageConfig = z.infer<typeof anomalyStageConfigSchema>;
