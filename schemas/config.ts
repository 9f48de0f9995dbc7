/**
 * The chainwatch configuration file: one YAML document, validated by this schema at start-up.
 *
 * Every default lives here, unknown keys are rejected (`.strict()`), and cross-field rules are
 * checked in `superRefine`, so a config that parses is complete and consistent. With no file at
 * all, `parseConfig({})` gives the embedded default: in-process bus, embedded ClickHouse engine.
 */
import { z } from 'zod';
import { checkRetryRange, consumerStageFields, describe, positiveInt } from './config-fields.js';
import { alertingStageConfigSchema } from './alerting-config.js';
import { anomalyStageConfigSchema } from './anomaly-config.js';
import { demoConfigSchema } from './demo-config.js';
import { LATENCY_BUCKET_BOUNDS_MS } from './edges.js';
import { redactionConfigSchema } from './redaction-config.js';

const port = z
  .int({ error: (iss) => `expected a port number (1-65535), got ${describe(iss.input)}` })
  .min(0, { error: (iss) => `expected a port number (1-65535), got ${describe(iss.input)}` })
  .max(65535, { error: (iss) => `expected a port number (1-65535), got ${describe(iss.input)}` });

const nonEmpty = (what: string) =>
  z.string({ error: (iss) => `expected ${what}, got ${describe(iss.input)}` }).min(1, { error: `expected ${what}, got ""` });

/** Kafka topic names: the broker's own rule (legal characters, at most 249). */
const topicName = z
  .string({ error: (iss) => `expected a topic name, got ${describe(iss.input)}` })
  .regex(/^[a-zA-Z0-9._-]{1,249}$/, {
    error: (iss) => `expected a Kafka topic name (letters, digits, '.', '_', '-'; 1-249 characters), got ${describe(iss.input)}`,
  });

/** ClickHouse identifiers we interpolate into DDL: kept to a safe, unquoted subset. */
const identifier = z
  .string({ error: (iss) => `expected an identifier, got ${describe(iss.input)}` })
  .regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/, {
    error: (iss) => `expected an identifier (letters, digits, '_'; not starting with a digit), got ${describe(iss.input)}`,
  });

const hostPort = z
  .string({ error: (iss) => `expected host:port, got ${describe(iss.input)}` })
  .regex(/^[^\s:]+:\d{1,5}$/, { error: (iss) => `expected host:port, got ${describe(iss.input)}` });

