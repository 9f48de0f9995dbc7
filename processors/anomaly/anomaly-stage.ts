/**
 * The anomaly stage: the owner of a set of call edges (those of the edges-topic partitions it is
 * assigned, in its own consumer group) judges every closed minute of every edge against the
 * edge's own recent past (detectors.ts: latency, error rate, volume), writes the anomalous minutes
 * to `chainwatch_anomalies` and publishes alert events on the alerts topic:
 *
 * - a minute is closed once the partition's watermark (the latest minute seen on it, event time)
 *   is `close_after_minutes` past it, so partials from other span partitions have arrived; every
 *   minute of the partition is judged once, when it closes, for every edge of the partition (a
 *   minute without calls too: volume counts it 0), except minutes that left the window before
 *   they closed (a watermark that leapt by more than the window);
 * - per edge and detector, an alert fires after `consecutive_minutes` anomalous minutes in a row
 *   (starts_at: the first of them) and resolves after `resolve_after_minutes` minutes without an
 *   anomalous one (ends_at: the end of the last anomalous minute); severity warning, rule
 *   `<detector>_anomaly`.
 *
 * State: the edge windows (edge-windows.ts, rebuilt from `chainwatch_edge_minutes`), and per
 * partition the last minute judged and the live alert states (firing, or an anomalous run that has
 * not fired yet); never the source of truth. On the first batch of a partition after an
 * assignment change (start, restart, rebalance) both are rebuilt from ClickHouse, exactly as of the
 * batch's first offset:
 *
 * - the last minute judged is the partition's watermark before that offset (the latest minute of
 *   the partition's partials stored with a smaller offset) minus `close_after_minutes`: what the
 *   previous owner judged when it committed that offset, so nothing is judged twice or skipped;
 * - an alert state is a function of the latest `chainwatch_anomalies` row of its edge and
 *   detector up to that minute (Firing, Anomalous, StartsAt, Minute): rows of later minutes, which
 *   a crashed attempt at this very batch may have written, are ignored, and rewritten identically.
 *
 * Guarantees: per batch, rows first (one idempotent insert, token: the batch id and the table),
 * then the events are returned for publishing, then (`after`, once they are published) the state
 * moves on. A batch retried, replayed by another worker or after a restart is judged on the same
 * data from the same state, so it gives the same rows (replaced) and the same events (the same
 * ids: receivers drop the copy): an alert never fires twice with two starts_at, and a resolution
 * is never lost. One inexactness: a rebuild that gave up waiting for the inventory
 * (edge-windows.ts) judges on what it found.
 */
import type { Logger } from '../../pipeline/logger.js';
import type { Stage, StageContext, StageOutput } from '../../pipeline/stage.js';
import type { AnomalyStageConfig } from '../../schemas/anomaly-config.js';
import { alertEventId, alertEventMessages, alertFingerprint, type AlertEvent } from '../../schemas/alerts.js';
import type { PlacedEdgePartial } from '../../schemas/edges.js';
import { EdgeWindows, type EdgeIdentity, type MinuteTotals } from '../inventory/edge-windows.js';
import type { PeerKind } from '../inventory/call-peer.js';
import type { ClickHouse } from '../storage/clickhouse.js';
import { assertTableExists, insertBatchRows, queryRows } from '../storage/clickhouse-insert.js';
import { DETECTORS, judgeMinute, type Detector, type DetectorSettings, type Judgement } from './detectors.js';

const TABLE = 'chainwatch_anomalies';
const COLUMNS = ['Minute', 'Tenant', 'ServiceName', 'PeerKind', 'Peer', 'EdgeId', 'Detector', 'Observed', 'Expected', 'Score', 'Calls', 'Firing', 'Anomalous', 'StartsAt'] as const;

/**
 * Minutes the edge windows keep beyond what judging one minute needs (its baseline, the closing
 * delay, a firing and a resolving run): a batch that moves the watermark further than this at once
 * (a consumer catching up) judges its earliest minutes on a shorter baseline.
 */
const WINDOW_MARGIN_MINUTES = 10;

const LABELS: Readonly<Record<Detector, string>> = { latency: 'latency', error_rate: 'error rate', volume: 'volume' };

export interface AnomalyStageOptions {
  clickhouse: ClickHouse;
  config: AnomalyStageConfig;
  /** Where alert events are published (keyed by fingerprint). */
  alertsTopic: string;
  logger: Logger;
  /** How long a rebuild waits for the inventory to store the partition up to the batch (edge-windows.ts). @default 30000 */
  rebuildWaitMs?: number;
}

