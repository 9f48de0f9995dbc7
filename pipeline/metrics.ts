/**
 * The pipeline's own metrics, in the Prometheus text format (prom-client), one registry per
 * running chainwatch so that two instances in one process (tests) never mix their numbers.
 *
 * What is counted where it happens (answered requests, records accepted and refused, inserts) is
 * incremented by the code that sees it; what a component already keeps as a running total (stage
 * statistics, redaction matches, attribute limits) or as a level (bus queue, consumer lag) is read
 * when Prometheus scrapes. Labels carry names and reasons only, never record contents.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AnsweredRequest } from '../collector/export-outcome.js';
import type { Bus } from './bus.js';
import type { StageStats } from './stage-runner.js';

/** A running total kept elsewhere, exposed as a counter: set to the total at each scrape. */
function totalsCounter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: () => Iterable<[Record<L, string>, number]>): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, total] of read()) this.inc(labels, total);
    },
  });
}

/** A level kept elsewhere, read at each scrape. */
function levelGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** Counts by key as labelled totals: `{ timeout: 3 }` → `[{ reason: 'timeout' }, 3]`. */
function byLabel<L extends string>(label: L, counts: Readonly<Record<string, number>> | undefined): [Record<L, string>, number][] {
  return Object.entries(counts ?? {}).map(([key, n]) => [{ [label]: key } as Record<L, string>, n]);
}

/** Alert events published by a detecting role, by status. */
function firingResolved(role: { alertsFired: number; alertsResolved: number } | null | undefined): [Record<'status', string>, number][] {
  return role ? byLabel('status', { firing: role.alertsFired, resolved: role.alertsResolved }) : [];
}

export interface MetricSources {
  bus: Bus;
  /** Running stages by name, with their statistics. */
  stages(): readonly { name: string; stats: Readonly<StageStats> }[];
  /** Redaction matches by rule family since start (empty when redaction does not run here). */
  redactionMatches(): Readonly<Record<string, number>>;
  /** Attribute limits applied since start (collector). */
  attributeLimits(): { attributesDropped: number; valuesTruncated: number };
  /** The inventory's edge owner, when it runs here. */
  edgeRegistry?(): { trackedEdges: number; edgesLoaded: number; findingsRaised: Readonly<Record<string, number>> } | null;
  /** The sla role, when it runs here. */
  sla?(): { alertsFired: number; alertsResolved: number; windows: { trackedEdges: number; edgesLoaded: number } } | null;
  /** The alerting role, when it runs here. */
  alerting?(): { deliveries: Readonly<Record<string, number>>; attempts: number } | null;
  /** The anomaly role, when it runs here. */
  anomaly?(): { anomalies: Readonly<Record<string, number>>; alertsFired: number; alertsResolved: number; trackedEdges: number } | null;
}

