/**
 * The anomaly stage on the real embedded ClickHouse engine, fed as the deployment feeds it: spans
 * → call-edge partials (the inventory's first step) on a partition of the edges topic, one batch
 * per minute with 15% of each minute's calls arriving a batch late (from another span
 * partition), stored by the inventory's edge registry (which the windows rebuild from), then
 * judged. Two hours of seeded traffic per edge (~100 calls a minute, latencies log-normal around
 * 60 ms with a heavy tail, 1% errors), then an incident:
 *
 * - a latency spike, an error burst and a traffic cliff each fire one alert of their detector,
 *   from the first anomalous minute, and resolve after the recovery; the detection delay is
 *   measured;
 * - the same traffic without an incident fires nothing in two hours (and does at a low threshold);
 * - a restart (new instance) before and during the firing, a batch processed twice (by the same
 *   instance, and by a new one after a crash before the commit) and a rebalance give the same
 *   events at the same batches as an uninterrupted run; stale memory after a rebalance does not.
 */
import { seededRandom as random } from '../redaction/sample-credentials.js';
import { standardNormal } from '../../demo/seeded-random.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/logger.js';
import type { StageContext, StageOutput } from '../../pipeline/stage.js';
import { anomalyStageConfigSchema, type AnomalyStageConfig } from '../../schemas/anomaly-config.js';
import { alertFingerprint, decodeAlertEvents, type AlertEvent } from '../../schemas/alerts.js';
import { clusterStatements } from '../../schemas/clickhouse/cluster-ddl.js';
import { ANOMALY_MIGRATION, MIGRATIONS } from '../../schemas/clickhouse/migrations.js';
import type { PlacedEdgePartial } from '../../schemas/edges.js';
import { createSpan, createTracesData, SpanKind, StatusCode, type Span, type TracesData } from '../../schemas/otlp-traces.js';
import { testEngineDir, uniqueName } from '../../test/harness/chainwatch.js';
import { processAndStore } from '../../test/harness/stages.js';
import { edgeId, edgePartials } from '../inventory/call-edges.js';
import { EdgeRegistryStage } from '../inventory/edge-registry-stage.js';
import { migrate, openClickHouse, type ClickHouse } from '../storage/clickhouse.js';
import { AnomalyStage } from './anomaly-stage.js';
import type { Detector } from './detectors.js';

/** The first minute of every stream (unix seconds, a minute start). */
const T0 = 1_763_900_040;
const ALERTS = 'chainwatch.alerts';
const CONFIG: AnomalyStageConfig = anomalyStageConfigSchema.parse({});
const iso = (minuteIndex: number): string => new Date((T0 + minuteIndex * 60) * 1000).toISOString();


interface Incident {
  /** Minute indexes [from, to] of the stream. */
  from: number;
  to: number;
  latencyFactor?: number;
  errorRate?: number;
  callsFactor?: number;
}

interface EdgeSpec {
  service: string;
  peer: string;
  seed: number;
  /** Mean calls per minute. @default 100 */
  calls?: number;
  /** Median latency (ms). @default 60 */
  medianMs?: number;
  incident?: Incident;
}

interface Batch {
  index: number;
  batchId: string;
  placed: PlacedEdgePartial[];
}

let spanSeq = 0;

