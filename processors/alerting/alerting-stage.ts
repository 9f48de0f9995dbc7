/**
 * The alerting stage: delivers the alert events of the alerts topic to every configured webhook
 * receiver (Alertmanager-shaped body, Standard Webhooks signature: webhook.ts) and records each
 * outcome in `chainwatch_alert_log`, one row per event and receiver:
 *
 * - `delivered`: a 2xx answer;
 * - `failed`: a 4xx other than 408/429 (not retried: the same request would be refused again),
 *   410 Gone (and the receiver is disabled until the process restarts, as Standard Webhooks asks),
 *   or still 408, 429, 5xx, a network error or a timeout after `max_attempts` requests, retried
 *   with capped full-jitter backoff (a Retry-After in seconds is honoured, up to the cap);
 * - `below_min_severity`: not sent, the event is below the receiver's min_severity;
 * - `receiver_disabled`: not sent, the receiver answered 410 earlier.
 *
 * State: a bounded set of the (event, receiver) pairs this process logged (least recently logged
 * evicted first), never the source of truth: a pair missing from it is looked up in the alert log
 * (one query per batch) before anything is sent, so after a restart, a rebalance or an eviction a
 * replayed event is not delivered twice. Also the receivers disabled by a 410 (for the life of the
 * process), and the settled but not yet logged outcomes of the current batch, so a batch retried
 * because its log insert failed is logged without sending again.
 *
 * Guarantees: per batch, deliveries first, then one idempotent insert of the log rows (token: the
 * batch id and the table), then the in-memory set. A crash before the insert sends the batch's
 * deliveries again (at least once): receivers drop the copies by `webhook-id`, the event id. The
 * events of one alert (fingerprint) reach a receiver in batch order; different receivers, and
 * different alerts for one receiver, are served concurrently. A shutdown (ctx.signal) aborts
 * requests and backoff sleeps at once and throws, so the runner redelivers the batch.
 */
import type { Logger } from '../../pipeline/logger.js';
import { backoffDelay, ShutdownError, sleep } from '../../pipeline/errors.js';
import type { Stage, StageContext } from '../../pipeline/stage.js';
import type { BatchDecoder } from '../../pipeline/stage-runner.js';
import type { AlertingStageConfig, ReceiverConfig } from '../../schemas/alerting-config.js';
import { decodeAlertEvents, type AlertEvent } from '../../schemas/alerts.js';
import { jsonLinesDecoder } from '../../schemas/json-lines.js';
import type { ClickHouse } from '../storage/clickhouse.js';
import { assertTableExists, insertBatchRows, queryRows } from '../storage/clickhouse-insert.js';
import { dateTime64 } from '../storage/span-rows.js';
import { alertmanagerPayload, webhookHeaders, webhookSigningKey } from './webhook.js';