/** One (edge, detector) alert that is live: firing, or in a run of anomalous minutes that has not fired yet. */
interface AlertState {
  readonly identity: EdgeIdentity;
  readonly partition: number;
  readonly detector: Detector;
  firing: boolean;
  /** Firing: the alert's starts_at; otherwise the first minute of the current anomalous run. */
  runStart: number;
  /** The latest anomalous minute (0: none since the last resolution). */
  lastAnomalous: number;
}

/** The latest row of an (edge, detector) up to a minute, as the rebuild reads it. */
interface LatestRow {
  EdgeId: string;
  Detector: Detector;
  LatestTenant: string;
  LatestService: string;
  LatestPeerKind: PeerKind;
  LatestPeer: string;
  LatestMinute: number;
  LatestStartsAt: number;
  LatestFiring: number;
  LatestAnomalous: number;
}

const iso = (minute: number): string => new Date(minute * 1000).toISOString();
const stateKey = (edgeId: string, detector: Detector): string => `${edgeId}/${detector}`;

function formatValue(detector: Detector, v: number): string {
  switch (detector) {
    case 'latency':
      return `${v >= 10 ? Math.round(v) : v.toFixed(1)} ms`;
    case 'error_rate':
      return `${(v * 100).toFixed(1)}%`;
    case 'volume':
      return `${Math.round(v)} calls/min`;
  }
}

export class AnomalyStage implements Stage<PlacedEdgePartial[]> {
  readonly name = 'anomaly';
  readonly #ch: ClickHouse;
  readonly #options: AnomalyStageOptions;
  readonly #settings: DetectorSettings;
  readonly #windowMinutes: number;
  readonly #windows: EdgeWindows;
  /** Per partition of this assignment: the latest minute judged for all its edges. */
  readonly #judgedUpTo = new Map<number, number>();
  /** Live alert states by `edge/detector`, of every partition of this assignment. */
  readonly #alerts = new Map<string, AlertState>();
  #generation: number | undefined = undefined;
  /** Rows written to chainwatch_anomalies since start, by detector (a resolution row included). */
  readonly anomalies: Record<Detector, number> = { latency: 0, error_rate: 0, volume: 0 };
  alertsFired = 0;
  alertsResolved = 0;
  /** Live alert states rebuilt from ClickHouse since start. */
  alertStatesLoaded = 0;

