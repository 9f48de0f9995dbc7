/**
 * Wiring: builds the bus, ClickHouse and the stages a config asks for, and starts them in order —
 * consumers before the receiver, so nothing is accepted that no stage would take — and stops them
 * in reverse: the receiver stops accepting and drains, the stages finish and commit their
 * batches, then the bus and ClickHouse close.
 *
 * Roles: `collector` (OTLP receiver → inline stages → bus), `storage` (bus → ClickHouse) and
 * `inventory` (spans → call-edge partials on the edges topic, keyed by edge id → the edge
 * registry, per-minute edge statistics and posture findings in ClickHouse) and `sla` (the edges
 * topic → burn rates per edge and SLI in ClickHouse, burn-rate alerts on the alerts topic),
 * `anomaly` (the edges topic → robust z-scores of latency, error rate and volume per edge and
 * minute, anomaly alerts) and `alerting` (the alerts topic → signed webhooks, the alert log).
 * `chainwatch start` runs them all in one process. Traces and logs take the same path, each on its own topic,
 * consumer group and table.
 */
import { applyAttributeLimits, type AttributeLimitCounts } from '../collector/attribute-limits.js';
import { ApiKeyAuth, loadTls, stampTenant, type Caller } from '../collector/auth.js';
import type { AnsweredRequest, ExportOutcome } from '../collector/export-outcome.js';
import { validateLogs, validateTraces } from '../collector/validate-records.js';
import { startOtlpGrpcReceiver, type OtlpGrpcReceiver } from '../collector/otlp-grpc-receiver.js';
import { startOtlpHttpReceiver, type OtlpHttpReceiver } from '../collector/otlp-http-receiver.js';
import { createLogPublisher, createTracePublisher } from '../collector/otlp-publisher.js';
import { stripReservedAttributes, type AttributedRecord } from '../collector/reserved-attributes.js';
import { migrate, openClickHouse, type ClickHouse } from '../processors/storage/clickhouse.js';
import { decodeLogMessages, decodeSpanMessages, LogStorageStage, StorageStage } from '../processors/storage/storage-stage.js';
import { decodeEdgeMessages, EdgeRegistryStage } from '../processors/inventory/edge-registry-stage.js';
import { InventoryStage } from '../processors/inventory/inventory-stage.js';
import { SlaStage } from '../processors/sla/sla-stage.js';
import { AnomalyStage } from '../processors/anomaly/anomaly-stage.js';
import { AlertingStage, decodeAlertMessages } from '../processors/alerting/alerting-stage.js';
import { transcodeSpanMessages } from '../processors/storage/span-transcoder.js';
import { decodeFindingMessages, FindingsStorageStage } from '../processors/storage/findings-stage.js';
import { RedactionStage } from '../processors/redaction/redaction-stage.js';
import type { Redactor } from '../processors/redaction/types.js';
import { fingerprintKey } from './fingerprint-key.js';
import type { Config, StorageStageConfig } from '../schemas/config.js';
import { countRecords, type ResourceGroup, type ScopeGroup, type SignalLayout } from '../schemas/otlp-common.js';
import { LOGS_LAYOUT, type LogsData } from '../schemas/otlp-logs.js';
import { TRACES_LAYOUT, type TracesData } from '../schemas/otlp-traces.js';
import { startAdminServer, type AdminServer, type ReadinessCheck } from './admin-server.js';
import type { Bus } from './bus.js';
import { KafkaBus } from './kafka-bus.js';
import type { Logger } from './logger.js';
import { MemoryBus } from './memory-bus.js';
import { PipelineMetrics } from './metrics.js';
import { startSelfTracing } from './self-tracing.js';
import { errorSummary } from './errors.js';
import { runConsumerStage, type BatchDecoder, type RunningStage } from './stage-runner.js';
import type { Stage } from './stage.js';

/** Every role: what `chainwatch start` runs in one process. */
export const ALL_ROLES = ['collector', 'storage', 'inventory', 'sla', 'anomaly', 'alerting'] as const;
export type Role = (typeof ALL_ROLES)[number];

/** Consumer group suffixes: one group per consuming stage. */
type ConsumerName = Role | 'logs-storage' | 'findings-storage' | 'inventory-edges';

export interface Chainwatch {
  /** The OTLP/HTTP base URL, when the collector role runs here. */
  readonly otlpHttpUrl: string | null;
  /** What the attribute limits dropped and truncated since start (collector role). */
  readonly attributeLimitCounts: Readonly<AttributeLimitCounts>;
  /** `host:port` of the OTLP/gRPC receiver, when this process runs the collector with gRPC on. */
  readonly otlpGrpcAddress: string | null;
  readonly bus: Bus;
  readonly clickhouse: ClickHouse | null;
  readonly stages: readonly RunningStage[];
  /** The collector's redactor (null when redaction is off or the collector runs elsewhere). */
  readonly redactor: Redactor | null;
  /** Base URL of the admin port (/healthz, /readyz, /metrics), when it is enabled. */
  readonly adminUrl: string | null;
  readonly metrics: PipelineMetrics;
  /** The inventory's edge owner, when the inventory role runs here. */
  readonly edgeRegistry: EdgeRegistryStage | null;
  /** Graceful stop; safe to call twice. */
  stop(): Promise<void>;
}