export const collectorConfigSchema = z
  .strictObject({
    http: z
      .strictObject({
        /** Address the OTLP/HTTP receiver binds. @default "127.0.0.1" */
        host: nonEmpty('a host name or address').default('127.0.0.1'),
        /** @default 4318 (the OTLP/HTTP port) */
        port: port.default(4318),
      })
      .prefault({}),
    grpc: z
      .strictObject({
        /** Serve OTLP/gRPC (TraceService/Export, LogsService/Export). @default true */
        enabled: z.boolean({ error: (iss) => `expected true or false, got ${describe(iss.input)}` }).default(true),
        /** Address the OTLP/gRPC receiver binds. @default "127.0.0.1" */
        host: nonEmpty('a host name or address').default('127.0.0.1'),
        /** @default 4317 (the OTLP/gRPC port) */
        port: port.default(4317),
        /**
         * A connection is closed after this long (GOAWAY; calls in flight get
         * limits.request_timeout_ms more): a client trickling a message cannot hold one for longer,
         * and long-lived exporters spread over the collectors again. @default 300000 (5 minutes)
         */
        max_connection_age_ms: z
          .int({ error: (iss) => `expected milliseconds, got ${describe(iss.input)}` })
          .min(1000, { error: (iss) => `expected at least 1000 ms, got ${describe(iss.input)}` })
          .default(300_000),
      })
      .prefault({}),
    /**
     * Decompressed request bytes in flight (decoding, redaction, publishing) before further
     * requests are refused with 429 + Retry-After: bounds the collector's memory under overload
     * whatever the number of connections. @default 16777216 (16 MiB)
     */
    max_inflight_bytes: positiveInt().default(16 * 1024 * 1024),
    /** API keys: with auth on, a request without a valid key is refused (401/403) before its body is read. */
    auth: z
      .strictObject({
        /** @default false */
        enabled: z.boolean({ error: (iss) => `expected true or false, got ${describe(iss.input)}` }).default(false),
        /** `authorization` (value `Bearer <key>`), or the name of a header (gRPC: metadata key) carrying the raw key. @default "authorization" */
        header: z
          .string({ error: (iss) => `expected a header name, got ${describe(iss.input)}` })
          .regex(/^[A-Za-z0-9-]+$/, { error: (iss) => `expected a header name (letters, digits, dashes), got ${describe(iss.input)}` })
          .default('authorization'),
        keys: z
          .array(
            z.strictObject({
              /** Shown in logs and in 403 messages; never the key. */
              name: nonEmpty('a key name'),
              /** Hex SHA-256 of the key (`chainwatch hash-key` prints it): the only form a key is kept in. */
              sha256: z.string({ error: (iss) => `expected a hex SHA-256 digest, got ${describe(iss.input)}` }).regex(/^[0-9a-fA-F]{64}$/, {
                error: (iss) => `expected 64 hex digits (the SHA-256 of the key, from chainwatch hash-key), got ${describe(iss.input)}`,
              }),
              /** Stamped on everything this key sends, as the resource attribute chainwatch.tenant. */
              tenant: nonEmpty('a tenant label').optional(),
              /** A revoked key is refused with 403. @default false */
              revoked: z.boolean({ error: (iss) => `expected true or false, got ${describe(iss.input)}` }).default(false),
            }),
          )
          .default([]),
      })
      .prefault({})
      .superRefine((auth, ctx) => {
        if (auth.enabled && auth.keys.length === 0) ctx.addIssue({ code: 'custom', path: ['keys'], message: 'auth is enabled but no keys are configured' });
        const seen = new Map<string, number>();
        auth.keys.forEach((k, i) => {
          for (const [what, value] of [['name', k.name], ['sha256', k.sha256.toLowerCase()]] as const) {
            const id = `${what}:${value}`;
            if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['keys', i, what], message: `duplicate ${what}: the same as keys[${seen.get(id)}]` });
            else seen.set(id, i);
          }
        });
      }),
    /** TLS for both receivers; with client_auth "require", mTLS (a client certificate signed by client_ca_file). */
    tls: z
      .strictObject({
        cert_file: nonEmpty('a file path'),
        key_file: nonEmpty('a file path'),
        client_ca_file: nonEmpty('a file path').optional(),
        /** @default "none" */
        client_auth: z.enum(['none', 'require'], { error: (iss) => `expected "none" or "require", got ${describe(iss.input)}` }).default('none'),
      })
      .superRefine((tls, ctx) => {
        if (tls.client_auth === 'require' && tls.client_ca_file === undefined) {
          ctx.addIssue({ code: 'custom', path: ['client_ca_file'], message: 'required when client_auth is "require" (the CA that signs client certificates)' });
        }
      })
      .optional(),
    /** What one request may hold, and how long a client may take to send it. */
    limits: z
      .strictObject({
        /** Largest request body, compressed and again decompressed (bombs stop while inflating) → 413. @default 20971520 (20 MiB) */
        max_body_bytes: positiveInt().default(20 * 1024 * 1024),
        /** Spans or log records in one request → 413 beyond it. @default 100000 */
        max_records_per_request: positiveInt().default(100_000),
        /** Attributes per resource, scope, span, event, link or log record; further ones are dropped and counted (as the SDKs' AttributeCountLimit). @default 128 */
        max_attributes: positiveInt().default(128),
        /** Characters of a string attribute value (and of each string in an array value); longer ones are truncated and counted. @default 16384 */
        max_attribute_value_length: positiveInt().default(16 * 1024),
        /** OTLP/HTTP: time a client has to send the request headers; then 408 and the connection closes. @default 10000 */
        header_timeout_ms: positiveInt().default(10_000),
        /** OTLP/HTTP: time a client has to send the whole request (headers and body); then 408. @default 30000 */
        request_timeout_ms: positiveInt().default(30_000),
      })
      .prefault({})
      .refine((l) => l.header_timeout_ms <= l.request_timeout_ms, { error: 'header_timeout_ms must not exceed request_timeout_ms', path: ['header_timeout_ms'] }),
  })
  .prefault({});