/** The batches of one partition of the edges topic: one per minute, each minute's calls 85% on time and 15% in the next batch. */
function stream(tag: string, minutes: number, edges: readonly EdgeSpec[], start = { minute: 0, offset: 0 }): Batch[] {
  const rngs = edges.map((e) => random(e.seed));
  let late = new Map<string, Span[]>();
  let offset = start.offset;
  const batches: Batch[] = [];
  for (let i = start.minute; i < start.minute + minutes; i++) {
    const onTime = new Map<string, Span[]>(late);
    late = new Map();
    edges.forEach((e, k) => {
      const rnd = rngs[k]!;
      const inc = e.incident && i >= e.incident.from && i <= e.incident.to ? e.incident : undefined;
      const mean = (e.calls ?? 100) * (inc?.callsFactor ?? 1);
      const calls = Math.max(0, Math.round(mean + Math.sqrt(mean) * standardNormal(rnd)));
      for (let c = 0; c < calls; c++) {
        const ms = (e.medianMs ?? 60) * Math.exp(0.4 * standardNormal(rnd)) * (rnd() < 0.01 ? 8 : 1) * (inc?.latencyFactor ?? 1);
        const error = rnd() < (inc?.errorRate ?? 0.01);
        const start = BigInt(T0 + i * 60) * 1_000_000_000n + BigInt(Math.floor(rnd() * 59_000)) * 1_000_000n;
        spanSeq++;
        const span = createSpan({
          traceId: spanSeq.toString(16).padStart(32, '0'),
          spanId: spanSeq.toString(16).padStart(16, '0'),
          kind: SpanKind.CLIENT,
          startTimeUnixNano: start,
          endTimeUnixNano: start + BigInt(Math.round(ms * 1e6)),
          attributes: [{ key: 'peer.service', value: e.peer }],
          status: { message: '', code: error ? StatusCode.ERROR : StatusCode.UNSET },
        });
        const into = rnd() < 0.85 ? onTime : late;
        const list = into.get(e.service);
        if (list) list.push(span);
        else into.set(e.service, [span]);
      }
    });
    const requests: TracesData[] = [...onTime].map(([service, spans]) => createTracesData(service, spans));
    const placed = edgePartials(requests, `${tag}/${i}`).map((partial) => ({ partial, offset: String(offset++) }));
    batches.push({ index: i, batchId: `${tag}/${placed[0]!.offset}-${placed[placed.length - 1]!.offset}`, placed });
  }
  return batches;
}

interface Published {
  batch: number;
  event: AlertEvent;
}

const eventsOf = (out: StageOutput | void): AlertEvent[] =>
  (out?.publish ?? []).flatMap((p) => {
    expect(p.topic).toBe(ALERTS);
    return p.messages.flatMap((m) => {
      const events = decodeAlertEvents(m.value); // the AlertEvent contract, checked
      for (const e of events) expect(m.key).toBe(e.fingerprint);
      return events;
    });
  });

const fingerprint = (detector: Detector, service: string, peer: string): string => alertFingerprint('anomaly', `${detector}_anomaly`, edgeId('', service, 'service', peer));

describe('stages.anomaly config', () => {
  it('has its defaults in the schema and names the key and the expectation in every error', () => {
    expect(anomalyStageConfigSchema.parse(undefined)).toEqual({
      batch_size: 1000,
      max_wait_ms: 100,
      retry_initial_ms: 100,
      retry_max_ms: 10_000,
      baseline_minutes: 60,
      threshold: 6,
      min_calls: 20,
      consecutive_minutes: 2,
      resolve_after_minutes: 5,
      close_after_minutes: 2,
    });
    const problems = anomalyStageConfigSchema.safeParse({ baseline_minutes: 5, threshold: 1, min_calls: 0, consecutive_minutes: 1.5, retry_initial_ms: 500, retry_max_ms: 100, windows: 3 });
    expect(problems.success).toBe(false);
    const issues = problems.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).sort();
    expect(issues).toEqual([
      ': Unrecognized key: "windows"',
      'baseline_minutes: expected a whole number of minutes from 10 to 1440, got 5',
      'consecutive_minutes: expected a whole number of minutes from 1 to 60, got 1.5',
      'min_calls: expected a positive whole number of calls, got 0',
      'threshold: expected a number greater than 1 (a robust z-score), got 1',
    ]);
    const cap = anomalyStageConfigSchema.safeParse({ retry_initial_ms: 500, retry_max_ms: 100 });
    expect(cap.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['retry_max_ms: must be at least retry_initial_ms (500)']);
  });
});