/** The consumer group of a role: `<group_prefix>-<role>`. */
export function consumerGroup(config: Config, role: ConsumerName): string {
  return `${config.bus.group_prefix}-${role}`;
}

export function createBus(config: Config, logger: Logger): Bus {
  if (config.bus.kind === 'kafka') {
    const k = config.bus.kafka!;
    return new KafkaBus({ brokers: k.brokers, clientId: k.client_id, requestTimeoutMs: k.request_timeout_ms, sessionTimeoutMs: k.session_timeout_ms, logger });
  }
  // Alert events are delivered to webhooks, which may be retried for minutes: their publish does
  // not wait for that, or a webhook outage would hold up the acknowledgement of telemetry.
  return new MemoryBus({ maxPendingMessages: config.bus.memory.max_pending_messages, detachedTopics: [config.bus.topics.alerts] });
}


async function ensureKafkaTopics(bus: KafkaBus, config: Config): Promise<string[]> {
  const k = config.bus.kafka!;
  const { spans, logs, findings, edges, alerts } = config.bus.topics;
  return bus.ensureTopics([spans, logs, findings, edges, alerts], { partitions: k.partitions, replicationFactor: k.replication_factor, retentionMs: k.retention_ms });
}

export interface MigrateReport {
  database: string;
  applied: string[];
  alreadyApplied: string[];
  topicsCreated: string[];
}

/** `chainwatch migrate`: ClickHouse schema and, on Kafka, the topics. Idempotent. */
export async function migrateAll(config: Config, logger: Logger): Promise<MigrateReport> {
  const clickhouse = await openClickHouse(config.clickhouse);
  let report: MigrateReport;
  try {
    const result = await migrate(clickhouse);
    const name = (m: { version: number; name: string }): string => `${m.version} ${m.name}`;
    report = { database: clickhouse.database, applied: result.applied.map(name), alreadyApplied: result.alreadyApplied.map(name), topicsCreated: [] };
  } finally {
    await clickhouse.close();
  }
  if (config.bus.kind === 'kafka') {
    const bus = createBus(config, logger) as KafkaBus;
    try {
      report.topicsCreated = await ensureKafkaTopics(bus, config);
    } finally {
      await bus.shutdown();
    }
  }
  return report;
}

/** Once a minute, when they changed and are not all zero: counts since start (never any values). */
function logCountsWhenChanged(read: () => Record<string, number>, log: (counts: Record<string, number>) => void, everyMs = 60_000): NodeJS.Timeout {
  let last = '';
  const timer = setInterval(() => {
    const counts = Object.fromEntries(Object.entries(read()).filter(([, n]) => n > 0));
    const line = JSON.stringify(counts);
    if (line !== last && line !== '{}') log(counts);
    last = line;
  }, everyMs);
  timer.unref();
  return timer;
}

const logRedactionCounts = (redactor: Redactor, logger: Logger): NodeJS.Timeout =>
  logCountsWhenChanged(() => redactor.counts, (counts) => logger.info({ matchesByFamily: counts }, 'redaction matches since start'));

const logLimitCounts = (counts: AttributeLimitCounts, logger: Logger): NodeJS.Timeout =>
  logCountsWhenChanged(() => ({ ...counts }), (c) => logger.info(c, 'attribute limits applied since start'));

