/**
 * Record validation, the same for every receiver: records that cannot be stored as they are
 * (ids of the wrong length or all zero, timestamps ClickHouse cannot represent) are removed from
 * the request, and the rest go on. The OTLP specification's answer for that is a success with
 * `partial_success` saying how many records were refused and why, which is what the returned
 * ExportOutcome becomes.
 *
 * Rules (ids are lowercase hex after decoding; '' is absent):
 * - a span needs a trace id of 16 bytes and a span id of 8 bytes, neither all zero; its parent
 *   span id is absent or 8 bytes; an all-zero parent span id is the invalid span id, read as
 *   absent (a root span), as the Collector does;
 * - a log record's trace and span ids are optional: one that is invalid (the wrong length, or all
 *   zero) is cleared, and the record kept, as logs.proto asks ("the receivers SHOULD assume that
 *   the log record is not associated with a trace if … the field contains an invalid value");
 * - every timestamp fits DateTime64(9), that is at most 2^63-1 ns after the epoch (2262-04-11).
 */
import type { LogsData } from '../schemas/otlp-logs.js';
import type { TracesData } from '../schemas/otlp-traces.js';
import { FULLY_ACCEPTED, type ExportOutcome } from './export-outcome.js';

const INT64_MAX = (1n << 63n) - 1n;
const TRACE_ID_HEX = 32;
const SPAN_ID_HEX = 16;
const ALL_ZERO = /^0+$/;

/** Why an id is unusable, or null when it is fine. */
function idProblem(hex: string, hexLength: number, what: string, required: boolean): string | null {
  if (hex === '') return required ? `no ${what}` : null;
  if (hex.length !== hexLength) return `a ${what} that is not ${hexLength / 2} bytes`;
  if (ALL_ZERO.test(hex)) return `an all-zero ${what}`;
  return null;
}

function timeProblem(ns: bigint, what: string): string | null {
  return ns > INT64_MAX ? `${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} after 2262-04-11 (not representable)` : null;
}

/** Counts reasons and renders the partial_success message. */
class Refusals {
  readonly #reasons = new Map<string, number>();
  count = 0;

  add(reason: string): void {
    this.count++;
    this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + 1);
  }

  outcome(noun: string, total: number): ExportOutcome {
    if (this.count === 0) return FULLY_ACCEPTED;
    const why = [...this.#reasons].map(([reason, n]) => `${n} with ${reason}`).join(', ');
    return { rejected: this.count, message: `${this.count} of ${total} ${noun} rejected: ${why}`, reasons: Object.fromEntries(this.#reasons) };
  }
}

/** Removes the spans that cannot be stored; returns how many and why. */
export function validateTraces(data: TracesData): ExportOutcome {
  const refusals = new Refusals();
  let total = 0;
  for (const rs of data.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      total += ss.spans.length;
      const kept = ss.spans.filter((span) => {
        if (span.parentSpanId.length === SPAN_ID_HEX && ALL_ZERO.test(span.parentSpanId)) span.parentSpanId = '';
        const problem =
          idProblem(span.traceId, TRACE_ID_HEX, 'trace id', true) ??
          idProblem(span.spanId, SPAN_ID_HEX, 'span id', true) ??
          idProblem(span.parentSpanId, SPAN_ID_HEX, 'parent span id', false) ??
          timeProblem(span.startTimeUnixNano, 'start time') ??
          timeProblem(span.endTimeUnixNano, 'end time') ??
          eventTimeProblem(span.events);
        if (problem) refusals.add(problem);
        return problem === null;
      });
      if (kept.length !== ss.spans.length) ss.spans = kept;
    }
  }
  return refusals.outcome(total === 1 ? 'span' : 'spans', total);
}

function eventTimeProblem(events: readonly { timeUnixNano: bigint }[]): string | null {
  for (const e of events) {
    const problem = timeProblem(e.timeUnixNano, 'event time');
    if (problem) return problem;
  }
  return null;
}

/** Removes the log records that cannot be stored; returns how many and why. */
export function validateLogs(data: LogsData): ExportOutcome {
  const refusals = new Refusals();
  let total = 0;
  for (const rl of data.resourceLogs) {
    for (const sl of rl.scopeLogs) {
      total += sl.logRecords.length;
      const kept = sl.logRecords.filter((record) => {
        if (idProblem(record.traceId, TRACE_ID_HEX, 'trace id', false)) record.traceId = '';
        if (idProblem(record.spanId, SPAN_ID_HEX, 'span id', false)) record.spanId = '';
        const problem =
          timeProblem(record.timeUnixNano, 'time') ??
          timeProblem(record.observedTimeUnixNano, 'observed time');
        if (problem) refusals.add(problem);
        return problem === null;
      });
      if (kept.length !== sl.logRecords.length) sl.logRecords = kept;
    }
  }
  return refusals.outcome(total === 1 ? 'log record' : 'log records', total);
}