export class PipelineMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'transport' | 'signal' | 'status'>;
  readonly #received: Counter<'signal'>;
  readonly #accepted: Counter<'signal'>;
  readonly #rejected: Counter<'signal' | 'reason'>;
  readonly #insertRows: Histogram<'table'>;
  readonly #insertSeconds: Histogram<'table' | 'outcome'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'chainwatch_' });
    this.#requests = new Counter({ name: 'chainwatch_ingest_requests_total', help: 'OTLP export requests answered, by transport, signal and status (HTTP status or gRPC code)', labelNames: ['transport', 'signal', 'status'], registers });
    this.#received = new Counter({ name: 'chainwatch_records_received_total', help: 'Spans and log records decoded from accepted requests', labelNames: ['signal'], registers });
    this.#accepted = new Counter({ name: 'chainwatch_records_accepted_total', help: 'Spans and log records made durable (published, or stored in embedded mode)', labelNames: ['signal'], registers });
    this.#rejected = new Counter({ name: 'chainwatch_records_rejected_total', help: 'Spans and log records refused one by one (partial_success), by reason', labelNames: ['signal', 'reason'], registers });
    this.#insertRows = new Histogram({
      name: 'chainwatch_insert_batch_rows',
      help: 'Rows per ClickHouse insert',
      labelNames: ['table'],
      buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000],
      registers,
    });
    this.#insertSeconds = new Histogram({
      name: 'chainwatch_insert_duration_seconds',
      help: 'ClickHouse insert latency, by table and outcome (ok, failed)',
      labelNames: ['table', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  /** Gauges and counters read at scrape time from the running parts. */
  watch(sources: MetricSources): void {
    const registers = [this.registry];
    new Gauge({
      name: 'chainwatch_bus_queue_depth',
      help: 'Messages accepted by the bus and not yet durable (in-process: not yet handled by every consumer group; Kafka: not yet sent)',
      registers,
      collect() {
        this.set(sources.bus.queueDepth());
      },
    });
    new Gauge<'topic' | 'partition' | 'group'>({
      name: 'chainwatch_consumer_lag',
      help: 'Messages published and not yet committed, per consumer group of this process and partition',
      labelNames: ['topic', 'partition', 'group'],
      registers,
      async collect() {
        this.reset();
        const lags = await sources.bus.consumerLag().catch(() => []);
        for (const l of lags) this.set({ topic: l.topic, partition: String(l.partition), group: l.group }, l.lag);
      },
    });
    const stageTotals = (pick: (s: Readonly<StageStats>) => number) => (): [Record<'stage', string>, number][] => sources.stages().map((s) => [{ stage: s.name }, pick(s.stats)]);
    totalsCounter(this.registry, 'chainwatch_stage_batches_total', 'Batches a consuming stage handled and committed', ['stage'], stageTotals((s) => s.batches));
    totalsCounter(this.registry, 'chainwatch_stage_retries_total', 'Stage attempts that failed and were retried (with backoff, offsets not committed)', ['stage'], stageTotals((s) => s.retries));
    totalsCounter(this.registry, 'chainwatch_records_dropped_total', 'Bus messages a stage dropped, by reason (undecodable, or refused for good by the sink)', ['stage', 'reason'], () =>
      sources.stages().flatMap((s) => byLabel('reason', s.stats.droppedByReason).map(([labels, n]): [Record<'stage' | 'reason', string>, number] => [{ stage: s.name, ...labels }, n])),
    );
    totalsCounter(this.registry, 'chainwatch_redaction_matches_total', 'Values redacted, by rule family', ['family'], () => byLabel('family', sources.redactionMatches()));
    levelGauge(this.registry, 'chainwatch_inventory_edges_tracked', 'Call edges whose state this worker holds in memory (the edges it owns and saw lately)', () => sources.edgeRegistry?.()?.trackedEdges ?? 0);
    totalsCounter(this.registry, 'chainwatch_inventory_edges_loaded_total', 'Call edges whose state was rebuilt from ClickHouse (first sight after a start, rebalance or eviction)', [], () => [[{}, sources.edgeRegistry?.()?.edgesLoaded ?? 0]]);
    totalsCounter(this.registry, 'chainwatch_posture_findings_total', 'Posture findings raised on call edges, by kind', ['kind'], () => byLabel('kind', sources.edgeRegistry?.()?.findingsRaised));
    levelGauge(this.registry, 'chainwatch_sla_edges_tracked', 'Call edges whose per-minute window the sla role holds here', () => sources.sla?.()?.windows.trackedEdges ?? 0);
    totalsCounter(this.registry, 'chainwatch_sla_alerts_total', 'Burn-rate alert events published, by status', ['status'], () => firingResolved(sources.sla?.()));
    levelGauge(this.registry, 'chainwatch_anomaly_edges_tracked', 'Call edges whose per-minute window the anomaly role holds here', () => sources.anomaly?.()?.trackedEdges ?? 0);
    totalsCounter(this.registry, 'chainwatch_anomaly_minutes_total', 'Anomalous edge minutes found, by detector', ['detector'], () => byLabel('detector', sources.anomaly?.()?.anomalies));
    totalsCounter(this.registry, 'chainwatch_anomaly_alerts_total', 'Anomaly alert events published, by status', ['status'], () => firingResolved(sources.anomaly?.()));
    totalsCounter(this.registry, 'chainwatch_alert_deliveries_total', 'Alert deliveries settled, by outcome (delivered, failed, below_min_severity, receiver_disabled)', ['outcome'], () => byLabel('outcome', sources.alerting?.()?.deliveries));
    totalsCounter(this.registry, 'chainwatch_alert_delivery_attempts_total', 'Webhook requests made (each retry counts)', [], () => [[{}, sources.alerting?.()?.attempts ?? 0]]);
    totalsCounter(this.registry, 'chainwatch_attribute_limits_total', 'Attributes dropped (over the count limit) and values truncated (over the length limit)', ['action'], () => {
      const c = sources.attributeLimits();
      return [
        [{ action: 'dropped' }, c.attributesDropped],
        [{ action: 'truncated' }, c.valuesTruncated],
      ];
    });
  }

  answered(a: AnsweredRequest): void {
    this.#requests.inc({ transport: a.transport, signal: a.signal, status: a.status });
  }

  /** One request's records: how many arrived, were made durable, and were refused for which reasons. */
  records(signal: string, received: number, accepted: number, rejectedByReason: Readonly<Record<string, number>> = {}): void {
    this.#received.inc({ signal }, received);
    if (accepted > 0) this.#accepted.inc({ signal }, accepted);
    for (const [reason, n] of Object.entries(rejectedByReason)) this.#rejected.inc({ signal, reason }, n);
  }

  inserted(table: string, rows: number, seconds: number, ok: boolean): void {
    if (ok) this.#insertRows.observe({ table }, rows);
    this.#insertSeconds.observe({ table, outcome: ok ? 'ok' : 'failed' }, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
