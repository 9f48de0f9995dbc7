/**
 * The inventory's stateful step, the owner of a set of call edges: it folds the partials of the
 * edges whose partitions of the edges topic it owns (every partial of an edge is keyed by the
 * edge id, so exactly one worker of the group sees it), keeps the edge registry and per-minute
 * statistics in ClickHouse, and raises posture findings the first time an edge shows them:
 *
 * - `new_edge`: a service calls a peer it was never seen calling;
 * - `plaintext_call`: a call over http://;
 * - `unauthenticated_call`: recorded request headers carried no credential (auth scheme None);
 * - `static_credential`: a static secret authenticates the call (Basic, or an API-key header);
 * - `long_lived_credential`: a token lives longer than `long_lived_credential_s` (exp − iat).
 *
 * State: per edge, whether it is registered and which findings it has raised; a bounded cache
 * (least recently used edges are evicted), never the source of truth. An edge missing from it is
 * loaded from ClickHouse (`chainwatch_edges`, `chainwatch_posture_findings`) before its batch is
 * handled, and the whole cache is dropped when the consumer's group assignment changes, so after
 * a restart or a rebalance the state is rebuilt from ClickHouse and the topic, and an edge that
 * moved between workers is never judged on stale memory.
 *
 * Guarantees: per batch, new findings are first announced as alert events on the alerts topic
 * (published by the runner), then written (`after`): findings, then the registry, then the
 * minutes, each an idempotent insert (token: the batch id and the table); the state is updated
 * only after all three. A crash at any point replays the batch to the same outcome: the registry
 * does not yet know the edge, so the same findings are computed, announced again with the same
 * event ids, and their insert is deduplicated by its token.
 */
import type { Stage, StageContext, StageOutput } from '../../pipeline/stage.js';
import { alertEventId, alertEventMessages, alertFingerprint, type AlertEvent } from '../../schemas/alerts.js';
import type { BatchDecoder } from '../../pipeline/stage-runner.js';
import { decodeEdgePartials, type EdgePartial, type ExampleSignal, type PlacedEdgePartial } from '../../schemas/edges.js';
import { STATIC_SCHEMES } from './call-edges.js';
import { jsonLinesDecoder } from '../../schemas/json-lines.js';
import type { ClickHouse } from '../storage/clickhouse.js';
import { assertTableExists, insertBatchRows, queryRows } from '../storage/clickhouse-insert.js';
import { dateTime64 } from '../storage/span-rows.js';

const POSTURE_KINDS = ['new_edge', 'plaintext_call', 'unauthenticated_call', 'static_credential', 'long_lived_credential'] as const;
export type PostureKind = (typeof POSTURE_KINDS)[number];

const SEVERITY: Readonly<Record<PostureKind, 'high' | 'medium' | 'low'>> = {
  new_edge: 'medium',
  plaintext_call: 'high',
  unauthenticated_call: 'high',
  static_credential: 'medium',
  long_lived_credential: 'medium',
};


/** Each message is JSON lines of partials; a malformed one is dropped with a reason. */
export const decodeEdgeMessages: BatchDecoder<PlacedEdgePartial[]> = jsonLinesDecoder(decodeEdgePartials, 'malformed edge partials', (partial, m) => ({ partial, offset: m.offset }));

interface EdgeState {
  registered: boolean;
  raised: Set<PostureKind>;
}

/** One batch's view of an edge: its partials folded together. */
interface EdgeFold {
  first: EdgePartial;
  firstNs: bigint;
  lastNs: bigint;
  plaintext: number;
  unauthenticated: number;
  schemes: Set<string>;
  maxLifetimeS: number;
  /** The earliest example of each signal over the partials (the longest credential: the longest). */
  examples: EdgePartial['examples'];
}

/** The signal whose example span a finding names. */
const EXAMPLE_OF: Readonly<Record<PostureKind, ExampleSignal | null>> = {
  new_edge: null,
  plaintext_call: 'plaintext',
  unauthenticated_call: 'unauthenticated',
  static_credential: 'static_credential',
  long_lived_credential: 'longest_credential',
};

