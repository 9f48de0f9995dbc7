/**
 * The demo estate end to end: an embedded chainwatch receives a short, seeded demo run (every
 * incident compressed into it) through the real OpenTelemetry SDK and OTLP/HTTP, redacts it and
 * stores it. ClickHouse must then show the estate (services, sub-processors, client and server
 * sides of internal calls in one trace, plaintext calls, the shared credential) and each
 * incident in its scheduled window, and no raw credential anywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo, type DemoStats, type RunningDemo } from '../../demo/demo-runner.js';
import { SERVICE_NAMES } from '../../demo/estate.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { INCIDENT_KINDS, type IncidentKind } from '../../schemas/demo-config.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';

const SEED = 20_260_101;
const DURATION_S = 24;
const RATE = 60;

describe('demo estate end to end', () => {
  let app: Chainwatch;
  let demo: RunningDemo;
  let stats: DemoStats;

  beforeAll(async () => {
    app = await startTestChainwatch(testConfig());
    demo = runDemo({ target: app.otlpHttpUrl!, rate: RATE, durationS: DURATION_S, seed: SEED, incidents: 'all', batch: { scheduledDelayMs: 200 } });
    stats = await demo.done;
  }, 90_000);

  afterAll(async () => {
    await demo?.stop();
    await app?.stop();
  });

  async function rows<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
    const rs = await app.clickhouse!.client.query({ query: query.replaceAll('$db', app.clickhouse!.database), query_params: params, format: 'JSONEachRow' });
    return rs.json<T>();
  }

  /** A whole table as text, to look for values anywhere in it. */
  async function dump(table: string): Promise<string> {
    const rs = await app.clickhouse!.client.query({ query: `SELECT * FROM ${app.clickhouse!.database}.${table}`, format: 'TabSeparated' });
    return rs.text();
  }

  /** The scheduled window of an incident, as epoch-ms bounds for `toUnixTimestamp64Milli(Timestamp)`. */
  function window(kind: IncidentKind): { from: number; to: number } {
    const incident = demo.incidents.find((i) => i.kind === kind)!;
    return { from: demo.startTimeMs + incident.startMs, to: demo.startTimeMs + (incident.endMs ?? DURATION_S * 1000) };
  }

  const TS = 'toUnixTimestamp64Milli(Timestamp)';
  const INSIDE = `(${TS} >= {from:Int64} AND ${TS} < {to:Int64})`;
  const CALLS = `SpanKind IN ('SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER')`;

  it('stores every span of the run, from 8 services calling more than 10 sub-processors', async () => {
    expect(stats.traces).toBeGreaterThan(1000);
    expect(stats.exported.traces).toEqual({ exported: stats.spans, failed: 0 });
    // Acknowledged means stored in embedded mode.
    const [total] = await rows<{ n: string }>('SELECT count() AS n FROM $db.otel_traces');
    expect(Number(total!.n)).toBe(stats.spans);
    const services = await rows<{ s: string }>('SELECT DISTINCT ServiceName AS s FROM $db.otel_traces ORDER BY s');
    expect(services.map((r) => r.s)).toEqual([...SERVICE_NAMES].sort());
    expect(await rows('SELECT DISTINCT ResourceAttributes[\'deployment.environment.name\'] AS env FROM $db.otel_traces')).toEqual([{ env: 'demo' }]);

    // A sub-processor: the called side of an outgoing call that is not one of the estate's services.
    const subProcessors = await rows<{ p: string; hosts: string[] }>(
      `SELECT coalesce(nullIf(SpanAttributes['peer.service'], ''), nullIf(SpanAttributes['server.address'], ''), nullIf(SpanAttributes['db.system'], ''), SpanAttributes['messaging.system']) AS p,
              groupUniqArray(SpanAttributes['server.address']) AS hosts
       FROM $db.otel_traces WHERE ${CALLS} AND p NOT IN {services:Array(String)} GROUP BY p ORDER BY p`,
      { services: [...SERVICE_NAMES] },
    );
    expect(subProcessors.length).toBeGreaterThanOrEqual(10);
    expect(subProcessors.map((r) => r.p)).toEqual(
      expect.arrayContaining(['stripe', 'twilio', 'sendgrid', 'aws-s3', 'auth0', 'openai', 'slack', 'google-maps', 'orders-postgres', 'kafka', 'sessions-redis']),
    );
    expect(subProcessors.find((r) => r.p === 'stripe')!.hosts).toEqual(['api.stripe.com']);
    const systems = await rows<{ db: string[]; messaging: string[] }>(
      `SELECT groupUniqArrayIf(SpanAttributes['db.system'], SpanAttributes['db.system'] != '') AS db, groupUniqArrayIf(SpanAttributes['messaging.system'], SpanAttributes['messaging.system'] != '') AS messaging FROM $db.otel_traces`,
    );
    expect(systems[0]!.db.sort()).toEqual(['postgresql', 'redis']);
    expect(systems[0]!.messaging).toEqual(['kafka']);
  });

  it('keeps the client span of one service and the server span it caused in another in one trace', async () => {
    const pairs = await rows<{ caller: string; callee: string; peer: string; n: string }>(
      `SELECT c.ServiceName AS caller, s.ServiceName AS callee, any(c.SpanAttributes['peer.service']) AS peer, count() AS n
       FROM $db.otel_traces AS c INNER JOIN $db.otel_traces AS s ON s.TraceId = c.TraceId AND s.ParentSpanId = c.SpanId
       WHERE c.SpanKind = 'SPAN_KIND_CLIENT' AND s.SpanKind = 'SPAN_KIND_SERVER' AND c.ServiceName != s.ServiceName
       GROUP BY caller, callee ORDER BY caller, callee`,
    );
    expect(pairs.map((p) => `${p.caller} → ${p.callee}`)).toEqual([
      'billing-worker → payments',
      'checkout → auth',
      'checkout → catalog',
      'checkout → payments',
      'search → catalog',
      'webhook-relay → notifications',
      'webhook-relay → payments',
    ]);
    expect(pairs.every((p) => p.peer === p.callee && Number(p.n) > 0)).toBe(true);
    // A checkout is one trace through many services (gRPC, HTTP, Kafka consumers).
    const [widest] = await rows<{ services: string }>('SELECT uniqExact(ServiceName) AS services FROM $db.otel_traces GROUP BY TraceId ORDER BY services DESC LIMIT 1');
    expect(Number(widest!.services)).toBeGreaterThanOrEqual(6);
  });

  it('shows plaintext internal calls, the identity behind each credential, and the one credential two services share', async () => {
    const plaintext = await rows<{ edge: string; schemes: string[] }>(
      `SELECT concat(ServiceName, ' → ', SpanAttributes['peer.service']) AS edge, groupUniqArray(SpanAttributes['chainwatch.auth.scheme']) AS schemes
       FROM $db.otel_traces WHERE ${CALLS} AND startsWith(SpanAttributes['url.full'], 'http://') GROUP BY edge ORDER BY edge`,
    );
    expect(plaintext).toEqual([
      { edge: 'checkout → catalog', schemes: ['None'] },
      { edge: 'search → catalog', schemes: ['None'] },
      { edge: 'webhook-relay → notifications', schemes: ['ApiKey'] },
    ]);
    const [jwt] = await rows<Record<string, string>>(
      `SELECT SpanAttributes['chainwatch.credential.issuer'] AS issuer, SpanAttributes['chainwatch.credential.scopes'] AS scopes, SpanAttributes['chainwatch.credential.client_id'] AS client
       FROM $db.otel_traces WHERE ServiceName = 'checkout' AND SpanAttributes['peer.service'] = 'payments' AND SpanAttributes['chainwatch.auth.scheme'] = 'Bearer' LIMIT 1`,
    );
    expect(jwt).toMatchObject({ issuer: 'https://acme-shop.eu.auth0.com/', scopes: 'payments:create payments:read' });
    expect(jwt!['client']).toMatch(/^[A-Za-z0-9]{32}$/);
    const shared = await rows<{ services: string[]; peers: string[] }>(
      `SELECT arraySort(groupUniqArray(ServiceName)) AS services, groupUniqArray(SpanAttributes['peer.service']) AS peers
       FROM $db.otel_traces WHERE ${CALLS} AND SpanAttributes['chainwatch.credential.fingerprint'] != ''
       GROUP BY SpanAttributes['chainwatch.credential.fingerprint'] HAVING length(services) > 1`,
    );
    expect(shared).toEqual([{ services: ['billing-worker', 'payments'], peers: ['stripe'] }]);
  });

  it('leaves no raw credential in any stored span or finding', async () => {
    const c = demo.estate.credentials;
    const basic = (user: string, password: string): string => Buffer.from(`${user}:${password}`).toString('base64');
    const secrets = [
      c.stripe,
      c.sendgrid,
      c.slackBot,
      c.openaiSearch,
      c.openaiCatalog,
      c.googleMaps,
      c.twilioNotifications.secret,
      c.twilioAuth.secret,
      basic(c.twilioNotifications.sid, c.twilioNotifications.secret),
      basic(c.twilioAuth.sid, c.twilioAuth.secret),
      basic(c.auth0ClientId, c.auth0ClientSecret),
      c.auth0ClientSecret,
      c.awsAccessKeyId,
      c.notificationsApiKey,
      c.anthropic,
    ];
    for (const table of ['otel_traces', 'chainwatch_findings']) {
      const text = await dump(table);
      expect(text.length).toBeGreaterThan(10_000);
      expect(secrets.filter((s) => text.includes(s)).map((s) => `${s.slice(0, 6)}… in ${table}`)).toEqual([]);
      // Every JWT (the client-credentials tokens, the session token in SQL) is masked.
      expect(text).not.toMatch(/eyJ[\w-]{10,}\.eyJ/);
    }
  });

  it('has every incident of the timeline', () => {
    expect(demo.incidents.map((i) => i.kind)).toEqual([...INCIDENT_KINDS]);
    for (const kind of INCIDENT_KINDS) expect(demo.timeline).toContain(kind);
  });

  it('latency spike: Stripe calls are far slower in the window than around it', async () => {
    const [r] = await rows<{ inside: number; outside: number; n: string }>(
      `SELECT quantileIf(0.5)(Duration, ${INSIDE}) AS inside, quantileIf(0.5)(Duration, NOT ${INSIDE}) AS outside, countIf(${INSIDE}) AS n
       FROM $db.otel_traces WHERE SpanKind = 'SPAN_KIND_CLIENT' AND SpanAttributes['peer.service'] = 'stripe'`,
      window('latency-spike'),
    );
    expect(Number(r!.n)).toBeGreaterThan(20);
    expect(r!.inside).toBeGreaterThan(5 * r!.outside);
  });

  it('error burst: most Twilio calls fail in the window, few around it', async () => {
    const [r] = await rows<{ inside: number; outside: number; n: string }>(
      `SELECT countIf(StatusCode = 'STATUS_CODE_ERROR' AND ${INSIDE}) / countIf(${INSIDE}) AS inside,
              countIf(StatusCode = 'STATUS_CODE_ERROR' AND NOT ${INSIDE}) / countIf(NOT ${INSIDE}) AS outside, countIf(${INSIDE}) AS n
       FROM $db.otel_traces WHERE SpanKind = 'SPAN_KIND_CLIENT' AND SpanAttributes['peer.service'] = 'twilio'`,
      window('error-burst'),
    );
    expect(Number(r!.n)).toBeGreaterThan(10);
    expect(r!.inside).toBeGreaterThan(0.5);
    expect(r!.outside).toBeLessThan(0.1);
  });

  it('token leak: findings for the Slack token in URLs, in the window only, and the token stored nowhere', async () => {
    const leak = window('token-leak');
    const findings = await rows<{ rule: string; ts: string; peer: string }>(
      `SELECT Rule AS rule, ${TS} AS ts, Peer AS peer FROM $db.chainwatch_findings WHERE ServiceName = 'webhook-relay' AND Location = 'span.attributes["url.full"]'`,
    );
    expect(findings.length).toBeGreaterThan(0);
    expect(findings.every((f) => Number(f.ts) >= leak.from && Number(f.ts) < leak.to)).toBe(true);
    expect(new Set(findings.map((f) => f.rule))).toEqual(new Set(['slack_bot_token']));
    expect(new Set(findings.map((f) => f.peer))).toEqual(new Set(['slack']));
    const urls = await rows<{ url: string }>(`SELECT DISTINCT SpanAttributes['url.full'] AS url FROM $db.otel_traces WHERE SpanAttributes['peer.service'] = 'slack' AND ${INSIDE}`, leak);
    expect(urls.map((u) => u.url.replace(/channel=\w+/, 'channel=C'))).toEqual(['https://slack.com/api/chat.postMessage?token=[REDACTED:slack_bot_token]&channel=C']);
    for (const table of ['otel_traces', 'chainwatch_findings']) expect((await dump(table)).includes(demo.estate.credentials.slackBot)).toBe(false);
  });

  it('never-seen vendor: Anthropic is absent before its time and called after it', async () => {
    const { from } = window('new-vendor');
    const [r] = await rows<{ first: string; n: string; scheme: string[] }>(
      `SELECT min(${TS}) AS first, count() AS n, groupUniqArray(SpanAttributes['chainwatch.auth.scheme']) AS scheme FROM $db.otel_traces WHERE SpanAttributes['peer.service'] = 'anthropic'`,
    );
    expect(Number(r!.n)).toBeGreaterThan(5);
    expect(Number(r!.first)).toBeGreaterThanOrEqual(from);
    expect(r!.scheme).toEqual(['ApiKey']);
  });

  it('auth downgrade: checkout → payments calls go from Bearer to None in the window, and back', async () => {
    const [r] = await rows<{ inside: string[]; outside: string[]; n: string }>(
      `SELECT groupUniqArrayIf(SpanAttributes['chainwatch.auth.scheme'], ${INSIDE}) AS inside, groupUniqArrayIf(SpanAttributes['chainwatch.auth.scheme'], NOT ${INSIDE}) AS outside, countIf(${INSIDE}) AS n
       FROM $db.otel_traces WHERE SpanKind = 'SPAN_KIND_CLIENT' AND ServiceName = 'checkout' AND SpanAttributes['peer.service'] = 'payments'`,
      window('auth-downgrade'),
    );
    expect(Number(r!.n)).toBeGreaterThan(10);
    expect(r!.inside).toEqual(['None']);
    expect(r!.outside).toEqual(['Bearer']);
  });

  it('maps every outgoing call to a call edge, and raises the posture findings the incidents cause', async () => {
    const [counts] = await rows<{ calls: string; spans: string; services: string; edges: string }>(
      `SELECT (SELECT sum(Calls) FROM $db.chainwatch_edge_minutes FINAL) AS calls, (SELECT count() FROM $db.otel_traces WHERE ${CALLS}) AS spans,
              (SELECT uniqExact(ServiceName) FROM $db.chainwatch_edges) AS services, (SELECT uniqExact(EdgeId) FROM $db.chainwatch_edges) AS edges`,
    );
    expect(Number(counts!.calls)).toBe(Number(counts!.spans));
    expect(Number(counts!.services)).toBe(SERVICE_NAMES.length);
    expect(Number(counts!.edges)).toBeGreaterThan(15);
    const finding = async (kind: string, service: string, peer: string): Promise<{ n: string; at: string }> =>
      (await rows<{ n: string; at: string }>(`SELECT count() AS n, toString(min(${TS})) AS at FROM $db.chainwatch_posture_findings FINAL WHERE Kind = {kind:String} AND ServiceName = {service:String} AND Peer = {peer:String}`, { kind, service, peer }))[0]!;
    // The never-seen vendor is a new edge, raised once, no earlier than it was first called.
    const anthropic = await finding('new_edge', 'catalog', 'anthropic');
    expect(Number(anthropic.n)).toBe(1);
    expect(Number(anthropic.at)).toBeGreaterThanOrEqual(window('new-vendor').from);
    // The auth downgrade: checkout → payments without a credential, first seen inside the window.
    const downgrade = await finding('unauthenticated_call', 'checkout', 'payments');
    const { from, to } = window('auth-downgrade');
    expect(Number(downgrade.n)).toBe(1);
    expect(Number(downgrade.at)).toBeGreaterThanOrEqual(from);
    expect(Number(downgrade.at)).toBeLessThan(to);
    const [plaintext] = await rows<{ n: string }>(`SELECT count() AS n FROM $db.chainwatch_posture_findings FINAL WHERE Kind = 'plaintext_call'`);
    expect(Number(plaintext!.n)).toBeGreaterThan(0);
  });

  it('traffic cliff: the span rate of search drops in the window', async () => {
    const cliff = window('traffic-cliff');
    const span = cliff.to - cliff.from;
    const [r] = await rows<{ before: string; inside: string }>(
      `SELECT countIf(${TS} >= {before:Int64} AND ${TS} < {from:Int64}) AS before, countIf(${INSIDE}) AS inside FROM $db.otel_traces WHERE ServiceName = 'search'`,
      { ...cliff, before: cliff.from - span },
    );
    expect(Number(r!.before)).toBeGreaterThan(50);
    expect(Number(r!.inside)).toBeLessThan(0.2 * Number(r!.before));
  });

  it('stores the demo log records, correlated with their traces and redacted', async () => {
    expect(stats.exported.logs).toEqual({ exported: stats.logRecords, failed: 0 });
    const [total] = await rows<{ n: string; services: string }>('SELECT count() AS n, uniqExact(ServiceName) AS services FROM $db.otel_logs');
    expect(Number(total!.n)).toBe(stats.logRecords);
    expect(Number(total!.services)).toBe(SERVICE_NAMES.length);
    const severities = await rows<{ s: string }>('SELECT DISTINCT SeverityText AS s FROM $db.otel_logs ORDER BY s');
    expect(severities.map((r) => r.s)).toEqual(expect.arrayContaining(['ERROR', 'INFO', 'WARN']));
    // Every record sits in a stored trace.
    const [orphans] = await rows<{ n: string }>('SELECT count() AS n FROM $db.otel_logs WHERE TraceId NOT IN (SELECT TraceId FROM $db.otel_traces)');
    expect(Number(orphans!.n)).toBe(0);
    const [attributes] = await rows<{ n: string }>(`SELECT count() AS n FROM $db.otel_logs WHERE LogAttributes['order.id'] != ''`);
    expect(Number(attributes!.n)).toBeGreaterThan(0);
    // The token leak reaches the logs too: masked, with a finding located in the body.
    const leak = window('token-leak');
    const bodies = await rows<{ body: string }>(`SELECT Body AS body FROM $db.otel_logs WHERE ServiceName = 'webhook-relay' AND SeverityText = 'WARN' AND ${INSIDE}`, leak);
    expect(bodies.length).toBeGreaterThan(0);
    expect(bodies.every((b) => b.body.includes('?token=[REDACTED:slack_bot_token]'))).toBe(true);
    const [logFindings] = await rows<{ n: string }>(
      `SELECT count() AS n FROM $db.chainwatch_findings WHERE ServiceName = 'webhook-relay' AND startsWith(Location, 'log.body') AND ${INSIDE}`,
      leak,
    );
    expect(Number(logFindings!.n)).toBe(bodies.length);
    const text = await dump('otel_logs');
    const c = demo.estate.credentials;
    for (const secret of [c.slackBot, Buffer.from(`${c.twilioNotifications.sid}:${c.twilioNotifications.secret}`).toString('base64')]) expect(text.includes(secret)).toBe(false);
    expect(text).not.toMatch(/eyJ[\w-]{10,}\.eyJ/);
  });
});
