/**
 * The alerting stage against real webhook receivers (node:http on 127.0.0.1, ephemeral ports) and
 * the real embedded ClickHouse engine: what a receiver gets (signed as Standard Webhooks says,
 * checked by the verifier in test/harness/webhooks.ts, written from the specification; shaped as
 * Alertmanager's webhook), how each answer is handled (retried, given up, receiver disabled), that
 * a replayed or restarted batch pages nobody twice, and that the config and the alert log table
 * are what they claim.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ShutdownError } from '../../pipeline/errors.js';
import { silentLogger, type Logger } from '../../pipeline/logger.js';
import type { StageContext } from '../../pipeline/stage.js';
import { alertingStageConfigSchema, type AlertingStageConfig } from '../../schemas/alerting-config.js';
import { alertEventId, alertEventSchema, alertFingerprint, encodeAlertEvents, type AlertEvent } from '../../schemas/alerts.js';
import { ALERT_LOG_MIGRATION } from '../../schemas/clickhouse/migrations.js';
import { clusterStatements } from '../../schemas/clickhouse/cluster-ddl.js';
import { startWebhookReceiver, verifyWebhookSignature } from '../../test/harness/webhooks.js';
import { testEngineDir, uniqueName } from '../../test/harness/chainwatch.js';
import { waitFor } from '../../test/harness/wait-for.js';
import { migrate, openClickHouse, type ClickHouse } from '../storage/clickhouse.js';
import { AlertingStage, decodeAlertMessages } from './alerting-stage.js';
import type { AlertmanagerWebhook } from './webhook.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const STARTS_AT = '2025-11-23T12:00:00.123456789Z';

/** A port nothing listens on (a server's, after it closed). */
async function closedPort(): Promise<number> {
  const s = await startWebhookReceiver();
  const port = Number(new URL(s.origin).port);
  await s.close();
  return port;
}

const newEdge = (): string => randomBytes(8).toString('hex');

function alertEvent(edge: string, status: AlertEvent['status'] = 'firing', severity: AlertEvent['severity'] = 'critical'): AlertEvent {
  const fingerprint = alertFingerprint('sla', 'slo_burn_rate_page', edge);
  return alertEventSchema.parse({
    id: alertEventId(fingerprint, status, STARTS_AT),
    fingerprint,
    status,
    source: 'sla',
    rule: 'slo_burn_rate_page',
    severity,
    summary: `checkout → stripe burns its error budget too fast (${severity})`,
    tenant: 'acme',
    service: 'checkout',
    peer: 'stripe',
    peer_kind: 'service',
    edge_id: edge,
    starts_at: STARTS_AT,
    ends_at: status === 'resolved' ? '2025-11-23T12:30:00Z' : null,
    labels: { window: '1h' },
    values: { burn_rate: 14.4 },
  });
}

interface ReceiverInput {
  name: string;
  url: string;
  secret?: string;
  min_severity?: string;
  timeout_ms?: number;
  max_attempts?: number;
}

/** A validated config with small delivery backoff, so retries take milliseconds. */
function config(receivers: ReceiverInput[], extra: Record<string, unknown> = {}): AlertingStageConfig {
  return alertingStageConfigSchema.parse({ delivery_initial_ms: 5, delivery_max_ms: 20, receivers: receivers.map((r) => ({ secret: SECRET, ...r })), ...extra });
}

function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const out: string[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void out.push(s) });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>), text: () => out.join('') };
}

interface LogRow {
  EventId: string;
  Receiver: string;
  Status: string;
  Severity: string;
  Delivery: string;
  Attempts: number;
  HttpStatus: number;
  Error: string;
  StartsAt: string;
  Timestamp: string;
}

// One engine per test process (chdb binds its data directory once), one database for the file.
let ch: ClickHouse;
beforeAll(async () => {
  ch = await openClickHouse({ kind: 'embedded', path: testEngineDir(), database: uniqueName('alerting'), username: 'default', password: '' });
  await migrate(ch, [ALERT_LOG_MIGRATION]);
});
afterAll(async () => {
  await ch?.close();
});

