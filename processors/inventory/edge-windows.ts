/**
 * Per-edge windows of per-minute totals, for the stateful roles that judge call edges over time
 * (sla, anomaly). Each such role consumes the edges topic in its own consumer group, so a worker
 * holds the edges of the partitions it owns (the repartition pattern), and keeps, per edge, the
 * calls, errors, latency sum and histogram of each of the last `windowMinutes` minutes.
 *
 * Rebuild: memory is never trusted across an assignment change. On the first batch of a partition
 * after one (a start, a restart, a rebalance), the partition's edges are rebuilt from ClickHouse:
 * the `chainwatch_edge_minutes` rows the inventory wrote for partials of this partition *before
 * the batch's first offset* — exactly what this consumer group consumed and committed before, as
 * partition and offset are the same for every group — and the stream goes on from the batch. On
 * Kafka the inventory may lag behind this group: while its rows do not reach the offset before the batch,
 * the rebuild waits (a retryable error, so the runner backs off and tries again), for at most
 * `rebuildWaitMs`, then goes on with what is there and says so in the log.
 *
 * Duplicates: a partial published twice (the inventory's first step replayed) has the same
 * source; sources of the last `RECENT_MINUTES` minutes are remembered (bounded), and a partial
 * whose edge, minute and source were counted already is skipped. Rows are read grouped by source
 * for the same reason.
 */
import { RetryableError } from '../../pipeline/errors.js';
import type { Logger } from '../../pipeline/logger.js';
import type { StageContext } from '../../pipeline/stage.js';
import { LATENCY_BUCKET_BOUNDS_MS, type EdgePartial, type PlacedEdgePartial } from '../../schemas/edges.js';
import type { ClickHouse } from '../storage/clickhouse.js';
import { queryRows } from '../storage/clickhouse-insert.js';
import type { PeerKind } from './call-peer.js';

/** Minutes whose sources are remembered for duplicate detection. */
const RECENT_MINUTES = 15;
/** Remembered sources at most (edge, minute, source keys). */
const MAX_RECENT_SOURCES = 200_000;
/** Partials whose minute lies further ahead of this process's clock are skipped. */
const MAX_FUTURE_MINUTES = 10;

export interface EdgeIdentity {
  edgeId: string;
  tenant: string;
  service: string;
  peer: string;
  peerKind: PeerKind;
}

export interface MinuteTotals {
  calls: number;
  errors: number;
  durationSumMs: number;
  /** Calls per latency bucket (LATENCY_BUCKET_BOUNDS_MS, then the overflow bucket). */
  latencyBuckets: number[];
}

export interface EdgeWindow {
  readonly identity: EdgeIdentity;
  readonly partition: number;
  /** Minute (unix seconds) → totals; minutes without calls are absent. */
  readonly minutes: Map<number, MinuteTotals>;
}

export interface EdgeWindowsOptions {
  clickhouse: ClickHouse;
  /** Minutes of history kept per edge, counted back from the partition's latest minute. */
  windowMinutes: number;
  /** How long a rebuild waits for the inventory to store the partition up to the batch. @default 30000 */
  rebuildWaitMs?: number;
  logger: Logger;
}

export interface AppliedBatch {
  /** The edges the batch brought calls to. */
  touched: EdgeWindow[];
  /** The latest minute seen on the partition (event time): the partition's "now". */
  watermark: number;
  /** The watermark before this batch (after a rebuild: the latest minute rebuilt), 0 when nothing came before. */
  previous: number;
}

interface PartitionState {
  watermark: number;
  /** Every edge of the partition holds no minute at or before this one (the last full trim). */
  trimmedTo: number;
}

const emptyTotals = (): MinuteTotals => ({ calls: 0, errors: 0, durationSumMs: 0, latencyBuckets: new Array<number>(LATENCY_BUCKET_BOUNDS_MS.length + 1).fill(0) });

function addTotals(into: MinuteTotals, p: Pick<EdgePartial, 'calls' | 'errors' | 'duration_sum_ms' | 'latency_buckets'>): void {
  into.calls += p.calls;
  into.errors += p.errors;
  into.durationSumMs += p.duration_sum_ms;
  for (let i = 0; i < into.latencyBuckets.length; i++) into.latencyBuckets[i]! += p.latency_buckets[i] ?? 0;
}