export const kafkaConfigSchema = z
  .strictObject({
    brokers: z.array(hostPort, { error: 'expected a list of host:port' }).min(1, { error: 'expected at least one broker' }),
    client_id: nonEmpty('a client id').default('chainwatch'),
    /** Partitions of each topic `chainwatch migrate` creates: they bound consumer parallelism. @default 6 */
    partitions: positiveInt().default(6),
    /** Replication factor of created topics (3 in production clusters). @default 1 */
    replication_factor: positiveInt().default(1),
    /** Producer: how long one publish may wait for the broker before it counts as failed. */
    request_timeout_ms: positiveInt().default(30_000),
    /** How long created topics keep messages (`retention.ms`); topics that exist keep theirs. @default 604800000 (7 days) */
    retention_ms: positiveInt().default(7 * 24 * 3600 * 1000),
    /**
     * Consumers: how long a worker may go silent before the group gives its partitions to the
     * others (a crashed worker's partitions move after this). At least the broker's
     * group.min.session.timeout.ms (6000 by default). @default 30000
     */
    session_timeout_ms: z
      .int({ error: (iss) => `expected milliseconds, got ${describe(iss.input)}` })
      .min(6000, { error: (iss) => `expected at least 6000 (the broker's group.min.session.timeout.ms default), got ${describe(iss.input)}` })
      .default(30_000),
  });

export const busConfigSchema = z
  .strictObject({
    /** `memory`: in-process queues (embedded); `kafka`: a real broker. @default "memory" */
    kind: z.enum(['memory', 'kafka'], { error: (iss) => `expected "memory" or "kafka", got ${describe(iss.input)}` }).default('memory'),
    /**
     * Spans and log records are grouped into this many key buckets by trace id (log records
     * outside a trace by service name); each bucket is one message key, so everything about a
     * trace lands on the same partition. @default 16
     */
    trace_key_buckets: positiveInt().max(4096, { error: 'expected at most 4096' }).default(16),
    /** Topic names, the same on either bus. */
    topics: z
      .strictObject({
        /** Redacted spans as OTLP protobuf `ExportTraceServiceRequest`, keyed by trace bucket. */
        spans: topicName.default('chainwatch.spans'),
        /** Redacted log records as OTLP protobuf `ExportLogsServiceRequest`, keyed like spans. */
        logs: topicName.default('chainwatch.logs'),
        /** Redaction findings as JSON lines, keyed by service. */
        findings: topicName.default('chainwatch.findings'),
        /** Call-edge partial aggregates as JSON lines, keyed by edge id (the inventory's repartition topic). */
        edges: topicName.default('chainwatch.edges'),
        /** Alert events (firing, resolved) from sla, anomaly and inventory, as JSON lines keyed by alert fingerprint. */
        alerts: topicName.default('chainwatch.alerts'),
      })
      .prefault({}),
    /** Each consuming stage reads as group `<prefix>-<stage>` (for example chainwatch-storage). @default "chainwatch" */
    group_prefix: nonEmpty('a consumer group prefix').default('chainwatch'),
    memory: z
      .strictObject({
        /** Messages waiting for consumers before a publish is refused (backpressure). @default 10000 */
        max_pending_messages: positiveInt().default(10_000),
      })
      .prefault({}),
    kafka: kafkaConfigSchema.optional(),
  })
  .prefault({});