  constructor(options: AnomalyStageOptions) {
    this.#ch = options.clickhouse;
    this.#options = options;
    const c = options.config;
    this.#settings = { baselineMinutes: c.baseline_minutes, threshold: c.threshold, minCalls: c.min_calls };
    this.#windowMinutes = c.baseline_minutes + c.close_after_minutes + c.consecutive_minutes + c.resolve_after_minutes + WINDOW_MARGIN_MINUTES;
    this.#windows = new EdgeWindows({
      clickhouse: options.clickhouse,
      windowMinutes: this.#windowMinutes,
      logger: options.logger,
      ...(options.rebuildWaitMs !== undefined ? { rebuildWaitMs: options.rebuildWaitMs } : {}),
    });
  }

  /** Edges whose windows this worker holds. */
  get trackedEdges(): number {
    return this.#windows.trackedEdges;
  }

  /** Edges rebuilt from ClickHouse since start. */
  get edgesLoaded(): number {
    return this.#windows.edgesLoaded;
  }

  /** Alerts firing on the edges this worker holds. */
  get firingAlerts(): number {
    let n = 0;
    for (const s of this.#alerts.values()) if (s.firing) n++;
    return n;
  }

  async start(): Promise<void> {
    for (const table of [TABLE, 'chainwatch_edge_minutes']) await assertTableExists(this.#ch, `${this.#ch.database}.${table}`);
  }

  async shutdown(): Promise<void> {}

  async process(placed: PlacedEdgePartial[], ctx: StageContext): Promise<StageOutput | void> {
    // Nothing to fold; and the windows must see a partition's first batch with its offsets to rebuild it.
    if (placed.length === 0) return;
    if (ctx.assignmentGeneration !== this.#generation) {
      // Another worker may have owned these partitions since: its judgements are in ClickHouse.
      this.#judgedUpTo.clear();
      this.#alerts.clear();
      this.#generation = ctx.assignmentGeneration;
    }
    const generation = this.#generation;
    const { partition } = ctx;
    const { watermark } = await this.#windows.apply(placed, ctx);
    let judgedUpTo = this.#judgedUpTo.get(partition);
    if (judgedUpTo === undefined) {
      judgedUpTo = await this.#rebuild(partition, placed, watermark, ctx.signal);
      this.#judgedUpTo.set(partition, judgedUpTo);
    }
    const { close_after_minutes: closeAfter, consecutive_minutes: consecutive, resolve_after_minutes: resolveAfter } = this.#options.config;
    const closedUpTo = watermark - closeAfter * 60;
    if (closedUpTo <= judgedUpTo) return;
    // Minutes older than the window have no data left to judge by (a watermark that leapt).
    const from = Math.max(judgedUpTo + 60, watermark - this.#windowMinutes * 60 + 60);

    const next = new Map<string, AlertState>();
    const rows: object[] = [];
    const events: AlertEvent[] = [];
    const written: Record<Detector, number> = { latency: 0, error_rate: 0, volume: 0 };
    let fired = 0;
    let resolved = 0;

    const judgeEdge = (identity: EdgeIdentity, minutes: ReadonlyMap<number, MinuteTotals>): void => {
      for (let m = from; m <= closedUpTo; m += 60) {
        const judgements = judgeMinute(minutes, m, this.#settings);
        for (const detector of DETECTORS) {
          const j = judgements.find((x) => x.detector === detector);
          const key = stateKey(identity.edgeId, detector);
          let s = next.get(key);
          if (!s) {
            const held = this.#alerts.get(key);
            if (!held && !j?.anomalous) continue; // no live alert, nothing anomalous: nothing to track
            s = held ? { ...held } : { identity, partition, detector, firing: false, runStart: 0, lastAnomalous: 0 };
            next.set(key, s);
          }
          const row = (anomalous: boolean): void => {
            rows.push({
              Minute: m,
              Tenant: identity.tenant,
              ServiceName: identity.service,
              PeerKind: identity.peerKind,
              Peer: identity.peer,
              EdgeId: identity.edgeId,
              Detector: detector,
              Observed: j?.observed ?? 0,
              Expected: j?.expected ?? 0,
              Score: j?.score ?? 0,
              Calls: j?.calls ?? minutes.get(m)?.calls ?? 0,
              Firing: s.firing ? 1 : 0,
              Anomalous: anomalous ? 1 : 0,
              StartsAt: s.runStart,
            });
            written[detector]++;
          };
          if (j?.anomalous) {
            if (!s.firing) {
              if (s.lastAnomalous !== m - 60) s.runStart = m;
              if ((m - s.runStart) / 60 + 1 >= consecutive) {
                s.firing = true;
                events.push(this.#event(s, 'firing', j, null));
                fired++;
              }
            }
            s.lastAnomalous = m;
            row(true);
          } else if (s.firing && m - s.lastAnomalous >= resolveAfter * 60) {
            s.firing = false;
            events.push(this.#event(s, 'resolved', j, s.lastAnomalous + 60));
            resolved++;
            row(false);
            s.lastAnomalous = 0;
          }
        }
      }
    };

    const held = new Set<string>();
    for (const edge of this.#windows.edgesOf(partition)) {
      held.add(edge.identity.edgeId);
      judgeEdge(edge.identity, edge.minutes);
    }
    // A live alert whose edge left the windows (no calls for the whole window): judged on no data, so it resolves.
    const orphans = new Map<string, EdgeIdentity>();
    for (const s of this.#alerts.values()) if (s.partition === partition && !held.has(s.identity.edgeId)) orphans.set(s.identity.edgeId, s.identity);
    for (const identity of orphans.values()) judgeEdge(identity, new Map());

    await insertBatchRows(this.#ch, TABLE, COLUMNS, rows, ctx);

    const after = async (): Promise<void> => {
      if (this.#generation !== generation) return; // the assignment changed meanwhile: this state is stale
      for (const [key, s] of this.#alerts) if (s.partition === partition) this.#alerts.delete(key);
      for (const [key, s] of next) if (s.firing || s.lastAnomalous === closedUpTo) this.#alerts.set(key, s);
      this.#judgedUpTo.set(partition, closedUpTo);
      for (const d of DETECTORS) this.anomalies[d] += written[d];
      this.alertsFired += fired;
      this.alertsResolved += resolved;
    };
    if (events.length === 0) return { after };
    // Events of one alert in one message, in order: they stay in order on one partition of the alerts topic.
    return {
      publish: [{ topic: this.#options.alertsTopic, messages: alertEventMessages(events) }],
      after,
    };
  }

  #event(s: AlertState, status: AlertEvent['status'], j: Judgement | undefined, endsAt: number | null): AlertEvent {
    const { identity, detector } = s;
    const rule = `${detector}_anomaly`;
    const fingerprint = alertFingerprint('anomaly', rule, identity.edgeId);
    const startsAt = iso(s.runStart);
    const edge = `${identity.service} → ${identity.peer}`;
    const label = LABELS[detector];
    const numbers = j ? `${formatValue(detector, j.observed)}, baseline ${formatValue(detector, j.expected)} (z ${j.score.toFixed(1)})` : '';
    const summary =
      status === 'firing'
        ? `${edge} ${label} ${numbers}`
        : `${edge} ${label} back to normal${j ? `: ${numbers}` : ''}, no anomalous minute for ${this.#options.config.resolve_after_minutes} min`;
    return {
      id: alertEventId(fingerprint, status, startsAt),
      fingerprint,
      status,
      source: 'anomaly',
      rule,
      severity: 'warning',
      summary: summary.slice(0, 1024),
      tenant: identity.tenant,
      service: identity.service,
      peer: identity.peer,
      peer_kind: identity.peerKind,
      edge_id: identity.edgeId,
      starts_at: startsAt,
      ends_at: endsAt === null ? null : iso(endsAt),
      labels: { detector },
      values: j ? { observed: j.observed, expected: j.expected, score: j.score, calls: j.calls } : {},
    };
  }

  /**
   * The partition's state as of the batch's first offset, from ClickHouse: the last minute judged
   * (returned) and the live alert states of its edges (loaded into #alerts).
   */
  async #rebuild(partition: number, placed: readonly PlacedEdgePartial[], watermark: number, signal: AbortSignal): Promise<number> {
    const db = this.#ch.database;
    const query = <T>(sql: string, params: Record<string, unknown>): Promise<T[]> => queryRows<T>(this.#ch, sql, params, signal);
    const windowStart = watermark - this.#windowMinutes * 60;
    // The same rows the windows were rebuilt from: this group consumed exactly these before.
    const [before] = await query<{ n: string; w: number }>(
      `SELECT count() AS n, toUnixTimestamp(max(Minute)) AS w FROM ${db}.chainwatch_edge_minutes
       WHERE EdgesPartition = {p:UInt32} AND EdgesOffset < {o:UInt64} AND Minute > toDateTime({from:UInt32})`,
      { p: partition, o: placed[0]!.offset, from: windowStart },
    );
    const closeAfter = this.#options.config.close_after_minutes;
    // Nothing before within the window: every minute of it is new.
    const judgedUpTo = Number(before?.n ?? 0) > 0 ? Math.max(before!.w - closeAfter * 60, windowStart) : windowStart;

    const latest = await query<LatestRow>(
      `SELECT EdgeId, Detector, any(Tenant) AS LatestTenant, any(ServiceName) AS LatestService, any(PeerKind) AS LatestPeerKind, any(Peer) AS LatestPeer,
         toUnixTimestamp(max(Minute)) AS LatestMinute, toUnixTimestamp(argMax(StartsAt, Minute)) AS LatestStartsAt,
         argMax(Firing, Minute) AS LatestFiring, argMax(Anomalous, Minute) AS LatestAnomalous
       FROM ${db}.${TABLE}
       WHERE Minute > toDateTime({from:UInt32}) AND Minute <= toDateTime({to:UInt32})
       GROUP BY EdgeId, Detector`,
      { from: judgedUpTo - this.#windowMinutes * 60, to: judgedUpTo },
    );
    // Live: firing, or a run not fired yet that reached the last judged minute (else it was broken).
    const live = latest.filter((r) => Number(r.LatestFiring) === 1 || (Number(r.LatestAnomalous) === 1 && r.LatestMinute === judgedUpTo));
    const mine = new Map(this.#windows.edgesOf(partition).map((e) => [e.identity.edgeId, e.identity]));
    // A firing alert whose edge has no calls left in the window: is the edge this partition's?
    const elsewhere = [...new Set(live.filter((r) => !mine.has(r.EdgeId)).map((r) => r.EdgeId))];
    const adopted = new Set<string>();
    if (elsewhere.length > 0) {
      const owners = await query<{ EdgeId: string; p: number }>(
        `SELECT EdgeId, argMax(EdgesPartition, Minute) AS p FROM ${db}.chainwatch_edge_minutes WHERE EdgeId IN {ids:Array(String)} GROUP BY EdgeId`,
        { ids: elsewhere },
      );
      for (const o of owners) if (Number(o.p) === partition) adopted.add(o.EdgeId);
    }
    let loaded = 0;
    for (const r of live) {
      const identity =
        mine.get(r.EdgeId) ?? (adopted.has(r.EdgeId) ? { edgeId: r.EdgeId, tenant: r.LatestTenant, service: r.LatestService, peer: r.LatestPeer, peerKind: r.LatestPeerKind } : undefined);
      if (!identity) continue;
      this.#alerts.set(stateKey(r.EdgeId, r.Detector), {
        identity,
        partition,
        detector: r.Detector,
        firing: Number(r.LatestFiring) === 1,
        runStart: r.LatestStartsAt,
        lastAnomalous: r.LatestMinute,
      });
      loaded++;
    }
    this.alertStatesLoaded += loaded;
    this.#options.logger.info({ partition, judgedUpTo: iso(judgedUpTo), alertStates: loaded }, 'anomaly state rebuilt from ClickHouse');
    return judgedUpTo;
  }
}
