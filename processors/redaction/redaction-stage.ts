/**
 * The redaction stage: masks secrets and personal data in a request — traces or logs — in place,
 * before anything is published (it runs inline in the collector, DESIGN.md), and returns its
 * findings as side output for the findings topic. The rules are compiled once, at construction.
 *
 * State: the compiled rule set and per-family match counts.
 * Guarantees: after `process`, no value an enabled rule matches is left in the request; findings
 * carry no secret (rule, place, call edge, keyed fingerprint).
 */
import type { BusMessage } from '../../pipeline/bus.js';
import type { Stage, StageContext, StageOutput } from '../../pipeline/stage.js';
import { encodeFindings, type Finding } from '../../schemas/findings.js';
import { isLogsData, type LogsData } from '../../schemas/otlp-logs.js';
import type { TracesData } from '../../schemas/otlp-traces.js';
import type { RedactionConfig } from '../../schemas/redaction-config.js';
import { createRedactor } from './redactor.js';
import type { Redactor } from './types.js';

export interface RedactionStageOptions {
  config: RedactionConfig;
  hmacKey: Buffer | string;
  findingsTopic: string;
}

export class RedactionStage implements Stage<TracesData | LogsData> {
  readonly name = 'redaction';
  readonly redactor: Redactor;
  readonly #findingsTopic: string;

  constructor(options: RedactionStageOptions) {
    this.redactor = createRedactor(options.config, { hmacKey: options.hmacKey });
    this.#findingsTopic = options.findingsTopic;
  }

  async start(): Promise<void> {}

  async process(data: TracesData | LogsData, _ctx?: StageContext): Promise<StageOutput> {
    const { findings } = isLogsData(data) ? this.redactor.redactLogs(data) : this.redactor.redactTraces(data);
    if (findings.length === 0) return {};
    return { publish: [{ topic: this.#findingsTopic, messages: findingMessages(findings) }] };
  }

  async shutdown(): Promise<void> {}
}

/** One message per service, keyed by it, so a service's findings stay in order. */
function findingMessages(findings: Finding[]): BusMessage[] {
  const byService = new Map<string, Finding[]>();
  for (const f of findings) {
    const list = byService.get(f.service);
    if (list) list.push(f);
    else byService.set(f.service, [f]);
  }
  return [...byService].map(([service, list]) => ({ key: service, value: encodeFindings(list) }));
}