export class EdgeWindows {
  readonly #ch: ClickHouse;
  readonly #options: EdgeWindowsOptions;
  /** Partition → edge id → window. */
  readonly #edges = new Map<number, Map<string, EdgeWindow>>();
  /** Partitions rebuilt in this assignment, with their watermark. */
  readonly #partitions = new Map<number, PartitionState>();
  /** `edge/minute/source` of partials counted lately; insertion order is age. */
  readonly #recent = new Set<string>();
  /** Per partition waiting for the inventory: since when. */
  readonly #waitingSince = new Map<number, number>();
  #generation: number | undefined = undefined;
  /** Edges rebuilt from ClickHouse since start. */
  edgesLoaded = 0;
  /** Rebuilds that gave up waiting for the inventory. */
  rebuildsIncomplete = 0;

  constructor(options: EdgeWindowsOptions) {
    this.#ch = options.clickhouse;
    this.#options = options;
  }

  /** Partials skipped because their minute lies too far ahead of the clock (see apply). */
  futureSkipped = 0;

  get trackedEdges(): number {
    let n = 0;
    for (const edges of this.#edges.values()) n += edges.size;
    return n;
  }

  /** The edges of a partition this worker holds. */
  edgesOf(partition: number): EdgeWindow[] {
    return [...(this.#edges.get(partition)?.values() ?? [])];
  }

  /** Folds a batch of one partition in, rebuilding the partition first when it is new to this assignment. */
  async apply(placed: readonly PlacedEdgePartial[], ctx: StageContext): Promise<AppliedBatch> {
    if (ctx.assignmentGeneration !== this.#generation) {
      this.#edges.clear();
      this.#partitions.clear();
      this.#recent.clear();
      this.#generation = ctx.assignmentGeneration;
    }
    let state = this.#partitions.get(ctx.partition);
    // A batch with no partial (all undecodable) cannot say where the partition starts: no rebuild yet.
    if (!state && placed.length === 0) return { touched: [], watermark: 0, previous: 0 };
    state ??= await this.#rebuild(ctx.partition, placed, ctx.signal, ctx.assignmentGeneration !== undefined);
    const previous = state.watermark;
    const touched = new Map<string, EdgeWindow>();
    // Client clocks can be wrong: a minute far ahead would move the partition's "now" and empty
    // every window on it. Such partials are skipped (counted).
    const latest = Math.floor(Date.now() / 60_000) * 60 + MAX_FUTURE_MINUTES * 60;
    for (const { partial: p } of placed) {
      if (p.minute > latest) {
        this.futureSkipped++;
        continue;
      }
      const key = `${p.edge_id}/${p.minute}/${p.source}`;
      if (this.#recent.has(key)) continue;
      this.#remember(key);
      const edge = this.#edgeFor(p, ctx.partition);
      let totals = edge.minutes.get(p.minute);
      if (!totals) edge.minutes.set(p.minute, (totals = emptyTotals()));
      addTotals(totals, p);
      touched.set(p.edge_id, edge);
      if (p.minute > state.watermark) state.watermark = p.minute;
    }
    this.#partitions.set(ctx.partition, state);
    this.#trim(ctx.partition, state, touched.values());
    return { touched: [...touched.values()], watermark: state.watermark, previous };
  }

  #edgeFor(p: EdgePartial, partition: number): EdgeWindow {
    let edges = this.#edges.get(partition);
    if (!edges) this.#edges.set(partition, (edges = new Map()));
    let edge = edges.get(p.edge_id);
    if (!edge) {
      edge = { identity: { edgeId: p.edge_id, tenant: p.tenant, service: p.service, peer: p.peer, peerKind: p.peer_kind }, partition, minutes: new Map() };
      edges.set(p.edge_id, edge);
    }
    return edge;
  }

  #remember(key: string): void {
    this.#recent.add(key);
    if (this.#recent.size > MAX_RECENT_SOURCES) this.#recent.delete(this.#recent.values().next().value!);
  }

  /**
   * Drops minutes that left the window, and edges left with none. A pass over every edge of the
   * partition only when the window's start moved (about once a minute); otherwise only the edges
   * this batch touched can hold a minute before it (a late partial).
   */
  #trim(partition: number, state: PartitionState, touched: Iterable<EdgeWindow>): void {
    const oldest = state.watermark - this.#options.windowMinutes * 60;
    const edges = this.#edges.get(partition);
    if (!edges) return;
    const moved = oldest > state.trimmedTo;
    for (const edge of moved ? edges.values() : touched) {
      for (const minute of edge.minutes.keys()) if (minute <= oldest) edge.minutes.delete(minute);
      if (edge.minutes.size === 0) edges.delete(edge.identity.edgeId);
    }
    if (moved) state.trimmedTo = oldest;
  }

  async #rebuild(partition: number, placed: readonly PlacedEdgePartial[], signal: AbortSignal, mayLag: boolean): Promise<PartitionState> {
    const first = BigInt(placed[0]!.offset);
    const db = this.#ch.database;
    const query = <T>(sql: string, params: Record<string, unknown>): Promise<T[]> => queryRows<T>(this.#ch, sql, params, signal);
    // In-process (no group assignments) this runs at the process's first batch: what came before
    // is an earlier process's, all stored; only a group member on Kafka can be ahead of the inventory.
    if (mayLag && first > 0n) {
      // The inventory handles a partition in order: a row at or past the offset before the batch
      // means everything before it is stored (an undecodable message there has no row of its own).
      const [reached] = await query<{ n: string }>(`SELECT count() AS n FROM ${db}.chainwatch_edge_minutes WHERE EdgesPartition = {p:UInt32} AND EdgesOffset >= {o:UInt64}`, { p: partition, o: (first - 1n).toString() });
      if (Number(reached?.n ?? 0) === 0) {
        const since = this.#waitingSince.get(partition) ?? Date.now();
        this.#waitingSince.set(partition, since);
        if (Date.now() - since < (this.#options.rebuildWaitMs ?? 30_000)) {
          throw new RetryableError(`waiting for the inventory to store partition ${partition} of the edges topic up to offset ${first - 1n}`, 1000);
        }
        this.rebuildsIncomplete++;
        this.#options.logger.warn({ partition, offset: (first - 1n).toString() }, 'rebuilding edge windows without the inventory having stored the partition up to this offset: the window may miss calls');
      }
    }
    this.#waitingSince.delete(partition);
    const newest = Math.max(...placed.map((p) => p.partial.minute));
    const params = { p: partition, o: first.toString(), from: newest - this.#options.windowMinutes * 60 };
    // One row per edge and minute, each source counted once (a partial published twice is two rows).
    const rows = await query<{ EdgeId: string; Tenant: string; ServiceName: string; PeerKind: PeerKind; Peer: string; Minute: number; Calls: string; Errors: string; DurationSumMs: number; LatencyBuckets: string[] }>(
      `SELECT EdgeId, any(Tenant) AS Tenant, any(ServiceName) AS ServiceName, any(PeerKind) AS PeerKind, any(Peer) AS Peer, toUnixTimestamp(Minute) AS Minute,
         sum(c) AS Calls, sum(e) AS Errors, sum(d) AS DurationSumMs, sumForEach(b) AS LatencyBuckets
       FROM (
         SELECT EdgeId, Minute, Source, any(Tenant) AS Tenant, any(ServiceName) AS ServiceName, any(PeerKind) AS PeerKind, any(Peer) AS Peer,
           any(Calls) AS c, any(Errors) AS e, any(DurationSumMs) AS d, any(LatencyBuckets) AS b
         FROM ${db}.chainwatch_edge_minutes
         WHERE EdgesPartition = {p:UInt32} AND EdgesOffset < {o:UInt64} AND Minute > toDateTime({from:UInt32})
         GROUP BY EdgeId, Minute, Source
       )
       GROUP BY EdgeId, Minute`,
      params,
    );
    let watermark = 0;
    const loaded = new Set<string>();
    for (const r of rows) {
      const edge = this.#edgeFor({ edge_id: r.EdgeId, tenant: r.Tenant, service: r.ServiceName, peer: r.Peer, peer_kind: r.PeerKind } as EdgePartial, partition);
      edge.minutes.set(r.Minute, { calls: Number(r.Calls), errors: Number(r.Errors), durationSumMs: r.DurationSumMs, latencyBuckets: r.LatencyBuckets.map(Number) });
      loaded.add(r.EdgeId);
      if (r.Minute > watermark) watermark = r.Minute;
    }
    const recent = await query<{ k: string }>(
      `SELECT DISTINCT concat(EdgeId, '/', toString(toUnixTimestamp(Minute)), '/', Source) AS k FROM ${db}.chainwatch_edge_minutes
       WHERE EdgesPartition = {p:UInt32} AND EdgesOffset < {o:UInt64} AND Minute > toDateTime({from:UInt32})`,
      { ...params, from: Math.max(params.from, newest - RECENT_MINUTES * 60) },
    );
    for (const { k } of recent) this.#remember(k);
    this.edgesLoaded += loaded.size;
    return { watermark, trimmedTo: -Infinity };
  }
}
