/**
 * The inventory's first step, stateless: spans in, call-edge partials out. Each batch of span
 * messages (any trace bucket) becomes one partial per edge and minute (call-edges.ts), published
 * on the edges topic keyed by edge id, so all partials of one edge land on one partition and are
 * folded by the one worker that owns it (edge-registry-stage.ts): the repartition pattern.
 *
 * State: none. Guarantees: the runner publishes the partials before it commits the span offsets,
 * so a crash replays the batch (at-least-once); its partials then carry the same `source` (the
 * batch id, which batch intents keep stable across workers on Kafka), and the registry stores a
 * replayed partial once.
 */
import type { Stage, StageContext, StageOutput } from '../../pipeline/stage.js';
import { encodeEdgePartials, type EdgePartial } from '../../schemas/edges.js';
import type { TracesData } from '../../schemas/otlp-traces.js';
import { edgePartials } from './call-edges.js';

export class InventoryStage implements Stage<TracesData[]> {
  readonly name = 'inventory';
  readonly #edgesTopic: string;

  constructor(options: { edgesTopic: string }) {
    this.#edgesTopic = options.edgesTopic;
  }

  async start(): Promise<void> {}

  async process(requests: TracesData[], ctx: StageContext): Promise<StageOutput> {
    const byEdge = new Map<string, EdgePartial[]>();
    for (const p of edgePartials(requests, ctx.batchId)) {
      const list = byEdge.get(p.edge_id);
      if (list) list.push(p);
      else byEdge.set(p.edge_id, [p]);
    }
    const messages = [...byEdge].map(([edge, partials]) => ({ key: edge, value: encodeEdgePartials(partials) }));
    return messages.length === 0 ? {} : { publish: [{ topic: this.#edgesTopic, messages }] };
  }

  async shutdown(): Promise<void> {}
}