/** When a finding happened and the span that shows it: its example, or the edge's first call in the batch. */
function evidenceOf(kind: PostureKind, fold: EdgeFold): { ns: bigint; traceId: string; spanId: string } {
  const signal = EXAMPLE_OF[kind];
  const example = signal ? fold.examples[signal] : undefined;
  return example ? { ns: BigInt(example.ns), traceId: example.trace_id, spanId: example.span_id } : { ns: fold.firstNs, traceId: fold.first.trace_id, spanId: fold.first.span_id };
}

export interface EdgeRegistryOptions {
  clickhouse: ClickHouse;
  /** A token living longer than this is a `long_lived_credential`. */
  longLivedCredentialS: number;
  /** Edges whose state is kept in memory at most; others are reloaded from ClickHouse when seen. */
  maxTrackedEdges: number;
  /** Where posture findings are announced as alert events; none: stored only. */
  alertsTopic?: string;
}

export class EdgeRegistryStage implements Stage<PlacedEdgePartial[]> {
  readonly name = 'edge-registry';
  readonly #ch: ClickHouse;
  readonly #options: EdgeRegistryOptions;
  /** Insertion order is recency order: an edge is re-inserted when used. */
  readonly #state = new Map<string, EdgeState>();
  #generation: number | undefined = undefined;
  /** Edges whose state was loaded from ClickHouse since start (a measure of rebuilds). */
  edgesLoaded = 0;
  /** Posture findings written since start, by kind. */
  readonly findingsRaised: Record<string, number> = {};

  constructor(options: EdgeRegistryOptions) {
    this.#ch = options.clickhouse;
    this.#options = options;
  }

  get trackedEdges(): number {
    return this.#state.size;
  }