export const clickhouseConfigSchema = z
  .strictObject({
    /** `embedded`: the ClickHouse engine in-process (chdb); `server`: a ClickHouse server URL. */
    kind: z.enum(['embedded', 'server'], { error: (iss) => `expected "embedded" or "server", got ${describe(iss.input)}` }).default('embedded'),
    /** Data directory of the embedded engine. @default ".chainwatch/clickhouse" */
    path: nonEmpty('a directory path').default('.chainwatch/clickhouse'),
    /** Server mode: HTTP(S) URL of ClickHouse. */
    url: z.url({ error: (iss) => `expected a URL, got ${describe(iss.input)}` }).optional(),
    username: z.string().default('default'),
    password: z.string().default(''),
    /** Database holding chainwatch's tables; created by `chainwatch migrate`. @default "chainwatch" */
    database: identifier.default('chainwatch'),
    /**
     * Server mode: the name of a ClickHouse cluster (from its remote_servers). DDL then runs
     * ON CLUSTER with Replicated tables behind Distributed ones (schemas/clickhouse/cluster-ddl.ts).
     */
    cluster: identifier.optional(),
  })
  .prefault({})
  .superRefine((ch, ctx) => {
    if (ch.cluster !== undefined && ch.kind !== 'server') {
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'only for kind: server (the embedded engine is one node)' });
    }
  });

const consumer = consumerStageFields();

export const storageStageConfigSchema = z.strictObject(consumer).superRefine(checkRetryRange).prefault({});

/** The inventory: call edges, their per-minute statistics and posture findings. */
export const inventoryStageConfigSchema = z
  .strictObject({
    ...consumer,
    /** A token valid longer than this (exp − iat) raises a long_lived_credential finding. @default 86400 (one day) */
    long_lived_credential_s: positiveInt().default(86_400),
    /** Call edges whose state one worker keeps in memory; more are reloaded from ClickHouse when seen. @default 100000 */
    max_tracked_edges: positiveInt().default(100_000),
  })
  .superRefine(checkRetryRange)
  .prefault({});

const ratio = z
  .number({ error: (iss) => `expected a share between 0 and 1 (e.g. 0.999), got ${describe(iss.input)}` })
  .gt(0, { error: (iss) => `expected a share between 0 and 1 (e.g. 0.999), got ${describe(iss.input)}` })
  .lt(1, { error: (iss) => `expected a share between 0 and 1 (e.g. 0.999), got ${describe(iss.input)}` });

const latencyBound = z.union(
  LATENCY_BUCKET_BOUNDS_MS.map((b) => z.literal(b)),
  { error: (iss) => `expected one of the latency histogram's bounds (${LATENCY_BUCKET_BOUNDS_MS.join(', ')} ms), got ${describe(iss.input)}` },
);

/** What an edge promises: a share of calls without error, and a share of calls at or under a latency. */
const objectiveFields = {
  /** Share of calls that must succeed (span status not ERROR). */
  availability: ratio,
  /** The latency threshold, one of the histogram bounds (the SLI is a ratio of counts, not a percentile). */
  latency_ms: latencyBound,
  /** Share of calls that must take at most latency_ms. */
  latency_target: ratio,
};

/** SLA budgets per call edge: objectives, burn rates over multiple windows, alerts. */
export const slaStageConfigSchema = z
  .strictObject({
    ...consumer,
    /** The objective of every edge no entry of `objectives` matches; null: such edges have none. */
    default_objective: z.strictObject(objectiveFields).nullable().default({ availability: 0.995, latency_ms: 1000, latency_target: 0.99 }),
    /** Objectives for chosen edges; the first entry whose given fields all match wins. */
    objectives: z
      .array(
        z.strictObject({
          tenant: z.string().optional(),
          service: z.string().optional(),
          peer: z.string().optional(),
          ...objectiveFields,
        }),
      )
      .default([]),
    /** Windows with fewer calls than this never page: a handful of errors on a quiet edge is not an outage. @default 20 */
    min_calls: positiveInt().default(20),
  })
  .superRefine(checkRetryRange)
  .prefault({});

/** The admin port: /healthz, /readyz and Prometheus /metrics. */
export const adminConfigSchema = z
  .strictObject({
    /** @default true */
    enabled: z.boolean({ error: (iss) => `expected true or false, got ${describe(iss.input)}` }).default(true),
    /** @default "127.0.0.1" */
    host: nonEmpty('a host name or address').default('127.0.0.1'),
    /** @default 9464 */
    port: port.default(9464),
  })
  .prefault({});