const DELIVERY_OUTCOMES = ['delivered', 'failed', 'below_min_severity', 'receiver_disabled'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** Each message is JSON lines of alert events; a malformed one is dropped with a reason. */
export const decodeAlertMessages: BatchDecoder<AlertEvent[]> = jsonLinesDecoder(decodeAlertEvents, 'malformed alert events');

const TABLE = 'chainwatch_alert_log';
const LOG_COLUMNS = [
  'Timestamp', 'EventId', 'Fingerprint', 'Status', 'Source', 'Rule', 'Severity', 'Summary', 'Tenant', 'ServiceName', 'PeerKind', 'Peer', 'EdgeId', 'StartsAt', 'Receiver', 'Delivery', 'Attempts', 'HttpStatus', 'Error',
] as const;

/** info < warning < critical. */
const SEVERITY_RANK: Readonly<Record<AlertEvent['severity'], number>> = { info: 0, warning: 1, critical: 2 };
/** Retried: the receiver may take the same request later. */
const RETRYABLE_STATUSES = new Set([408, 429]);

export interface AlertingStageOptions {
  clickhouse: ClickHouse;
  config: AlertingStageConfig;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Milliseconds since the epoch: signing timestamps and log times. @default Date.now */
  now?: () => number;
  logger: Logger;
  /** (event, receiver) pairs remembered as logged; older ones are looked up in the alert log again. @default 100000 */
  maxRememberedDeliveries?: number;
  /** Alerts (fingerprints) one receiver is sent at once. @default 4 */
  concurrencyPerReceiver?: number;
}

interface Receiver {
  config: ReceiverConfig;
  key: Buffer;
  /** Why it was disabled (a 410), or null while enabled. */
  disabledBy: string | null;
}

/** A settled delivery, as its log row says. */
interface Settled {
  delivery: DeliveryOutcome;
  attempts: number;
  httpStatus: number;
  error: string;
  atMs: number;
}

type AttemptResult = { kind: 'delivered'; status: number } | { kind: 'retry'; status: number; reason: string; retryAfterMs: number | null } | { kind: 'give-up'; status: number; reason: string };

export class AlertingStage implements Stage<AlertEvent[]> {
  readonly name = 'alerting';
  readonly #ch: ClickHouse;
  readonly #config: AlertingStageConfig;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #maxRemembered: number;
  readonly #concurrency: number;
  readonly #receivers: Receiver[];
  /** `eventId receiver` pairs already in the alert log; insertion order is recency order. */
  readonly #logged = new Set<string>();
  /** Outcomes settled in a batch whose log insert has not succeeded yet: reused when that batch is retried. */
  #unlogged: { batchId: string; rows: Map<string, Settled> } | null = null;
  /** Outcomes since start, by kind (metrics). */
  readonly deliveries: Record<DeliveryOutcome, number> = { delivered: 0, failed: 0, below_min_severity: 0, receiver_disabled: 0 };
  /** HTTP requests made since start, retries included. */
  attempts = 0;
  /** (event, receiver) pairs looked up in the alert log since start (a measure of rebuilds). */
  pairsLookedUp = 0;

  constructor(options: AlertingStageOptions) {
    this.#ch = options.clickhouse;
    this.#config = options.config;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger.child({ stage: this.name });
    this.#maxRemembered = options.maxRememberedDeliveries ?? 100_000;
    this.#concurrency = options.concurrencyPerReceiver ?? 4;
    // Keys decoded once, and a bad one fails here, at start-up.
    this.#receivers = options.config.receivers.map((config) => ({ config, key: webhookSigningKey(config.secret), disabledBy: null }));
  }

  /** The receivers a 410 disabled, by name. */
  disabledReceivers(): string[] {
    return this.#receivers.filter((r) => r.disabledBy !== null).map((r) => r.config.name);
  }

  async start(): Promise<void> {
    await assertTableExists(this.#ch, `${this.#ch.database}.${TABLE}`);
    if (this.#receivers.length === 0) this.#log.warn('no receivers configured (stages.alerting.receivers): alert events are read and dropped');
  }

  async process(input: AlertEvent[], ctx: StageContext): Promise<void> {
    if (input.length === 0 || this.#receivers.length === 0) return;
    const events = uniqueById(input);
    const unlogged = this.#unlogged?.batchId === ctx.batchId ? this.#unlogged.rows : new Map<string, Settled>();
    this.#unlogged = { batchId: ctx.batchId, rows: unlogged };

    // Which pairs are already in the log (or settled in an earlier attempt of this batch): memory
    // first, the alert log for the rest.
    const settledBefore = (key: string): boolean => this.#logged.has(key) || unlogged.has(key);
    const unknown = new Set<string>();
    for (const e of events) for (const r of this.#receivers) if (!settledBefore(pairKey(e.id, r.config.name))) unknown.add(e.id);
    const inLog = unknown.size > 0 ? await this.#lookUp([...unknown], ctx.signal) : new Set<string>();
    for (const key of inLog) this.#remember(key);

    // Per receiver, the events it still has to settle, in batch order.
    const work = this.#receivers.map((receiver) => ({
      receiver,
      events: events.filter((e) => {
        const key = pairKey(e.id, receiver.config.name);
        return !inLog.has(key) && !settledBefore(key);
      }),
    }));
    const settle = (event: AlertEvent, receiver: Receiver, outcome: Omit<Settled, 'atMs'>): void => {
      unlogged.set(pairKey(event.id, receiver.config.name), { ...outcome, atMs: this.#now() });
      this.deliveries[outcome.delivery]++;
    };
    const results = await Promise.allSettled(work.map(({ receiver, events: todo }) => this.#serve(receiver, todo, settle, ctx.signal, ctx.heartbeat)));
    if (ctx.signal.aborted) throw new ShutdownError();
    for (const r of results) if (r.status === 'rejected') throw r.reason;

    // Log rows: every pair settled in this batch (now or in an earlier attempt of it), in batch order.
    const rows: object[] = [];
    const keys: string[] = [];
    for (const e of events) {
      for (const r of this.#receivers) {
        const key = pairKey(e.id, r.config.name);
        const settled = unlogged.get(key);
        if (!settled) continue;
        rows.push(logRow(e, r.config.name, settled));
        keys.push(key);
      }
    }
    await insertBatchRows(this.#ch, TABLE, LOG_COLUMNS, rows, ctx);
    for (const key of keys) this.#remember(key);
    this.#unlogged = null;
    const failed = new Map<string, number>();
    for (const e of events) for (const r of this.#receivers) if (unlogged.get(pairKey(e.id, r.config.name))?.delivery === 'failed') failed.set(r.config.name, (failed.get(r.config.name) ?? 0) + 1);
    // One line per batch and receiver that had failures, never one per event.
    for (const [receiver, count] of failed) this.#log.warn({ receiver, failed: count, batch: ctx.batchId }, 'alert deliveries failed (see chainwatch_alert_log)');
  }

  async shutdown(): Promise<void> {}

  /** Settles `events` for one receiver: alerts (fingerprints) concurrently, the events of one alert in order. */
  async #serve(receiver: Receiver, events: AlertEvent[], settle: (e: AlertEvent, r: Receiver, o: Omit<Settled, 'atMs'>) => void, signal: AbortSignal, heartbeat?: () => Promise<void>): Promise<void> {
    const byFingerprint = new Map<string, AlertEvent[]>();
    for (const e of events) {
      const list = byFingerprint.get(e.fingerprint);
      if (list) list.push(e);
      else byFingerprint.set(e.fingerprint, [e]);
    }
    const queue = [...byFingerprint.values()];
    const worker = async (): Promise<void> => {
      for (let chain = queue.shift(); chain; chain = queue.shift()) {
        for (const event of chain) {
          if (signal.aborted) throw new ShutdownError();
          settle(event, receiver, await this.#deliver(event, receiver, signal, heartbeat));
        }
      }
    };
    const workers = Array.from({ length: Math.min(this.#concurrency, queue.length) }, worker);
    const results = await Promise.allSettled(workers);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  /** One event to one receiver, with its retries, to a settled outcome. Throws only on shutdown. */
  async #deliver(event: AlertEvent, receiver: Receiver, signal: AbortSignal, heartbeat?: () => Promise<void>): Promise<Omit<Settled, 'atMs'>> {
    const cfg = receiver.config;
    if (SEVERITY_RANK[event.severity] < SEVERITY_RANK[cfg.min_severity]) {
      return { delivery: 'below_min_severity', attempts: 0, httpStatus: 0, error: `severity ${event.severity} is below min_severity ${cfg.min_severity}` };
    }
    if (receiver.disabledBy !== null) return { delivery: 'receiver_disabled', attempts: 0, httpStatus: 0, error: `receiver disabled until restart: ${receiver.disabledBy}` };
    const body = JSON.stringify(alertmanagerPayload(event, cfg.name));
    for (let attempt = 1; ; attempt++) {
      const result = await this.#attempt(receiver, event.id, body, signal);
      if (result.kind === 'delivered') return { delivery: 'delivered', attempts: attempt, httpStatus: result.status, error: '' };
      if (result.kind === 'give-up') {
        if (result.status === 410) this.#disable(receiver, event.id);
        return { delivery: 'failed', attempts: attempt, httpStatus: result.status, error: result.reason };
      }
      if (attempt >= cfg.max_attempts) return { delivery: 'failed', attempts: attempt, httpStatus: result.status, error: `gave up after ${attempt} attempts: ${result.reason}` };
      const { delivery_initial_ms: initial, delivery_max_ms: cap } = this.#config;
      const delay = result.retryAfterMs !== null ? Math.min(result.retryAfterMs, cap) : backoffDelay(attempt - 1, initial, cap);
      if (!(await sleep(delay, signal))) throw new ShutdownError();
      // Retries can outlast the group's session timeout: the worker must stay a member meanwhile.
      await heartbeat?.().catch(() => {});
      // Another delivery to this receiver may have been answered 410 meanwhile.
      if (receiver.disabledBy !== null) return { delivery: 'receiver_disabled', attempts: attempt, httpStatus: result.status, error: `receiver disabled until restart: ${receiver.disabledBy}` };
    }
  }

  /** One request, classified. Throws only on shutdown. */
  async #attempt(receiver: Receiver, id: string, body: string, signal: AbortSignal): Promise<AttemptResult> {
    if (signal.aborted) throw new ShutdownError();
    const timeoutMs = receiver.config.timeout_ms;
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    const onShutdown = (): void => abort.abort();
    signal.addEventListener('abort', onShutdown, { once: true });
    this.attempts++;
    try {
      const res = await this.#fetch(receiver.config.url, {
        method: 'POST',
        headers: webhookHeaders(receiver.key, id, body, this.#now()),
        body,
        // A signed alert goes where it was configured to go, nowhere else.
        redirect: 'manual',
        signal: abort.signal,
      });
      // The answer's body is not needed: released so the connection can be reused.
      await res.body?.cancel().catch(() => {});
      const status = res.status;
      if (status >= 200 && status < 300) return { kind: 'delivered', status };
      if (status === 410) return { kind: 'give-up', status, reason: 'HTTP 410 Gone: receiver disabled until restart' };
      if (RETRYABLE_STATUSES.has(status) || status >= 500) return { kind: 'retry', status, reason: `HTTP ${status}`, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
      return { kind: 'give-up', status, reason: `HTTP ${status} (not retried)` };
    } catch (err) {
      if (signal.aborted) throw new ShutdownError();
      if (timedOut) return { kind: 'retry', status: 0, reason: `timed out after ${timeoutMs} ms`, retryAfterMs: null };
      return { kind: 'retry', status: 0, reason: networkReason(err), retryAfterMs: null };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onShutdown);
    }
  }

  #disable(receiver: Receiver, eventId: string): void {
    if (receiver.disabledBy !== null) return;
    receiver.disabledBy = `it answered 410 Gone to event ${eventId}`;
    this.#log.warn({ receiver: receiver.config.name }, 'receiver answered 410 Gone: disabled until restart, its alerts are logged as receiver_disabled');
  }

  /** The pairs among `ids` × receivers already in the alert log, in one query. */
  async #lookUp(ids: string[], signal: AbortSignal): Promise<Set<string>> {
    const receivers = this.#receivers.map((r) => r.config.name);
    const found = await queryRows<{ EventId: string; Receiver: string }>(
      this.#ch,
      `SELECT DISTINCT EventId, Receiver FROM ${this.#ch.database}.${TABLE} WHERE EventId IN {ids:Array(String)} AND Receiver IN {receivers:Array(String)}`,
      { ids, receivers },
      signal,
    );
    this.pairsLookedUp += ids.length * receivers.length;
    return new Set(found.map((r) => pairKey(r.EventId, r.Receiver)));
  }

  #remember(key: string): void {
    this.#logged.delete(key);
    this.#logged.add(key);
    for (const oldest of this.#logged) {
      if (this.#logged.size <= this.#maxRemembered) break;
      this.#logged.delete(oldest);
    }
  }
}

function pairKey(eventId: string, receiver: string): string {
  return `${eventId} ${receiver}`;
}

/** An event published twice can land in one batch: the first copy counts. */
function uniqueById(events: readonly AlertEvent[]): AlertEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => !seen.has(e.id) && seen.add(e.id));
}

/** Retry-After in seconds (the HTTP-date form is not used by webhook receivers in practice), or null. */
function retryAfterMs(header: string | null): number | null {
  if (header === null || !/^\s*\d+\s*$/.test(header)) return null;
  return Number(header) * 1000;
}

/** A network failure as a short reason: the error code only, never the message (it can name the host and port). */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : null;
  return code ? `network error (${code})` : 'network error';
}

const ISO_TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/;

/** An RFC 3339 time (as the alert schema admits) as a DateTime64(9) value, nanoseconds kept. */
function isoDateTime64(iso: string): string {
  const m = ISO_TIME.exec(iso);
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || Number.isNaN(ms)) return dateTime64(0n);
  const seconds = BigInt(ms / 1000);
  const fractionNs = BigInt((m[2] ?? '').slice(0, 9).padEnd(9, '0'));
  const ns = seconds * 1_000_000_000n + fractionNs;
  return dateTime64(ns < 0n ? 0n : ns);
}

function logRow(e: AlertEvent, receiver: string, s: Settled): object {
  return {
    Timestamp: dateTime64(BigInt(Math.floor(s.atMs)) * 1_000_000n),
    EventId: e.id,
    Fingerprint: e.fingerprint,
    Status: e.status,
    Source: e.source,
    Rule: e.rule,
    Severity: e.severity,
    Summary: e.summary,
    Tenant: e.tenant,
    ServiceName: e.service,
    PeerKind: e.peer_kind,
    Peer: e.peer,
    EdgeId: e.edge_id,
    StartsAt: isoDateTime64(e.starts_at),
    Receiver: receiver,
    Delivery: s.delivery,
    Attempts: s.attempts,
    HttpStatus: s.httpStatus,
    Error: s.error,
  };
}
