/**
 * The sla role: SLA budgets per call edge. It consumes the edges topic in its own consumer group,
 * so each worker owns the edges of its partitions (the repartition pattern), keeps six hours of
 * per-minute totals per edge (edge-windows.ts), and after every batch evaluates, for each edge of
 * the batch's partition that has an objective, the availability and latency SLIs: burn rates over
 * 5 min, 30 min, 1 h and 6 h at the partition's latest minute, and the multiwindow burn-rate alert
 * (burn-rates.ts): two alerts per SLI, the 1 h tier (critical: page) and the 6 h tier (warning).
 *
 * Outputs: an alert event on the alerts topic when an edge's alert starts firing or resolves, and a
 * `chainwatch_slo_status` row per SLI for every edge of the batch and every edge whose alert
 * changed. The rows are written after the events are published (`after`), so a crash in between
 * replays the batch, which finds the same transition and publishes the same event again (its id is
 * deterministic); a row saying "firing" is never durable before its event is.
 *
 * State: the edge windows, and per edge and SLI whether the alert fires and since when — rebuilt
 * after any assignment change, the windows from the inventory's rows, the alert state from the
 * latest `chainwatch_slo_status` row of each edge.
 */
import type { Logger } from '../../pipeline/logger.js';
import type { Stage, StageContext, StageOutput } from '../../pipeline/stage.js';
import { alertEventId, alertEventMessages, alertFingerprint, type AlertEvent } from '../../schemas/alerts.js';
import type { SlaStageConfig } from '../../schemas/config.js';
import type { PlacedEdgePartial } from '../../schemas/edges.js';
import { EdgeWindows, type EdgeIdentity, type EdgeWindow } from '../inventory/edge-windows.js';
import type { ClickHouse } from '../storage/clickhouse.js';
import { assertTableExists, insertBatchRows, queryRows } from '../storage/clickhouse-insert.js';
import { BURN_RATE_TIERS, evaluate, SLIS, target, type BurnRateTier, type Evaluation, type Objective, type Sli } from './burn-rates.js';

/** Per tier: the minute its alert began firing (unix seconds), or 0. */
type AlertState = Record<BurnRateTier['name'], number>;
const QUIET: AlertState = { '1h': 0, '6h': 0 };

const STATUS_COLUMNS = ['Minute', 'Tenant', 'ServiceName', 'PeerKind', 'Peer', 'EdgeId', 'Sli', 'Objective', 'LatencyMs', 'Calls1h', 'Bad1h', 'Burn5m', 'Burn30m', 'Burn1h', 'Burn6h', 'Firing1h', 'Since1h', 'Firing6h', 'Since6h'] as const;

/** Minutes evaluated per batch at most (a batch spanning more is judged on its last ones). */
const MAX_STEPS = 60;

const iso = (minute: number): string => new Date(minute * 1000).toISOString();
const round = (n: number): number => Math.round(n * 100) / 100;

export interface SlaStageOptions {
  clickhouse: ClickHouse;
  config: SlaStageConfig;
  alertsTopic: string;
  logger: Logger;
}

export class SlaStage implements Stage<PlacedEdgePartial[]> {
  readonly name = 'sla';
  readonly #ch: ClickHouse;
  readonly #config: SlaStageConfig;
  readonly #alertsTopic: string;
  readonly windows: EdgeWindows;
  /** `edgeId/sli` → alert state, for the edges of partitions this worker owns. */
  readonly #alerts = new Map<string, AlertState>();
  /** Per partition, the latest minute whose alerts were evaluated and stored. */
  readonly #evaluated = new Map<number, number>();
  #generation: number | undefined = undefined;
  alertsFired = 0;
  alertsResolved = 0;

  constructor(options: SlaStageOptions) {
    this.#ch = options.clickhouse;
    this.#config = options.config;
    this.#alertsTopic = options.alertsTopic;
    this.windows = new EdgeWindows({ clickhouse: options.clickhouse, windowMinutes: 360, logger: options.logger });
  }