  /** The edges whose state this worker holds: those it owns and handled since its last rebalance (bounded). */
  trackedEdgeIds(): string[] {
    return [...this.#state.keys()];
  }

  async start(): Promise<void> {
    for (const table of ['chainwatch_edges', 'chainwatch_edge_minutes', 'chainwatch_posture_findings']) await assertTableExists(this.#ch, `${this.#ch.database}.${table}`);
  }

  async process(placed: PlacedEdgePartial[], ctx: StageContext): Promise<StageOutput> {
    if (placed.length === 0) return {};
    const partials = placed.map((p) => p.partial);
    if (ctx.assignmentGeneration !== this.#generation) {
      // Another worker may have owned some of these edges since this one last saw them.
      this.#state.clear();
      this.#generation = ctx.assignmentGeneration;
    }
    const folds = foldByEdge(partials);
    const missing = [...folds.keys()].filter((id) => !this.#state.has(id));
    const loaded = missing.length > 0 ? await this.#load(missing, ctx.signal) : new Map<string, EdgeState>();

    const findings: object[] = [];
    const events: AlertEvent[] = [];
    const raisedNow = new Map<string, PostureKind[]>();
    for (const [id, fold] of folds) {
      const state = this.#state.get(id) ?? loaded.get(id)!;
      const kinds = this.#postureOf(fold, state);
      if (kinds.length === 0) continue;
      raisedNow.set(id, kinds);
      for (const kind of kinds) {
        findings.push(findingRow(kind, fold, this.#options.longLivedCredentialS));
        events.push(alertOf(kind, fold, this.#options.longLivedCredentialS));
      }
    }
    const insert = (table: string, values: object[], columns: readonly string[]): Promise<void> => insertBatchRows(this.#ch, table, columns, values, ctx);
    const alertsTopic = this.#options.alertsTopic;
    return {
      // The findings are announced before they are stored: once stored, a replay would not raise them again.
      publish: alertsTopic && events.length > 0 ? [{ topic: alertsTopic, messages: alertEventMessages(events) }] : [],
      after: async () => {
        await insert('chainwatch_posture_findings', findings, FINDING_COLUMNS);
        await insert('chainwatch_edges', [...folds.values()].map(registryRow), REGISTRY_COLUMNS);
        await insert('chainwatch_edge_minutes', placed.map((p) => minuteRow(p, ctx.partition)), MINUTE_COLUMNS);
        this.#remember(folds.keys(), loaded, raisedNow);
      },
    };
  }

  /** After a batch is stored: its edges are registered, their new findings raised, and they are the most recently used. */
  #remember(ids: Iterable<string>, loaded: ReadonlyMap<string, EdgeState>, raisedNow: ReadonlyMap<string, PostureKind[]>): void {
    for (const id of ids) {
      const state = this.#state.get(id) ?? loaded.get(id)!;
      state.registered = true;
      for (const kind of raisedNow.get(id) ?? []) {
        state.raised.add(kind);
        this.findingsRaised[kind] = (this.findingsRaised[kind] ?? 0) + 1;
      }
      this.#state.delete(id);
      this.#state.set(id, state);
    }
    for (const id of this.#state.keys()) {
      if (this.#state.size <= this.#options.maxTrackedEdges) break;
      this.#state.delete(id);
    }
  }

  async shutdown(): Promise<void> {}

  #postureOf(fold: EdgeFold, state: EdgeState): PostureKind[] {
    const kinds: PostureKind[] = [];
    const raise = (kind: PostureKind, when: boolean): void => {
      if (when && !state.raised.has(kind)) kinds.push(kind);
    };
    raise('new_edge', !state.registered);
    raise('plaintext_call', fold.plaintext > 0);
    raise('unauthenticated_call', fold.unauthenticated > 0);
    raise('static_credential', [...fold.schemes].some((s) => STATIC_SCHEMES.has(s)));
    raise('long_lived_credential', fold.maxLifetimeS > this.#options.longLivedCredentialS);
    return kinds;
  }

  /** The state of edges this worker does not hold, from ClickHouse. */
  async #load(ids: string[], signal: AbortSignal): Promise<Map<string, EdgeState>> {
    const db = this.#ch.database;
    const rows = <T>(query: string): Promise<T[]> => queryRows<T>(this.#ch, query, { ids }, signal);
    const [registered, raised] = await Promise.all([
      rows<{ EdgeId: string }>(`SELECT DISTINCT EdgeId FROM ${db}.chainwatch_edges WHERE EdgeId IN {ids:Array(String)}`),
      rows<{ EdgeId: string; Kind: string }>(`SELECT DISTINCT EdgeId, Kind FROM ${db}.chainwatch_posture_findings WHERE EdgeId IN {ids:Array(String)}`),
    ]);
    const out = new Map<string, EdgeState>(ids.map((id) => [id, { registered: false, raised: new Set() }]));
    for (const r of registered) out.get(r.EdgeId)!.registered = true;
    for (const r of raised) out.get(r.EdgeId)?.raised.add(r.Kind as PostureKind);
    this.edgesLoaded += ids.length;
    return out;
  }
}

function foldByEdge(partials: readonly EdgePartial[]): Map<string, EdgeFold> {
  const folds = new Map<string, EdgeFold>();
  for (const p of partials) {
    const firstNs = BigInt(p.first_ns);
    const lastNs = BigInt(p.last_ns);
    const f = folds.get(p.edge_id);
    if (!f) {
      folds.set(p.edge_id, { first: p, firstNs, lastNs, plaintext: p.plaintext, unauthenticated: p.unauthenticated, schemes: new Set(p.auth_schemes), maxLifetimeS: p.max_credential_lifetime_s, examples: { ...p.examples } });
      continue;
    }
    for (const [signal, example] of Object.entries(p.examples) as [ExampleSignal, NonNullable<EdgePartial['examples'][ExampleSignal]>][]) {
      const prev = f.examples[signal];
      const better = !prev || (signal === 'longest_credential' ? p.max_credential_lifetime_s > f.maxLifetimeS : BigInt(example.ns) < BigInt(prev.ns));
      if (better) f.examples[signal] = example;
    }
    if (firstNs < f.firstNs) {
      f.first = p;
      f.firstNs = firstNs;
    }
    if (lastNs > f.lastNs) f.lastNs = lastNs;
    f.plaintext += p.plaintext;
    f.unauthenticated += p.unauthenticated;
    for (const s of p.auth_schemes) f.schemes.add(s);
    f.maxLifetimeS = Math.max(f.maxLifetimeS, p.max_credential_lifetime_s);
  }
  return folds;
}

const FINDING_COLUMNS = ['Timestamp', 'Kind', 'Severity', 'Tenant', 'ServiceName', 'PeerKind', 'Peer', 'EdgeId', 'Detail', 'TraceId', 'SpanId'] as const;
const REGISTRY_COLUMNS = ['Tenant', 'ServiceName', 'PeerKind', 'Peer', 'EdgeId', 'FirstSeen', 'LastSeen', 'AuthSchemes', 'Plaintext', 'MaxCredentialLifetimeS'] as const;
const MINUTE_COLUMNS = ['Minute', 'Tenant', 'ServiceName', 'PeerKind', 'Peer', 'EdgeId', 'Source', 'EdgesPartition', 'EdgesOffset', 'Calls', 'Errors', 'Plaintext', 'Unauthenticated', 'DurationSumMs', 'DurationMaxMs', 'LatencyBuckets'] as const;

function detailOf(kind: PostureKind, fold: EdgeFold, longLivedS: number): string {
  const { service, peer_kind: peerKind, peer } = fold.first;
  switch (kind) {
    case 'new_edge':
      return `${service} called ${peerKind} ${peer} for the first time`;
    case 'plaintext_call':
      return `${service} called ${peer} over http:// (${fold.plaintext} calls in this batch)`;
    case 'unauthenticated_call':
      return `${service} called ${peer} without a credential in the recorded request headers`;
    case 'static_credential':
      return `${service} authenticates to ${peer} with a static credential (${[...fold.schemes].filter((s) => STATIC_SCHEMES.has(s)).join(', ')})`;
    case 'long_lived_credential':
      return `${service} calls ${peer} with a token valid for ${fold.maxLifetimeS} s (more than ${longLivedS} s)`;
  }
}

const ALERT_SEVERITY: Readonly<Record<'high' | 'medium' | 'low', AlertEvent['severity']>> = { high: 'critical', medium: 'warning', low: 'info' };

/** A posture finding as an alert event: it fires once and has nothing to resolve. */
function alertOf(kind: PostureKind, fold: EdgeFold, longLivedS: number): AlertEvent {
  const p = fold.first;
  const fingerprint = alertFingerprint('inventory', kind, p.edge_id);
  const startsAt = new Date(Number(evidenceOf(kind, fold).ns / 1_000_000n)).toISOString();
  return {
    id: alertEventId(fingerprint, 'firing', startsAt),
    fingerprint,
    status: 'firing',
    source: 'inventory',
    rule: kind,
    severity: ALERT_SEVERITY[SEVERITY[kind]],
    summary: detailOf(kind, fold, longLivedS),
    tenant: p.tenant,
    service: p.service,
    peer: p.peer,
    peer_kind: p.peer_kind,
    edge_id: p.edge_id,
    starts_at: startsAt,
    ends_at: null,
    labels: {},
    values: kind === 'long_lived_credential' ? { credential_lifetime_s: fold.maxLifetimeS } : kind === 'plaintext_call' ? { plaintext_calls: fold.plaintext } : {},
  };
}

function findingRow(kind: PostureKind, fold: EdgeFold, longLivedS: number): object {
  const p = fold.first;
  const evidence = evidenceOf(kind, fold);
  return {
    Timestamp: dateTime64(evidence.ns),
    Kind: kind,
    Severity: SEVERITY[kind],
    Tenant: p.tenant,
    ServiceName: p.service,
    PeerKind: p.peer_kind,
    Peer: p.peer,
    EdgeId: p.edge_id,
    Detail: detailOf(kind, fold, longLivedS),
    TraceId: evidence.traceId,
    SpanId: evidence.spanId,
  };
}

function registryRow(fold: EdgeFold): object {
  const p = fold.first;
  return {
    Tenant: p.tenant,
    ServiceName: p.service,
    PeerKind: p.peer_kind,
    Peer: p.peer,
    EdgeId: p.edge_id,
    FirstSeen: dateTime64(fold.firstNs),
    LastSeen: dateTime64(fold.lastNs),
    AuthSchemes: [...fold.schemes].sort(),
    Plaintext: fold.plaintext > 0 ? 1 : 0,
    MaxCredentialLifetimeS: fold.maxLifetimeS,
  };
}

function minuteRow({ partial: p, offset }: PlacedEdgePartial, partition: number): object {
  return {
    Minute: p.minute,
    Tenant: p.tenant,
    ServiceName: p.service,
    PeerKind: p.peer_kind,
    Peer: p.peer,
    EdgeId: p.edge_id,
    Source: p.source,
    EdgesPartition: partition,
    EdgesOffset: offset,
    Calls: p.calls,
    Errors: p.errors,
    Plaintext: p.plaintext,
    Unauthenticated: p.unauthenticated,
    DurationSumMs: p.duration_sum_ms,
    DurationMaxMs: p.duration_max_ms,
    LatencyBuckets: p.latency_buckets,
  };
}