export async function startChainwatch(config: Config, logger: Logger, roles: readonly Role[] = ALL_ROLES): Promise<Chainwatch> {
  const bus = createBus(config, logger);
  let clickhouse: ClickHouse | null = null;
  const stages: RunningStage[] = [];
  let receiver: OtlpHttpReceiver | null = null;
  let grpcReceiver: OtlpGrpcReceiver | null = null;
  let redaction: RedactionStage | null = null;
  let edgeRegistry: EdgeRegistryStage | null = null;
  let sla: SlaStage | null = null;
  let alerting: AlertingStage | null = null;
  let anomaly: AnomalyStage | null = null;
  let summaryTimer: NodeJS.Timeout | undefined;
  let limitsTimer: NodeJS.Timeout | undefined;
  const limitCounts: AttributeLimitCounts = { attributesDropped: 0, valuesTruncated: 0 };
  const metrics = new PipelineMetrics();
  /** Every role but the collector reads or writes ClickHouse. */
  const needsClickHouse = roles.some((r) => r !== 'collector');
  const selfTracing = startSelfTracing(config, roles);
  let admin: AdminServer | null = null;

  const stop = async (): Promise<void> => {
    admin?.markStopping();
    clearInterval(summaryTimer);
    clearInterval(limitsTimer);
    // Half the shutdown budget for the receivers to answer what they hold; the rest is for the
    // stages to finish their batches and for the bus to flush.
    const drainMs = (config.shutdown_timeout_s * 1000) / 2;
    await Promise.all([receiver?.close(drainMs), grpcReceiver?.close(drainMs)]);
    await Promise.all(stages.map((s) => s.stop()));
    await bus.shutdown();
    await clickhouse?.close();
    await selfTracing.shutdown().catch((err: unknown) => logger.warn({ err: errorSummary(err) }, 'self-tracing export failed at shutdown'));
    await admin?.close();
  };

  try {
    metrics.watch({
      bus,
      stages: () => stages,
      redactionMatches: () => redaction?.redactor.counts ?? {},
      attributeLimits: () => limitCounts,
      edgeRegistry: () => edgeRegistry,
      sla: () => sla,
      alerting: () => alerting,
      anomaly: () => anomaly,
    });
    if (config.admin.enabled) {
      // First, so liveness answers while the rest starts; readiness waits for what the roles need.
      const checks: ReadinessCheck[] = [{ name: 'bus', check: () => bus.ping() }];
      if (needsClickHouse) {
        checks.push({
          name: 'clickhouse',
          check: async () => {
            if (!clickhouse) throw new Error('not connected yet');
            const answer = await clickhouse.client.ping();
            if (!answer.success) throw answer.error;
          },
        });
      }
      admin = await startAdminServer({ host: config.admin.host, port: config.admin.port, metrics, checks, logger });
    }
    await bus.start();
    if (bus instanceof KafkaBus) await ensureKafkaTopics(bus, config);
    if (needsClickHouse) {
      clickhouse = await openClickHouse(config.clickhouse);
      clickhouse.onInsert = (table, rows, seconds, ok) => metrics.inserted(table, rows, seconds, ok);
      await migrate(clickhouse);
    }
    // Each consuming stage reads its topic as its own consumer group.
    const consume = <In>(topic: string, name: ConsumerName, stage: Stage<In>, decode: BatchDecoder<In>, settings: StorageStageConfig): Promise<RunningStage> =>
      runConsumerStage({
        bus,
        topic,
        group: consumerGroup(config, name),
        stage,
        decode,
        maxBatchMessages: settings.batch_size,
        maxWaitMs: settings.max_wait_ms,
        retryInitialMs: settings.retry_initial_ms,
        retryMaxMs: settings.retry_max_ms,
        // On Kafka a crashed worker's batch is redelivered elsewhere: intents keep its batch id.
        intents: bus instanceof KafkaBus ? bus.intents : undefined,
        selfTracing,
        logger,
      });
    if (roles.includes('storage')) {
      const ch = clickhouse!;
      const storage = config.stages.storage;
      stages.push(
        await consume(config.bus.topics.spans, 'storage', new StorageStage({ clickhouse: ch }), transcodeSpanMessages, storage),
        await consume(config.bus.topics.logs, 'logs-storage', new LogStorageStage({ clickhouse: ch }), decodeLogMessages, storage),
        await consume(config.bus.topics.findings, 'findings-storage', new FindingsStorageStage({ clickhouse: ch }), decodeFindingMessages, storage),
      );
    }
    if (roles.includes('alerting')) {
      // Before the roles that publish alerts: in-process, what is published to a topic no group
      // reads is dropped.
      alerting = new AlertingStage({ clickhouse: clickhouse!, config: config.stages.alerting, logger });
      stages.push(await consume(config.bus.topics.alerts, 'alerting', alerting, decodeAlertMessages, config.stages.alerting));
    }
    if (roles.includes('inventory')) {
      const inventory = config.stages.inventory;
      // The edge owner subscribes first: in-process, the partials published by the first step
      // need a consumer to be durable.
      edgeRegistry = new EdgeRegistryStage({ clickhouse: clickhouse!, longLivedCredentialS: inventory.long_lived_credential_s, maxTrackedEdges: inventory.max_tracked_edges, alertsTopic: config.bus.topics.alerts });
      stages.push(
        await consume(config.bus.topics.edges, 'inventory-edges', edgeRegistry, decodeEdgeMessages, inventory),
        await consume(config.bus.topics.spans, 'inventory', new InventoryStage({ edgesTopic: config.bus.topics.edges }), decodeSpanMessages, inventory),
      );
    }
    if (roles.includes('sla')) {
      sla = new SlaStage({ clickhouse: clickhouse!, config: config.stages.sla, alertsTopic: config.bus.topics.alerts, logger });
      stages.push(await consume(config.bus.topics.edges, 'sla', sla, decodeEdgeMessages, config.stages.sla));
    }
    if (roles.includes('anomaly')) {
      anomaly = new AnomalyStage({ clickhouse: clickhouse!, config: config.stages.anomaly, alertsTopic: config.bus.topics.alerts, logger });
      stages.push(await consume(config.bus.topics.edges, 'anomaly', anomaly, decodeEdgeMessages, config.stages.anomaly));
    }
    if (roles.includes('collector')) {
      redaction = config.stages.redaction.enabled
        ? new RedactionStage({ config: config.stages.redaction, hmacKey: await fingerprintKey(config, logger), findingsTopic: config.bus.topics.findings })
        : null;
      if (!redaction) logger.warn('redaction is disabled (stages.redaction.enabled: false): secrets in telemetry will be stored as sent');
      else summaryTimer = logRedactionCounts(redaction.redactor, logger);
      // Inline stages first (they rewrite the request in place), then the records and side
      // outputs are published together; the request is acknowledged once all of them are durable.
      const accept =
        <D extends TracesData | LogsData, R extends ResourceGroup, S extends ScopeGroup, I extends AttributedRecord>(
          signal: 'traces' | 'logs',
          layout: SignalLayout<D, R, S, I>,
          validate: (data: D) => ExportOutcome,
          publish: (data: D) => Promise<void>,
        ) =>
        (data: D, caller: Caller | null): Promise<ExportOutcome> =>
          selfTracing.span(`ingest ${signal}`, { 'otlp.signal': signal }, async (span) => {
            const received = countRecords(layout, data);
            // Records that cannot be stored are refused (partial_success); the rest go on.
            const outcome = validate(data);
            // validate removes exactly the records it refuses.
            const kept = received - outcome.rejected;
            span?.setAttributes({ 'otlp.records.received': received, 'otlp.records.accepted': kept, 'otlp.records.rejected': outcome.rejected });
            if (kept === 0) {
              metrics.records(signal, received, 0, outcome.reasons);
              return outcome;
            }
            stripReservedAttributes(layout, data);
            // The tenant label comes from the API key alone; whatever a client sent under it goes.
            stampTenant(layout, data, caller?.tenant);
            applyAttributeLimits(layout, data, attributeLimits, limitCounts);
            const output = redaction ? await redaction.process(data) : {};
            await Promise.all([publish(data), ...(output.publish ?? []).map((p) => bus.publish(p.topic, p.messages))]);
            metrics.records(signal, received, kept, outcome.reasons);
            return outcome;
          });
      const publishing = { bus, traceKeyBuckets: config.bus.trace_key_buckets };
      const attributeLimits = { maxAttributes: config.collector.limits.max_attributes, maxValueLength: config.collector.limits.max_attribute_value_length };
      const handlers = {
        onTraces: accept('traces', TRACES_LAYOUT, validateTraces, createTracePublisher({ ...publishing, topic: config.bus.topics.spans })),
        onLogs: accept('logs', LOGS_LAYOUT, validateLogs, createLogPublisher({ ...publishing, topic: config.bus.topics.logs })),
        onAnswered: (a: AnsweredRequest) => metrics.answered(a),
        logger,
      };
      const { limits } = config.collector;
      const tls = config.collector.tls ? loadTls(config.collector.tls) : null;
      const auth = new ApiKeyAuth(config.collector.auth);
      const shared = { maxInflightBytes: config.collector.max_inflight_bytes, maxRecordsPerRequest: limits.max_records_per_request, auth, tls, ...handlers };
      receiver = await startOtlpHttpReceiver({
        host: config.collector.http.host,
        port: config.collector.http.port,
        maxBodyBytes: limits.max_body_bytes,
        headerTimeoutMs: limits.header_timeout_ms,
        requestTimeoutMs: limits.request_timeout_ms,
        ...shared,
      });
      if (config.collector.grpc.enabled) {
        grpcReceiver = await startOtlpGrpcReceiver({
          host: config.collector.grpc.host,
          port: config.collector.grpc.port,
          maxMessageBytes: limits.max_body_bytes,
          maxConnectionAgeMs: config.collector.grpc.max_connection_age_ms,
          callGraceMs: limits.request_timeout_ms,
          ...shared,
        });
      }
      limitsTimer = logLimitCounts(limitCounts, logger);
    }
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }

  let stopping: Promise<void> | null = null;
  return {
    otlpHttpUrl: receiver?.url ?? null,
    otlpGrpcAddress: grpcReceiver?.address ?? null,
    attributeLimitCounts: limitCounts,
    bus,
    clickhouse,
    stages,
    redactor: redaction?.redactor ?? null,
    adminUrl: admin?.url ?? null,
    metrics,
    edgeRegistry,
    stop: () => (stopping ??= stop()),
  };
}