  async start(): Promise<void> {
    for (const table of ['chainwatch_edge_minutes', 'chainwatch_slo_status']) await assertTableExists(this.#ch, `${this.#ch.database}.${table}`);
  }

  async shutdown(): Promise<void> {}

  /** The objective of an edge: the first configured entry whose given fields match, else the default. */
  objectiveOf(edge: EdgeIdentity): Objective | null {
    for (const o of this.#config.objectives) {
      if ((o.tenant === undefined || o.tenant === edge.tenant) && (o.service === undefined || o.service === edge.service) && (o.peer === undefined || o.peer === edge.peer)) return o;
    }
    return this.#config.default_objective;
  }

  async process(placed: PlacedEdgePartial[], ctx: StageContext): Promise<StageOutput> {
    if (ctx.assignmentGeneration !== this.#generation) {
      this.#alerts.clear();
      this.#evaluated.clear();
      this.#generation = ctx.assignmentGeneration;
    }
    const { touched, watermark, previous } = await this.windows.apply(placed, ctx);
    // Where evaluation resumes: after what was stored, not after what the windows hold — a retry of
    // this batch finds the windows already holding it and must evaluate (and announce) it again.
    if (!this.#evaluated.has(ctx.partition)) this.#evaluated.set(ctx.partition, previous);
    const evaluatedThrough = this.#evaluated.get(ctx.partition)!;
    // Every minute the watermark passed is evaluated in turn, so when an alert fires or resolves
    // does not depend on how the stream was cut into batches (at most the last MAX_STEPS minutes).
    // Most batches pass none: their calls count in the windows of the minutes to come.
    const first = evaluatedThrough === 0 ? Math.min(...placed.map((p) => p.partial.minute)) : evaluatedThrough + 60;
    const steps: number[] = [];
    for (let t = Math.max(first, watermark - (MAX_STEPS - 1) * 60); t <= watermark; t += 60) steps.push(t);
    if (steps.length === 0) return {};

    const edges = this.windows.edgesOf(ctx.partition).flatMap((edge) => {
      const objective = this.objectiveOf(edge.identity);
      return objective ? [{ edge, objective }] : [];
    });
    await this.#loadAlertStates(
      edges.filter(({ edge }) => !this.#alerts.has(`${edge.identity.edgeId}/availability`)).map(({ edge }) => edge),
      ctx.signal,
    );
    const touchedIds = new Set(touched.map((e) => e.identity.edgeId));
    const events: AlertEvent[] = [];
    const rows: object[] = [];
    const next = new Map<string, AlertState>();
    for (const { edge, objective } of edges) {
      for (const sli of SLIS) {
        const key = `${edge.identity.edgeId}/${sli}`;
        const before = this.#alerts.get(key) ?? QUIET;
        let state = before;
        let ev: Evaluation | null = null;
        for (const now of steps) {
          ev = evaluate(edge.minutes, now, sli, objective, this.#config.min_calls);
          const after: AlertState = { ...state };
          for (const tier of BURN_RATE_TIERS) {
            if (ev.firing[tier.name] && state[tier.name] === 0) {
              after[tier.name] = now;
              events.push(this.#event(edge, sli, tier, objective, ev, 'firing', now, now));
            } else if (!ev.firing[tier.name] && state[tier.name] !== 0) {
              after[tier.name] = 0;
              events.push(this.#event(edge, sli, tier, objective, ev, 'resolved', state[tier.name], now));
            }
          }
          if (BURN_RATE_TIERS.some((t) => after[t.name] !== state[t.name])) rows.push(statusRow(edge, sli, objective, ev, after, now));
          state = after;
        }
        if (state !== before) next.set(key, state);
        // The latest minute's status of every edge the batch brought calls to.
        if (ev && touchedIds.has(edge.identity.edgeId)) rows.push(statusRow(edge, sli, objective, ev, state, watermark));
      }
    }
    return {
      publish: events.length > 0 ? [{ topic: this.#alertsTopic, messages: alertEventMessages(events) }] : [],
      after: async () => {
        await insertBatchRows(this.#ch, 'chainwatch_slo_status', STATUS_COLUMNS, rows, ctx);
        for (const [key, state] of next) this.#alerts.set(key, state);
        this.#evaluated.set(ctx.partition, Math.max(evaluatedThrough, watermark));
        for (const e of events) {
          if (e.status === 'firing') this.alertsFired++;
          else this.alertsResolved++;
        }
      },
    };
  }

  #event(edge: EdgeWindow, sli: Sli, tier: BurnRateTier, objective: Objective, ev: Evaluation, status: AlertEvent['status'], since: number, now: number): AlertEvent {
    const { edgeId, tenant, service, peer, peerKind } = edge.identity;
    const rule = `slo_${sli}_burn_rate_${tier.name}`;
    const fingerprint = alertFingerprint('sla', rule, edgeId);
    const startsAt = iso(since);
    const objectiveText = sli === 'availability' ? `${objective.availability * 100}% of calls succeed` : `${objective.latency_target * 100}% of calls within ${objective.latency_ms} ms`;
    const long = tier.long === 60 ? '1 h' : '6 h';
    const short = tier.short === 5 ? '5 min' : '30 min';
    const summary =
      status === 'firing'
        ? `${service} → ${peer}: ${sli} error budget burning ${round(ev.burn[tier.long])}× over ${long} and ${round(ev.burn[tier.short])}× over ${short}, above ${tier.factor}× (objective: ${objectiveText})`
        : `${service} → ${peer}: ${sli} error budget no longer burning above ${tier.factor}× (${long}: ${round(ev.burn[tier.long])}×, ${short}: ${round(ev.burn[tier.short])}×; objective: ${objectiveText})`;
    return {
      id: alertEventId(fingerprint, status, startsAt),
      fingerprint,
      status,
      source: 'sla',
      rule,
      severity: tier.severity,
      summary,
      tenant,
      service,
      peer,
      peer_kind: peerKind,
      edge_id: edgeId,
      starts_at: startsAt,
      ends_at: status === 'resolved' ? iso(now) : null,
      labels: { sli, tier: tier.name, objective: String(target(objective, sli)), ...(sli === 'latency' ? { latency_ms: String(objective.latency_ms) } : {}) },
      values: {
        burn_rate_5m: round(ev.burn[5]),
        burn_rate_30m: round(ev.burn[30]),
        burn_rate_1h: round(ev.burn[60]),
        burn_rate_6h: round(ev.burn[360]),
        calls_1h: ev.counts[60].calls,
        bad_calls_1h: ev.counts[60].bad,
      },
    };
  }

  /** The alert state of edges this worker does not hold yet: the latest status row of each. */
  async #loadAlertStates(edges: readonly EdgeWindow[], signal: AbortSignal): Promise<void> {
    if (edges.length === 0) return;
    const ids = edges.map((e) => e.identity.edgeId);
    const latest = await queryRows<{ EdgeId: string; Sli: Sli; s1h: number; s6h: number }>(
      this.#ch,
      `SELECT EdgeId, Sli, toUnixTimestamp(argMax(if(Firing1h = 1, Since1h, toDateTime(0)), Minute)) AS s1h, toUnixTimestamp(argMax(if(Firing6h = 1, Since6h, toDateTime(0)), Minute)) AS s6h
       FROM ${this.#ch.database}.chainwatch_slo_status WHERE EdgeId IN {ids:Array(String)} GROUP BY EdgeId, Sli`,
      { ids },
      signal,
    );
    for (const id of ids) for (const sli of SLIS) this.#alerts.set(`${id}/${sli}`, QUIET);
    for (const r of latest) this.#alerts.set(`${r.EdgeId}/${r.Sli}`, { '1h': r.s1h, '6h': r.s6h });
  }
}

function statusRow(edge: EdgeWindow, sli: Sli, objective: Objective, ev: Evaluation, state: AlertState, now: number): object {
  const { edgeId, tenant, service, peer, peerKind } = edge.identity;
  return {
    Minute: now,
    Tenant: tenant,
    ServiceName: service,
    PeerKind: peerKind,
    Peer: peer,
    EdgeId: edgeId,
    Sli: sli,
    Objective: target(objective, sli),
    LatencyMs: sli === 'latency' ? objective.latency_ms : 0,
    Calls1h: ev.counts[60].calls,
    Bad1h: ev.counts[60].bad,
    Burn5m: ev.burn[5],
    Burn30m: ev.burn[30],
    Burn1h: ev.burn[60],
    Burn6h: ev.burn[360],
    Firing1h: state['1h'] !== 0 ? 1 : 0,
    Since1h: state['1h'],
    Firing6h: state['6h'] !== 0 ? 1 : 0,
    Since6h: state['6h'],
  };
}