describe('alerting stage', () => {
  const ctx = (batchId: string, signal: AbortSignal = new AbortController().signal): StageContext => ({ batchId, partition: 0, signal });
  const stage = (cfg: AlertingStageConfig, options: { logger?: Logger; now?: () => number; clickhouse?: ClickHouse } = {}): AlertingStage =>
    new AlertingStage({ clickhouse: options.clickhouse ?? ch, config: cfg, logger: options.logger ?? silentLogger(), ...(options.now ? { now: options.now } : {}) });
  /** Every alert log row of these events, not merged (no FINAL): duplicates would show. */
  const logRows = async (events: readonly AlertEvent[]): Promise<LogRow[]> => {
    const rs = await ch.client.query({
      query: `SELECT EventId, Receiver, Status, Severity, Delivery, Attempts, HttpStatus, Error, toString(StartsAt) AS StartsAt, toString(Timestamp) AS Timestamp
              FROM ${ch.database}.chainwatch_alert_log WHERE EventId IN {ids:Array(String)} ORDER BY Receiver, Status, EventId`,
      query_params: { ids: events.map((e) => e.id) },
      format: 'JSONEachRow',
    });
    return rs.json<LogRow>();
  };
  const outcome = (rows: LogRow[], e: AlertEvent, receiver: string): Pick<LogRow, 'Delivery' | 'Attempts' | 'HttpStatus'> | undefined => {
    const r = rows.find((x) => x.EventId === e.id && x.Receiver === receiver);
    return r && { Delivery: r.Delivery, Attempts: r.Attempts, HttpStatus: r.HttpStatus };
  };

  it('the verifier used below accepts the Standard Webhooks test vector and refuses a changed one', () => {
    const headers = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' };
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(verifyWebhookSignature(secret, headers, '{"test": 2432232314}', 1614265330)).toBe(true);
    expect(verifyWebhookSignature(secret, headers, '{"test": 2432232315}', 1614265330)).toBe(false);
    // One of several signatures (key rotation) is enough.
    expect(verifyWebhookSignature(secret, { ...headers, 'webhook-signature': `v1,bm9wZQ== ${headers['webhook-signature']}` }, '{"test": 2432232314}', 1614265330)).toBe(true);
  });

  it('delivers signed Alertmanager webhooks, the events of one alert in order, and logs each delivery', async () => {
    const server = await startWebhookReceiver();
    try {
      const nowMs = Date.now();
      const s = stage(config([{ name: 'oncall', url: `${server.origin}/hook?team=payments` }]), { now: () => nowMs });
      await s.start();
      const edge = newEdge();
      const firing = alertEvent(edge, 'firing');
      const resolved = alertEvent(edge, 'resolved');
      await s.process([firing, resolved], ctx('a/0/0-1'));

      expect(server.received.map((r) => r.id)).toEqual([firing.id, resolved.id]);
      for (const r of server.received) {
        expect(r.path).toBe('/hook?team=payments');
        expect(r.headers['content-type']).toBe('application/json');
        expect(r.headers['user-agent']).toBe('chainwatch');
        expect(r.headers['webhook-timestamp']).toBe(String(Math.floor(nowMs / 1000)));
        expect(verifyWebhookSignature(SECRET, r.headers, r.body, Math.floor(nowMs / 1000))).toBe(true);
        // Tampered with on the way: refused.
        expect(verifyWebhookSignature(SECRET, r.headers, r.body.replace('"acme"', '"evil"'), Math.floor(nowMs / 1000))).toBe(false);
        expect(verifyWebhookSignature(`whsec_${randomBytes(32).toString('base64')}`, r.headers, r.body, Math.floor(nowMs / 1000))).toBe(false);
      }
      const [first, second] = server.received.map((r) => JSON.parse(r.body) as AlertmanagerWebhook);
      expect(first).toMatchObject({
        version: '4',
        groupKey: firing.fingerprint,
        truncatedAlerts: 0,
        status: 'firing',
        receiver: 'oncall',
        groupLabels: { alertname: 'slo_burn_rate_page' },
        commonAnnotations: { summary: firing.summary },
        externalURL: '',
        chainwatch: { event_id: firing.id, values: { burn_rate: 14.4 } },
      });
      expect(first!.alerts).toEqual([
        {
          status: 'firing',
          labels: { alertname: 'slo_burn_rate_page', source: 'sla', severity: 'critical', tenant: 'acme', service: 'checkout', peer: 'stripe', peer_kind: 'service', edge_id: edge, window: '1h' },
          annotations: { summary: firing.summary, burn_rate: '14.4' },
          startsAt: STARTS_AT,
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: '',
          fingerprint: firing.fingerprint,
        },
      ]);
      expect(second!.status).toBe('resolved');
      expect(second!.alerts[0]!.endsAt).toBe('2025-11-23T12:30:00Z');

      const rows = await logRows([firing, resolved]);
      expect(rows.map((r) => [r.Status, r.Delivery, r.Attempts, r.HttpStatus, r.Error])).toEqual([
        ['firing', 'delivered', 1, 200, ''],
        ['resolved', 'delivered', 1, 200, ''],
      ]);
      expect(rows[0]!.StartsAt).toBe('2025-11-23 12:00:00.123456789');
      expect(Date.parse(`${rows[0]!.Timestamp.replace(' ', 'T')}Z`)).toBe(nowMs);
      expect(s.deliveries).toEqual({ delivered: 2, failed: 0, below_min_severity: 0, receiver_disabled: 0 });
      expect(s.attempts).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('retries 503 and delivers on the third attempt, each attempt signed; gives up on 400 after one', async () => {
    const flaky = await startWebhookReceiver((_r, before) => ({ status: before < 2 ? 503 : 200 }));
    const refusing = await startWebhookReceiver(() => ({ status: 400 }));
    try {
      const s = stage(config([
        { name: 'flaky', url: flaky.origin, max_attempts: 5 },
        { name: 'refusing', url: refusing.origin, max_attempts: 5 },
      ]));
      const e = alertEvent(newEdge());
      await s.process([e], ctx('b/0/0-0'));
      expect(flaky.count(e.id)).toBe(3);
      expect(refusing.count(e.id)).toBe(1);
      for (const r of flaky.received) expect(verifyWebhookSignature(SECRET, r.headers, r.body, Math.floor(Date.now() / 1000))).toBe(true);
      const rows = await logRows([e]);
      expect(outcome(rows, e, 'flaky')).toEqual({ Delivery: 'delivered', Attempts: 3, HttpStatus: 200 });
      expect(outcome(rows, e, 'refusing')).toEqual({ Delivery: 'failed', Attempts: 1, HttpStatus: 400 });
      const refusal = rows.find((r) => r.Receiver === 'refusing')!.Error;
      expect(refusal).toBe('HTTP 400 (not retried)');
      expect(s.attempts).toBe(4);
      expect(s.deliveries).toMatchObject({ delivered: 1, failed: 1 });
    } finally {
      await Promise.all([flaky.close(), refusing.close()]);
    }
  });

  it('gives up after max_attempts on timeouts and refused connections, with a reason that names neither host nor port', async () => {
    const slow = await startWebhookReceiver(() => ({ status: 200, delayMs: 2000 }));
    const port = await closedPort();
    try {
      const s = stage(config([
        { name: 'slow', url: slow.origin, timeout_ms: 100, max_attempts: 2 },
        { name: 'down', url: `http://127.0.0.1:${port}/hook`, max_attempts: 3 },
      ]));
      const e = alertEvent(newEdge());
      const started = performance.now();
      await s.process([e], ctx('c/0/0-0'));
      expect(performance.now() - started).toBeLessThan(1500);
      expect(slow.count(e.id)).toBe(2);
      const rows = await logRows([e]);
      expect(outcome(rows, e, 'slow')).toEqual({ Delivery: 'failed', Attempts: 2, HttpStatus: 0 });
      expect(outcome(rows, e, 'down')).toEqual({ Delivery: 'failed', Attempts: 3, HttpStatus: 0 });
      expect(rows.find((r) => r.Receiver === 'slow')!.Error).toBe('gave up after 2 attempts: timed out after 100 ms');
      const down = rows.find((r) => r.Receiver === 'down')!.Error;
      expect(down).toBe('gave up after 3 attempts: network error (ECONNREFUSED)');
      expect(s.attempts).toBe(5);
    } finally {
      await slow.close();
    }
  });

  it('honours Retry-After in seconds, capped by delivery_max_ms', async () => {
    const server = await startWebhookReceiver((_r, before) => (before === 0 ? { status: 429, headers: { 'retry-after': '5' } } : { status: 200 }));
    try {
      // Without the header the delay would be at most 1 ms; with it, 5 s capped to 300 ms.
      const s = stage(config([{ name: 'limited', url: server.origin }], { delivery_initial_ms: 1, delivery_max_ms: 300 }));
      const e = alertEvent(newEdge());
      await s.process([e], ctx('d/0/0-0'));
      const [a, b] = server.received;
      expect(server.received).toHaveLength(2);
      const gap = b!.at - a!.at;
      expect(gap).toBeGreaterThanOrEqual(280);
      expect(gap).toBeLessThan(1500);
      expect(outcome(await logRows([e]), e, 'limited')).toEqual({ Delivery: 'delivered', Attempts: 2, HttpStatus: 200 });
    } finally {
      await server.close();
    }
  });

  it('serves other alerts while one retries, and sends an alert\'s resolution only after its firing settled', async () => {
    const fEdge = newEdge();
    const fFiring = alertEvent(fEdge, 'firing');
    const fResolved = alertEvent(fEdge, 'resolved');
    const other = alertEvent(newEdge(), 'firing');
    const server = await startWebhookReceiver((r, before) => (r.id === fFiring.id && before === 0 ? { status: 503, delayMs: 300 } : { status: 200 }));
    try {
      const s = stage(config([{ name: 'ordered', url: server.origin }]));
      await s.process([fFiring, other, fResolved], ctx('e/0/0-2'));
      const firingTries = server.received.filter((r) => r.id === fFiring.id);
      const resolution = server.received.find((r) => r.id === fResolved.id)!;
      const otherRequest = server.received.find((r) => r.id === other.id)!;
      expect(firingTries).toHaveLength(2);
      expect(resolution.at).toBeGreaterThan(firingTries[1]!.answeredAt!);
      // The other alert did not wait behind the slow, failing one.
      expect(otherRequest.at).toBeLessThan(firingTries[0]!.answeredAt!);
      expect(s.deliveries.delivered).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('sends each receiver only the events at or above its min_severity, and logs the others as below_min_severity', async () => {
    const server = await startWebhookReceiver();
    try {
      const s = stage(config([
        { name: 'pager', url: `${server.origin}/pager`, min_severity: 'critical' },
        { name: 'chat', url: `${server.origin}/chat`, min_severity: 'info' },
        { name: 'default', url: `${server.origin}/default` },
      ]));
      const info = alertEvent(newEdge(), 'firing', 'info');
      const warning = alertEvent(newEdge(), 'firing', 'warning');
      const critical = alertEvent(newEdge(), 'firing', 'critical');
      await s.process([info, warning, critical], ctx('f/0/0-2'));
      const sentTo = (path: string): string[] => server.received.filter((r) => r.path === path).map((r) => r.id).sort();
      expect(sentTo('/pager')).toEqual([critical.id]);
      expect(sentTo('/chat')).toEqual([info.id, warning.id, critical.id].sort());
      expect(sentTo('/default')).toEqual([warning.id, critical.id].sort());
      const rows = await logRows([info, warning, critical]);
      expect(rows).toHaveLength(9);
      expect(outcome(rows, info, 'pager')).toEqual({ Delivery: 'below_min_severity', Attempts: 0, HttpStatus: 0 });
      expect(outcome(rows, warning, 'pager')).toEqual({ Delivery: 'below_min_severity', Attempts: 0, HttpStatus: 0 });
      expect(outcome(rows, info, 'default')).toEqual({ Delivery: 'below_min_severity', Attempts: 0, HttpStatus: 0 });
      expect(outcome(rows, info, 'chat')).toEqual({ Delivery: 'delivered', Attempts: 1, HttpStatus: 200 });
      expect(s.deliveries).toEqual({ delivered: 6, failed: 0, below_min_severity: 3, receiver_disabled: 0 });
    } finally {
      await server.close();
    }
  });

  it('disables a receiver that answers 410 for the life of the process: later events are logged receiver_disabled and not sent', async () => {
    const gone = await startWebhookReceiver(() => ({ status: 410 }));
    const ok = await startWebhookReceiver();
    const goneSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const { logger, lines, text } = capturingLogger();
    try {
      const s = stage(config([{ name: 'old-endpoint', url: gone.url, secret: goneSecret }, { name: 'current', url: ok.origin }]), { logger });
      const a = alertEvent(newEdge());
      const b = alertEvent(newEdge());
      const c = alertEvent(newEdge());
      await s.process([a], ctx('g/0/0-0'));
      await s.process([b, c], ctx('g/0/1-2'));
      expect(gone.received.map((r) => r.id)).toEqual([a.id]);
      expect(ok.received.map((r) => r.id).sort()).toEqual([a.id, b.id, c.id].sort());
      const rows = await logRows([a, b, c]);
      expect(outcome(rows, a, 'old-endpoint')).toEqual({ Delivery: 'failed', Attempts: 1, HttpStatus: 410 });
      expect(outcome(rows, b, 'old-endpoint')).toEqual({ Delivery: 'receiver_disabled', Attempts: 0, HttpStatus: 0 });
      expect(outcome(rows, c, 'old-endpoint')).toEqual({ Delivery: 'receiver_disabled', Attempts: 0, HttpStatus: 0 });
      expect(outcome(rows, c, 'current')).toEqual({ Delivery: 'delivered', Attempts: 1, HttpStatus: 200 });
      expect(s.disabledReceivers()).toEqual(['old-endpoint']);
      const disabledLines = lines().filter((l) => String(l['msg']).includes('410'));
      expect(disabledLines).toHaveLength(1);
      expect(disabledLines[0]).toMatchObject({ level: 40, receiver: 'old-endpoint' });
      // Neither the URL nor the secret anywhere in the logs or the alert log.
      expect(text()).not.toContain(new URL(gone.url).host);
      expect(text()).not.toContain(goneSecret.slice(6));
      expect(JSON.stringify(rows)).not.toContain(new URL(gone.url).host);
      expect(s.deliveries).toEqual({ delivered: 3, failed: 1, below_min_severity: 0, receiver_disabled: 2 });
    } finally {
      await Promise.all([gone.close(), ok.close()]);
    }
  });

  it('does not deliver a replayed batch again, in this process or after a restart, and logs one row per event and receiver', async () => {
    const server = await startWebhookReceiver();
    try {
      const cfg = config([
        { name: 'first', url: `${server.origin}/first` },
        { name: 'second', url: `${server.origin}/second` },
      ]);
      const e1 = alertEvent(newEdge());
      const e2 = alertEvent(newEdge());
      // e1 published twice upstream: both copies in one batch.
      const batch = [e1, e2, e1];
      const s1 = stage(cfg);
      await s1.process(batch, ctx('h/0/0-2'));
      expect(s1.pairsLookedUp).toBe(4);
      // The same batch again in this process (a retry), and a replay under another batch id: memory answers.
      await s1.process(batch, ctx('h/0/0-2'));
      await s1.process(batch, ctx('h/0/5-7'));
      expect(s1.pairsLookedUp).toBe(4);
      // A restart: a fresh stage, the same batch redelivered, then replayed upstream under another id.
      const s2 = stage(cfg);
      await s2.process(batch, ctx('h/0/0-2'));
      await stage(cfg).process(batch, ctx('h/0/9-11'));
      expect(s2.pairsLookedUp).toBe(4);
      expect(s2.attempts).toBe(0);

      for (const path of ['/first', '/second']) {
        expect(server.count(e1.id, path)).toBe(1);
        expect(server.count(e2.id, path)).toBe(1);
      }
      expect(server.received).toHaveLength(4);
      const rows = await logRows([e1, e2]);
      expect(rows.map((r) => `${r.Receiver} ${r.EventId === e1.id ? 'e1' : 'e2'} ${r.Delivery}`).sort()).toEqual(['first e1 delivered', 'first e2 delivered', 'second e1 delivered', 'second e2 delivered']);
    } finally {
      await server.close();
    }
  });

  it('logs a batch whose log insert failed on its retry without delivering again', async () => {
    const server = await startWebhookReceiver();
    let failingInserts = 1;
    const client = new Proxy(ch.client, {
      get(target, prop) {
        if (prop === 'insert' && failingInserts > 0) {
          return async () => {
            failingInserts--;
            throw new Error('connection reset by peer (test)');
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    try {
      const s = stage(config([{ name: 'once', url: server.origin }]), { clickhouse: { ...ch, client } });
      const events = [alertEvent(newEdge()), alertEvent(newEdge())];
      await expect(s.process(events, ctx('i/0/0-1'))).rejects.toThrow(/insert of 2 rows/);
      expect(await logRows(events)).toHaveLength(0);
      await s.process(events, ctx('i/0/0-1'));
      expect(server.received.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
      expect((await logRows(events)).map((r) => r.Delivery)).toEqual(['delivered', 'delivered']);
      expect(s.deliveries.delivered).toBe(2);
    } finally {
      await server.close();
    }
  });

  it('stops promptly when aborted during a retry wait or a request in flight, logging nothing', async () => {
    const waiting = await startWebhookReceiver(() => ({ status: 503, headers: { 'retry-after': '30' } }));
    const hanging = await startWebhookReceiver(() => ({ status: 200, hang: true }));
    try {
      for (const [server, name] of [[waiting, 'waiting'], [hanging, 'hanging']] as const) {
        const s = stage(config([{ name, url: server.origin, timeout_ms: 30_000, max_attempts: 5 }], { delivery_initial_ms: 30_000, delivery_max_ms: 60_000 }));
        const e = alertEvent(newEdge());
        const abort = new AbortController();
        const processing = s.process([e], ctx(`j/${name}/0-0`, abort.signal));
        processing.catch(() => {});
        await waitFor('the first request', async () => server.received.length > 0, 5000);
        expect(server.received).toHaveLength(1);
        const aborted = performance.now();
        abort.abort();
        await expect(processing).rejects.toBeInstanceOf(ShutdownError);
        expect(performance.now() - aborted).toBeLessThan(500);
        expect(server.received).toHaveLength(1);
        expect(await logRows([e])).toHaveLength(0);
      }
    } finally {
      await Promise.all([waiting.close(), hanging.close()]);
    }
  });

  it('decodes alert messages, dropping a malformed one with a reason', () => {
    const good = [alertEvent(newEdge()), alertEvent(newEdge(), 'resolved')];
    const rejected: string[] = [];
    const out = decodeAlertMessages(
      [
        { key: good[0]!.fingerprint, value: encodeAlertEvents(good), offset: '0' },
        { key: null, value: Buffer.from('{"id":"nope"}'), offset: '1' },
      ],
      (m, reason) => rejected.push(`${m.offset} ${reason}`),
    );
    expect(out.map((e) => e.id)).toEqual(good.map((e) => e.id));
    expect(rejected).toEqual(['1 malformed alert events']);
  });
});

describe('alerting config', () => {
  const wrapped = z.strictObject({ stages: z.strictObject({ alerting: alertingStageConfigSchema }) });
  const receiver = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'oncall', url: 'https://hooks.example.test/alerts', secret: SECRET, ...overrides });
  const problems = (alerting: unknown): { paths: string[]; pretty: string; raw: string } => {
    const r = wrapped.safeParse({ stages: { alerting } });
    if (r.success) return { paths: [], pretty: '', raw: '' };
    return { paths: r.error.issues.map((i) => i.path.join('.')), pretty: z.prettifyError(r.error), raw: JSON.stringify(r.error.issues) };
  };

  it('fills in the defaults', () => {
    const cfg = alertingStageConfigSchema.parse({ receivers: [receiver()] });
    expect(cfg).toEqual({
      batch_size: 100,
      max_wait_ms: 100,
      retry_initial_ms: 100,
      retry_max_ms: 10_000,
      delivery_initial_ms: 1000,
      delivery_max_ms: 60_000,
      receivers: [{ name: 'oncall', url: 'https://hooks.example.test/alerts', secret: SECRET, min_severity: 'warning', timeout_ms: 10_000, max_attempts: 8 }],
    });
    expect(wrapped.parse({ stages: {} }).stages.alerting.receivers).toEqual([]);
  });

  it('says where a bad secret is and what is wrong with it, never the secret', () => {
    const cases = [
      ['whsec_c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZy1lbm91Z2g*', /not valid base64/],
      ['c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZy1lbm91Z2gh', /does not start with "whsec_"/],
      [`whsec_${Buffer.from('short-key').toString('base64')}`, /24 to 64 bytes.*decodes to 9 bytes/],
    ] as const;
    for (const [secret, why] of cases) {
      const p = problems({ receivers: [receiver({ secret })] });
      expect(p.paths).toEqual(['stages.alerting.receivers.0.secret']);
      expect(p.pretty).toContain('stages.alerting.receivers[0].secret');
      expect(p.pretty).toMatch(why);
      const secretBody = secret.replace(/^whsec_/, '');
      expect(p.pretty).not.toContain(secretBody.slice(0, 12));
      expect(p.raw).not.toContain(secretBody.slice(0, 12));
    }
  });

  it('refuses duplicate receiver names, naming the index of each duplicate and of the first', () => {
    const p = problems({ receivers: [receiver({ name: 'a' }), receiver({ name: 'b' }), receiver({ name: 'a' })] });
    expect(p.paths).toEqual(['stages.alerting.receivers.2.name']);
    expect(p.pretty).toContain('duplicate receiver name: the same as receivers[0]');
  });

  it('refuses URLs that are not http(s) or carry credentials, without repeating them', () => {
    expect(problems({ receivers: [receiver({ url: 'ftp://hooks.example.test/x' })] }).pretty).toContain('expected an http(s) URL, got a ftp: URL');
    const withPassword = problems({ receivers: [receiver({ url: 'https://bot:hunter2-token@hooks.example.test/x' })] });
    expect(withPassword.paths).toEqual(['stages.alerting.receivers.0.url']);
    expect(withPassword.pretty).toContain('must not contain user:password@');
    expect(withPassword.raw).not.toContain('hunter2');
    expect(problems({ receivers: [receiver({ url: 'not a url' })] }).paths).toEqual(['stages.alerting.receivers.0.url']);
  });

  it('reports every problem at once', () => {
    const p = problems({ delivery_initial_ms: 5000, delivery_max_ms: 1000, receivers: [receiver({ name: 'a', secret: 'whsec_x' }), receiver({ name: 'a', url: 'ftp://x.test' })] });
    expect(p.paths.sort()).toEqual(['stages.alerting.delivery_max_ms', 'stages.alerting.receivers.0.secret', 'stages.alerting.receivers.1.name', 'stages.alerting.receivers.1.url']);
  });

  it('checks ranges and unknown keys', () => {
    expect(problems({ receivers: [receiver({ max_attempts: 21 })] }).paths).toEqual(['stages.alerting.receivers.0.max_attempts']);
    expect(problems({ receivers: [receiver({ max_attempts: 0 })] }).paths).toEqual(['stages.alerting.receivers.0.max_attempts']);
    expect(problems({ receivers: [receiver({ min_severity: 'page' })] }).pretty).toContain('expected one of critical, warning, info');
    expect(problems({ receivers: [receiver({ name: '' })] }).paths).toEqual(['stages.alerting.receivers.0.name']);
    expect(problems({ delivery_initial_ms: 5000, delivery_max_ms: 1000 }).paths).toEqual(['stages.alerting.delivery_max_ms']);
    expect(problems({ receivers: [receiver({ headers: {} })] }).pretty).toMatch(/headers/);
    expect(problems({ receivers: [receiver()] }).paths).toEqual([]);
  });
});

describe('alert log migration', () => {
  const parse = async (sql: string): Promise<string> => {
    const rs = await ch.client.query({ query: 'SELECT formatQuerySingleLine({q:String}) AS f', query_params: { q: sql }, format: 'JSONEachRow' });
    return (await rs.json<{ f: string }>())[0]!.f;
  };

  it('has the cluster form cluster-ddl.ts makes of every table: a Replicated local table and a Distributed one', async () => {
    const [statement, ...more] = ALERT_LOG_MIGRATION.statements('cw');
    expect(more).toEqual([]);
    expect(ALERT_LOG_MIGRATION.version).toBe(7);
    expect(statement!.startsWith('CREATE TABLE IF NOT EXISTS cw.chainwatch_alert_log (')).toBe(true);
    const clustered = clusterStatements(statement!, 'chainwatch_cluster');
    expect(clustered).toHaveLength(2);
    const [local, distributed] = await Promise.all(clustered.map(parse));
    expect(local).toContain('CREATE TABLE IF NOT EXISTS cw.chainwatch_alert_log_local ON CLUSTER chainwatch_cluster');
    expect(local).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/cw/chainwatch_alert_log_local', '{replica}')");
    expect(local).toContain('replicated_deduplication_window = 10000');
    expect(local).not.toContain('non_replicated_deduplication_window');
    expect(distributed).toContain('CREATE TABLE IF NOT EXISTS cw.chainwatch_alert_log ON CLUSTER chainwatch_cluster AS cw.chainwatch_alert_log_local ENGINE = Distributed(chainwatch_cluster, cw, chainwatch_alert_log_local');
  });

  it('creates the table with the documented columns, idempotently', async () => {
    // Applied in beforeAll; recorded as applied, and the statement itself may run again.
    expect((await migrate(ch, [ALERT_LOG_MIGRATION])).alreadyApplied.map((m) => m.version)).toEqual([7]);
    for (const statement of ALERT_LOG_MIGRATION.statements(ch.database)) await ch.client.command({ query: statement });
    const rs = await ch.client.query({ query: `DESCRIBE TABLE ${ch.database}.chainwatch_alert_log`, format: 'JSONEachRow' });
    const columns = (await rs.json<{ name: string; type: string }>()).map((c) => `${c.name} ${c.type}`);
    expect(columns).toEqual([
      'Timestamp DateTime64(9)',
      'EventId String',
      'Fingerprint String',
      'Status LowCardinality(String)',
      'Source LowCardinality(String)',
      'Rule LowCardinality(String)',
      'Severity LowCardinality(String)',
      'Summary String',
      'Tenant LowCardinality(String)',
      'ServiceName LowCardinality(String)',
      'PeerKind LowCardinality(String)',
      'Peer String',
      'EdgeId String',
      'StartsAt DateTime64(9)',
      'Receiver LowCardinality(String)',
      'Delivery LowCardinality(String)',
      'Attempts UInt16',
      'HttpStatus UInt16',
      'Error String',
    ]);
    const [engine] = await (await ch.client.query({ query: `SELECT engine, sorting_key, partition_key FROM system.tables WHERE database = {db:String} AND name = 'chainwatch_alert_log'`, query_params: { db: ch.database }, format: 'JSONEachRow' })).json<Record<string, string>>();
    expect(engine).toEqual({ engine: 'ReplacingMergeTree', sorting_key: 'EventId, Receiver', partition_key: 'toDate(StartsAt)' });
  });
});