/** chainwatch's own spans (ingest requests, stage batches), sent over OTLP/HTTP to another collector. */
export const selfTracingConfigSchema = z
  .strictObject({
    /** @default false */
    enabled: z.boolean({ error: (iss) => `expected true or false, got ${describe(iss.input)}` }).default(false),
    /** OTLP/HTTP base URL of the collector that receives them (`/v1/traces` is appended); never this one. */
    endpoint: z.url({ error: (iss) => `expected a URL, got ${describe(iss.input)}` }).optional(),
    /** @default "chainwatch" */
    service_name: nonEmpty('a service name').default('chainwatch'),
    /** Share of traces kept (head sampling by trace id). @default 1 */
    sample_ratio: z
      .number({ error: (iss) => `expected a number from 0 to 1, got ${describe(iss.input)}` })
      .min(0, { error: (iss) => `expected a number from 0 to 1, got ${describe(iss.input)}` })
      .max(1, { error: (iss) => `expected a number from 0 to 1, got ${describe(iss.input)}` })
      .default(1),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    collector: collectorConfigSchema,
    admin: adminConfigSchema,
    self_tracing: selfTracingConfigSchema,
    bus: busConfigSchema,
    clickhouse: clickhouseConfigSchema,
    stages: z
      .strictObject({
        redaction: redactionConfigSchema,
        storage: storageStageConfigSchema,
        inventory: inventoryStageConfigSchema,
        sla: slaStageConfigSchema,
        anomaly: anomalyStageConfigSchema,
        alerting: alertingStageConfigSchema,
      })
      .prefault({}),
    /** The demo estate: simulated services and their sub-processors, with scheduled incidents. */
    demo: demoConfigSchema,
    /** Seconds a graceful shutdown may take before the process gives up. @default 30 */
    shutdown_timeout_s: positiveInt().default(30),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.bus.kind === 'kafka' && !cfg.bus.kafka) {
      ctx.addIssue({ code: 'custom', path: ['bus', 'kafka'], message: 'required when bus.kind is "kafka" (give at least bus.kafka.brokers)' });
    }
    const self = cfg.self_tracing;
    if (self.enabled && !self.endpoint) {
      ctx.addIssue({ code: 'custom', path: ['self_tracing', 'endpoint'], message: 'required when self_tracing.enabled is true (the OTLP/HTTP URL of another collector)' });
    }
    if (self.endpoint) {
      // Never into its own ingest: its spans would be traced again as they are received.
      const url = new URL(self.endpoint);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      const local = ['localhost', '127.0.0.1', '[::1]', '0.0.0.0', cfg.collector.http.host, cfg.collector.grpc.host].includes(url.hostname);
      const ownPorts = [cfg.collector.http.port, ...(cfg.collector.grpc.enabled ? [cfg.collector.grpc.port] : [])].filter((p) => p !== 0);
      if (local && ownPorts.includes(port)) {
        ctx.addIssue({
          code: 'custom',
          path: ['self_tracing', 'endpoint'],
          message: `${self.endpoint} is this collector's own receiver: its spans would be ingested by itself; send them to another collector`,
        });
      }
    }
    if (cfg.clickhouse.kind === 'server' && !cfg.clickhouse.url) {
      ctx.addIssue({ code: 'custom', path: ['clickhouse', 'url'], message: 'required when clickhouse.kind is "server"' });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;
export type ClickHouseConfig = z.infer<typeof clickhouseConfigSchema>;
export type StorageStageConfig = z.infer<typeof storageStageConfigSchema>;
export type InventoryStageConfig = z.infer<typeof inventoryStageConfigSchema>;
export type SlaStageConfig = z.infer<typeof slaStageConfigSchema>;
export type { AlertingStageConfig } from './alerting-config.js';
export type { AnomalyStageConfig } from './anomaly-config.js';
export type { DemoConfig } from './demo-config.js';
