/**
 * The findings storage stage: writes redaction findings from the findings topic into
 * `chainwatch_findings`, one idempotent insert per batch (the batch id is the deduplication
 * token, as for spans). Findings hold no secret: rule, family, place, call edge and a keyed
 * fingerprint only.
 *
 * State: none beyond the ClickHouse connection.
 */
import type { BatchDecoder } from '../../pipeline/stage-runner.js';
import type { Stage, StageContext } from '../../pipeline/stage.js';
import { decodeFindings, type Finding } from '../../schemas/findings.js';
import { jsonLinesDecoder } from '../../schemas/json-lines.js';
import type { ClickHouse } from './clickhouse.js';
import { assertTableExists, insertIdempotent } from './clickhouse-insert.js';
import { dateTime64 } from './span-rows.js';

const FINDING_COLUMNS = ['Timestamp', 'Rule', 'Family', 'Category', 'Location', 'Action', 'ServiceName', 'Peer', 'TraceId', 'SpanId', 'Fingerprint'] as const;

/** Each message is a JSON-lines batch of findings; a malformed one is dropped with a reason. */
export const decodeFindingMessages: BatchDecoder<Finding[]> = jsonLinesDecoder(decodeFindings, 'malformed findings message');

export class FindingsStorageStage implements Stage<Finding[]> {
  readonly name = 'findings-storage';
  readonly #ch: ClickHouse;
  readonly #table: string;

  constructor(options: { clickhouse: ClickHouse }) {
    this.#ch = options.clickhouse;
    this.#table = `${options.clickhouse.database}.chainwatch_findings`;
  }

  async start(): Promise<void> {
    await assertTableExists(this.#ch, this.#table);
  }

  async process(findings: Finding[], ctx: StageContext): Promise<void> {
    if (findings.length === 0) return;
    const values = findings.map((f) => ({
      Timestamp: dateTime64(BigInt(f.time_unix_nano)),
      Rule: f.rule,
      Family: f.family,
      Category: f.category,
      Location: f.location,
      Action: f.action,
      ServiceName: f.service,
      Peer: f.peer,
      TraceId: f.trace_id,
      SpanId: f.span_id,
      Fingerprint: f.fingerprint,
    }));
    await insertIdempotent(this.#ch, {
      table: this.#table,
      columns: FINDING_COLUMNS,
      data: { format: 'JSONEachRow', values },
      rows: findings.length,
      deduplicationToken: ctx.batchId,
      signal: ctx.signal,
    });
  }

  async shutdown(): Promise<void> {}
}