describe('anomaly stage', () => {
  let ch: ClickHouse;
  const signal = new AbortController().signal;
  const ctx = (batch: Batch, partition: number, assignmentGeneration?: number): StageContext => ({ batchId: batch.batchId, partition, signal, assignmentGeneration });
  const stage = (config: AnomalyStageConfig = CONFIG): AnomalyStage => new AnomalyStage({ clickhouse: ch, config, alertsTopic: ALERTS, logger: silentLogger(), rebuildWaitMs: 0 });
  const rows = async <T>(query: string): Promise<T[]> => (await ch.client.query({ query: query.replaceAll('DB.', `${ch.database}.`), format: 'JSONEachRow' })).json<T>();

  /** The inventory's edge owner stores the partition's partials first (the windows rebuild from them). */
  async function store(batches: readonly Batch[], partition: number): Promise<void> {
    const registry = new EdgeRegistryStage({ clickhouse: ch, longLivedCredentialS: 86_400, maxTrackedEdges: 1000 });
    for (const b of batches) await processAndStore(registry, b.placed, ctx(b, partition));
  }

  /** Runs batches [from, to) through a stage as the runner does: process, publish, then `after`. */
  async function feed(s: AnomalyStage, batches: readonly Batch[], from: number, to: number, partition: number, generation?: number): Promise<Published[]> {
    const published: Published[] = [];
    for (const b of batches.slice(from, to)) {
      const out = await processAndStore(s, b.placed, ctx(b, partition, generation));
      for (const event of eventsOf(out)) published.push({ batch: b.index, event });
    }
    return published;
  }

  const timeline = (published: readonly Published[]): string[] => published.map((p) => `${p.batch} ${p.event.rule} ${p.event.status} ${p.event.starts_at} ${p.event.ends_at ?? '-'}`);

  /**
   * What an uninterrupted run gives for a latency incident on minutes [from, to], every one of
   * them anomalous and none other: firing once the run is `consecutive_minutes` long and its last
   * minute closed, resolved once `resolve_after_minutes` minutes without an anomaly closed.
   */
  const expectedLatencyTimeline = (from: number, to: number): string[] => [
    `${from + CONFIG.consecutive_minutes - 1 + CONFIG.close_after_minutes} latency_anomaly firing ${iso(from)} -`,
    `${to + CONFIG.resolve_after_minutes + CONFIG.close_after_minutes} latency_anomaly resolved ${iso(from)} ${iso(to + 1)}`,
  ];

  /** Rows of an edge per detector and minute, without FINAL: a replay must not have stored any twice. */
  const duplicateRows = async (service: string): Promise<number> =>
    Number((await rows<{ n: string }>(`SELECT count() AS n FROM (SELECT Detector, Minute, count() AS c FROM DB.chainwatch_anomalies WHERE ServiceName = '${service}' GROUP BY Detector, Minute HAVING c > 1)`))[0]!.n);

  beforeAll(async () => {
    ch = await openClickHouse({ kind: 'embedded', path: testEngineDir(), database: uniqueName('anomaly'), username: 'default', password: '' });
    await migrate(ch);
  });
  afterAll(async () => {
    await ch?.close();
  });

  it('migration 9 creates chainwatch_anomalies idempotently, with a cluster form', async () => {
    expect(MIGRATIONS).toContain(ANOMALY_MIGRATION);
    expect((await migrate(ch)).alreadyApplied.map((m) => m.version)).toContain(ANOMALY_MIGRATION.version);
    for (const statement of ANOMALY_MIGRATION.statements(ch.database)) await ch.client.command({ query: statement });
    const [local, distributed] = clusterStatements(ANOMALY_MIGRATION.statements('cw')[0]!, 'c1');
    expect(local).toMatch(/^CREATE TABLE IF NOT EXISTS cw\.chainwatch_anomalies_local ON CLUSTER c1 [\s\S]* ENGINE = ReplicatedReplacingMergeTree\('[^']+', '\{replica\}'\)[\s\S]*replicated_deduplication_window/);
    expect(distributed).toMatch(/ENGINE = Distributed\(c1, cw, chainwatch_anomalies_local, /);
    await expect(new AnomalyStage({ clickhouse: { ...ch, database: 'no_such_db' }, config: CONFIG, alertsTopic: ALERTS, logger: silentLogger() }).start()).rejects.toThrow(/chainwatch migrate/);
  });

  describe('incidents', () => {
    // Two hours of history, then the incidents at minute 120; 160 minutes in all.
    const SPIKE = { from: 120, to: 125 };
    const BURST = { from: 120, to: 125 };
    const CLIFF = { from: 120, to: 127 };
    const edges: EdgeSpec[] = [
      { service: 'checkout', peer: 'stripe', seed: 1, incident: { ...SPIKE, latencyFactor: 12 } },
      { service: 'checkout', peer: 'ledger', seed: 2, incident: { ...BURST, errorRate: 0.7 } },
      { service: 'orders', peer: 'twilio', seed: 3, incident: { ...CLIFF, callsFactor: 0.05 } },
      { service: 'orders', peer: 'search', seed: 4 },
    ];
    let s: AnomalyStage;
    let published: Published[];
    const of = (service: string, peer: string): Published[] => published.filter((p) => p.event.service === service && p.event.peer === peer);

    beforeAll(async () => {
      const batches = stream('incidents', 160, edges);
      await store(batches, 1);
      s = stage();
      await s.start();
      published = await feed(s, batches, 0, batches.length, 1);
    }, 180_000);

    it('a latency spike ×12 for 6 minutes fires one latency alert from its first minute, resolved after the recovery', async () => {
      const events = of('checkout', 'stripe');
      expect(timeline(events)).toEqual(expectedLatencyTimeline(SPIKE.from, SPIKE.to));
      const [firing, resolved] = events.map((p) => p.event);
      expect(firing).toMatchObject({ status: 'firing', source: 'anomaly', severity: 'warning', rule: 'latency_anomaly', fingerprint: fingerprint('latency', 'checkout', 'stripe'), ends_at: null });
      expect(firing!.summary).toMatch(/^checkout → stripe latency \d+ ms, baseline \d+ ms \(z \d+\.\d\)$/);
      expect(firing!.values['observed']! / firing!.values['expected']!).toBeGreaterThan(8);
      expect(resolved!.id).not.toBe(firing!.id);
      const delay = events[0]!.batch - SPIKE.from;
      console.info(`latency spike: fired ${delay} min after the incident began (${firing!.summary}); resolved ${events[1]!.batch - SPIKE.to} min after its last minute`);

      const anomalous = await rows<{ Minute: number; Firing: number; Anomalous: number; StartsAt: number }>(
        `SELECT toUnixTimestamp(Minute) AS Minute, Firing, Anomalous, toUnixTimestamp(StartsAt) AS StartsAt FROM DB.chainwatch_anomalies FINAL
         WHERE ServiceName = 'checkout' AND Peer = 'stripe' AND Detector = 'latency' ORDER BY Minute`,
      );
      const minute = (i: number): number => T0 + i * 60;
      expect(anomalous).toEqual([
        ...[120, 121, 122, 123, 124, 125].map((i) => ({ Minute: minute(i), Firing: i === 120 ? 0 : 1, Anomalous: 1, StartsAt: minute(120) })),
        { Minute: minute(130), Firing: 0, Anomalous: 0, StartsAt: minute(120) },
      ]);
    });

    it('an error burst (70% errors) fires one error_rate alert, and a latency spike or an error burst nothing else', () => {
      const events = of('checkout', 'ledger');
      expect(events.map((p) => `${p.event.rule} ${p.event.status} ${p.event.starts_at}`)).toEqual([`error_rate_anomaly firing ${iso(BURST.from)}`, `error_rate_anomaly resolved ${iso(BURST.from)}`]);
      expect(events[0]!.event.summary).toMatch(/^checkout → ledger error rate \d+\.\d%, baseline \d+\.\d% \(z \d+\.\d\)$/);
      console.info(`error burst: fired ${events[0]!.batch - BURST.from} min after the incident began (${events[0]!.event.summary})`);
    });

    it('a traffic cliff (5% of calls) fires one volume alert; its few calls are not judged for latency or errors', () => {
      const events = of('orders', 'twilio');
      expect(events.map((p) => `${p.event.rule} ${p.event.status} ${p.event.starts_at}`)).toEqual([`volume_anomaly firing ${iso(CLIFF.from)}`, `volume_anomaly resolved ${iso(CLIFF.from)}`]);
      expect(events[0]!.event.values['score']).toBeLessThan(-CONFIG.threshold);
      expect(events[0]!.event.values['observed']).toBeLessThan(0.25 * events[0]!.event.values['expected']!);
      expect(events[1]!.event.ends_at).toBe(iso(CLIFF.to + 1));
      console.info(`traffic cliff: fired ${events[0]!.batch - CLIFF.from} min after the incident began (${events[0]!.event.summary})`);
    });

    it('the steady neighbour is never alerted; counters agree with the events and rows', async () => {
      expect(of('orders', 'search')).toEqual([]);
      expect(published).toHaveLength(6);
      expect(s.alertsFired).toBe(3);
      expect(s.alertsResolved).toBe(3);
      expect(s.firingAlerts).toBe(0);
      const byDetector = await rows<{ Detector: Detector; n: string }>(`SELECT Detector, count() AS n FROM DB.chainwatch_anomalies FINAL WHERE ServiceName IN ('checkout', 'orders') GROUP BY Detector`);
      expect(Object.fromEntries(byDetector.map((r) => [r.Detector, Number(r.n)]))).toEqual(s.anomalies);
    });
  });

  it('noise alone fires no alert in two hours at the default threshold, and does at a low one', async () => {
    const edges: EdgeSpec[] = [
      { service: 'noise-a', peer: 'stripe', seed: 11 },
      { service: 'noise-a', peer: 'ledger', seed: 12, calls: 40, medianMs: 20 },
      { service: 'noise-b', peer: 'twilio', seed: 13, calls: 150, medianMs: 200 },
      { service: 'noise-b', peer: 'search', seed: 14, calls: 60, medianMs: 8 },
      { service: 'noise-c', peer: 'auth', seed: 15, calls: 25 },
    ];
    // An hour to fill the baselines, then two hours judged.
    const batches = stream('noise', 180, edges);
    await store(batches, 4);
    const strict = stage();
    const fired = await feed(strict, batches, 0, batches.length, 4);
    const [minutes] = await rows<{ n: string }>(`SELECT count() AS n FROM DB.chainwatch_anomalies FINAL WHERE ServiceName LIKE 'noise-%' AND Anomalous = 1`);

    // The same partials judged at threshold 3 (another consumer group, as it were: own batch ids).
    const loose = stage(anomalyStageConfigSchema.parse({ threshold: 3 }));
    const looseFired = await feed(loose, batches.map((b) => ({ ...b, batchId: `loose/${b.batchId}` })), 0, batches.length, 40);
    console.info(
      `noise, 5 edges × 180 minutes (judged from minute 30, once half a baseline exists) × 3 detectors: threshold 6 → ${fired.length} events, ${minutes!.n} anomalous minutes; ` +
        `threshold 3 → ${looseFired.filter((p) => p.event.status === 'firing').length} alerts fired (${[...new Set(looseFired.map((p) => p.event.rule))].join(', ')})`,
    );
    expect(fired).toEqual([]);
    expect(looseFired.filter((p) => p.event.status === 'firing').length).toBeGreaterThan(0);
  }, 180_000);

  it('restarts before and during a firing alert: the same events at the same batches as an uninterrupted run', async () => {
    const batches = stream('restart', 140, [{ service: 'restart', peer: 'stripe', seed: 1, incident: { from: 120, to: 125, latencyFactor: 12 } }]);
    await store(batches, 5);
    // a: until minute 120 is judged anomalous (a run not fired yet); b: fires, then stops while firing; c: resolves.
    const a = stage();
    const b = stage();
    const c = stage();
    const published = [...(await feed(a, batches, 0, 123, 5)), ...(await feed(b, batches, 123, 128, 5)), ...(await feed(c, batches, 128, batches.length, 5))];
    expect(timeline(published)).toEqual(expectedLatencyTimeline(120, 125));
    expect(published.map((p) => p.event.starts_at)).toEqual([iso(120), iso(120)]);
    expect(b.alertStatesLoaded).toBe(1); // the run of one anomalous minute
    expect(c.alertStatesLoaded).toBe(1); // the firing alert
    expect([a.alertsFired, b.alertsFired, c.alertsFired, c.alertsResolved]).toEqual([0, 1, 0, 1]);
    expect(await duplicateRows('restart')).toBe(0);
  }, 120_000);

  it('a batch processed twice, by the same instance or by a new one after a crash before the commit, gives the same events and one row per minute', async () => {
    const batches = stream('replay', 140, [{ service: 'replay', peer: 'stripe', seed: 1, incident: { from: 120, to: 125, latencyFactor: 12 } }]);
    await store(batches, 6);
    const firingAt = 120 + CONFIG.consecutive_minutes - 1 + CONFIG.close_after_minutes;
    const resolvingAt = 125 + CONFIG.resolve_after_minutes + CONFIG.close_after_minutes;
    const published: Published[] = [];

    const a = stage();
    published.push(...(await feed(a, batches, 0, firingAt, 6)));
    const first = await a.process(batches[firingAt]!.placed, ctx(batches[firingAt]!, 6));
    // The publish failed: the runner retries the batch on the same instance.
    const retried = await a.process(batches[firingAt]!.placed, ctx(batches[firingAt]!, 6));
    expect(eventsOf(first).map((e) => e.status)).toEqual(['firing']);
    expect(eventsOf(retried)).toEqual(eventsOf(first));
    // Then the worker crashed before the commit: another instance gets the batch again.
    const b = stage();
    const replayed = await processAndStore(b, batches[firingAt]!.placed, ctx(batches[firingAt]!, 6));
    expect(eventsOf(replayed)).toEqual(eventsOf(first));
    for (const event of eventsOf(replayed)) published.push({ batch: firingAt, event });

    published.push(...(await feed(b, batches, firingAt + 1, resolvingAt, 6)));
    const resolving = await b.process(batches[resolvingAt]!.placed, ctx(batches[resolvingAt]!, 6));
    expect(eventsOf(resolving).map((e) => e.status)).toEqual(['resolved']);
    const c = stage();
    const resolvedAgain = await processAndStore(c, batches[resolvingAt]!.placed, ctx(batches[resolvingAt]!, 6));
    expect(eventsOf(resolvedAgain)).toEqual(eventsOf(resolving));
    for (const event of eventsOf(resolvedAgain)) published.push({ batch: resolvingAt, event });
    published.push(...(await feed(c, batches, resolvingAt + 1, batches.length, 6)));

    expect(timeline(published)).toEqual(expectedLatencyTimeline(120, 125));
    expect(await duplicateRows('replay')).toBe(0);
    const [n] = await rows<{ n: string }>(`SELECT count() AS n FROM DB.chainwatch_anomalies WHERE ServiceName = 'replay'`);
    expect(Number(n!.n)).toBe(7); // six anomalous minutes and the resolution, each once
  }, 120_000);

  it('an alert whose edge left the windows (the partition fell silent for longer than the window) still resolves, in memory and after a restart', async () => {
    const run = async (service: string, partition: number, restart: boolean): Promise<Published[]> => {
      const before = stream(service, 126, [
        { service, peer: 'stripe', seed: 1, incident: { from: 120, to: 125, latencyFactor: 12 } },
        { service, peer: 'search', seed: 4 },
      ]);
      // Nothing on the partition for 100 minutes, then the neighbour alone.
      const last = before[before.length - 1]!.placed;
      const after = stream(`${service}-later`, 5, [{ service, peer: 'search', seed: 5 }], { minute: 226, offset: Number(last[last.length - 1]!.offset) + 1 });
      await store([...before, ...after], partition);
      const a = stage();
      const published = await feed(a, before, 0, before.length, partition);
      published.push(...(await feed(restart ? stage() : a, after, 0, after.length, partition)));
      return published;
    };
    // Minutes 124 and 125 left the window before they closed: the last anomalous minute judged is 123.
    const expected = [`123 latency_anomaly firing ${iso(120)} -`, `226 latency_anomaly resolved ${iso(120)} ${iso(124)}`];
    expect(timeline(await run('vanished', 9, false))).toEqual(expected);
    expect(timeline(await run('vanished-restart', 10, true))).toEqual(expected);
  }, 120_000);

  it('a rebalance rebuilds the state: the worker that gets the partition back resolves what another fired, and would not on stale memory', async () => {
    const run = async (service: string, partition: number, backGeneration: number): Promise<{ published: Published[]; a: AnomalyStage }> => {
      const batches = stream(service, 140, [
        { service, peer: 'stripe', seed: 1, incident: { from: 120, to: 125, latencyFactor: 12 } },
        { service, peer: 'search', seed: 4 },
      ]);
      await store(batches, partition);
      const a = stage();
      const b = stage();
      // a owns the partition, b takes it over while the alert fires, then a gets it back.
      const published = [...(await feed(a, batches, 0, 123, partition, 1)), ...(await feed(b, batches, 123, 128, partition, 1)), ...(await feed(a, batches, 128, batches.length, partition, backGeneration))];
      return { published, a };
    };
    const rebalanced = await run('rebalance', 7, 2);
    expect(timeline(rebalanced.published)).toEqual(expectedLatencyTimeline(120, 125));
    expect(rebalanced.a.edgesLoaded).toBe(2); // the partition's two edges, rebuilt after the rebalance (none existed at first)
    expect(rebalanced.a.alertStatesLoaded).toBe(1);
    expect(rebalanced.a.alertsFired).toBe(0);
    expect(rebalanced.a.alertsResolved).toBe(1);

    // Had a kept its memory (no generation change), it would judge on windows missing b's minutes.
    const stale = await run('rebalance-stale', 8, 1);
    console.info(`stale memory after a rebalance: ${timeline(stale.published).join('; ')}`);
    expect(timeline(stale.published)).not.toEqual(expectedLatencyTimeline(120, 125));
  }, 180_000);
});
