/**
 * The sla role on the real embedded engine, fed as a deployment feeds it: the inventory's edge
 * registry stores each batch of partials, then the sla stage consumes the same batch. An error
 * burst fires one critical burn-rate alert at the minute the workbook's rule says and resolves it
 * when the 30-minute window is clean — also across a restart in the middle, which rebuilds the
 * windows and the alert state from ClickHouse and neither fires again nor loses the resolution.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/logger.js';
import type { StageContext } from '../../pipeline/stage.js';
import type { AlertEvent } from '../../schemas/alerts.js';
import { configSchema } from '../../schemas/config.js';
import { LATENCY_BUCKET_BOUNDS_MS, type EdgePartial, type PlacedEdgePartial } from '../../schemas/edges.js';
import { testEngineDir, uniqueName } from '../../test/harness/chainwatch.js';
import { alertEventsOf, processAndStore } from '../../test/harness/stages.js';
import { edgeId } from '../inventory/call-edges.js';
import { EdgeRegistryStage } from '../inventory/edge-registry-stage.js';
import { migrate, openClickHouse, type ClickHouse } from '../storage/clickhouse.js';
import { SlaStage } from './sla-stage.js';

const M0 = 1_763_900_040;

function partial(service: string, peer: string, minute: number, calls: number, errors: number, slow = 0): EdgePartial {
  const buckets = new Array<number>(LATENCY_BUCKET_BOUNDS_MS.length + 1).fill(0);
  buckets[2] = calls - slow; // ≤ 25 ms
  buckets[9] = slow; // ≤ 5000 ms
  const first = BigInt(M0 + minute * 60) * 1_000_000_000n;
  return {
    edge_id: edgeId('', service, 'service', peer),
    tenant: '',
    service,
    peer,
    peer_kind: 'service',
    minute: M0 + minute * 60,
    source: `spans/0/${minute}`,
    calls,
    errors,
    plaintext: 0,
    unauthenticated: 0,
    duration_sum_ms: calls * 20 + slow * 4000,
    duration_max_ms: slow > 0 ? 4000 : 20,
    latency_buckets: buckets,
    auth_schemes: [],
    max_credential_lifetime_s: 0,
    first_ns: first.toString(),
    last_ns: first.toString(),
    trace_id: 'ab'.repeat(16),
    span_id: 'cd'.repeat(8),
    examples: {},
  };
}

/** Six hours of steady traffic (an error every 17 minutes), then an 11-minute burst of 50% errors. */
function burstTraffic(service: string, m: number): EdgePartial[] {
  const burst = m >= 400 && m <= 410;
  return [partial(service, 'stripe', m, 100, burst ? 50 : m % 17 === 0 ? 1 : 0), partial(`${service}-search`, 'index', m, 50, m % 23 === 0 ? 1 : 0)];
}

describe('sla stage', () => {
  let ch: ClickHouse;
  /** Next offset per partition of the edges topic. */
  const offsets = new Map<number, number>();
  const place = (partials: EdgePartial[], partition = 0): PlacedEdgePartial[] =>
    partials.map((partial) => {
      const offset = offsets.get(partition) ?? 0;
      offsets.set(partition, offset + 1);
      return { partial, offset: String(offset) };
    });
  const config = configSchema.parse({
    stages: { sla: { objectives: ['checkout', 'checkout-batched'].map((service) => ({ service, peer: 'stripe', availability: 0.999, latency_ms: 1000, latency_target: 0.99 })) } },
  }).stages.sla;
  const ctx = (batchId: string, generation = 1, partition = 0): StageContext => ({ batchId, partition, signal: new AbortController().signal, assignmentGeneration: generation });
  const newSla = (): SlaStage => new SlaStage({ clickhouse: ch, config, alertsTopic: 'alerts', logger: silentLogger() });
  let registry: EdgeRegistryStage;

  /** One minute of traffic through the inventory's registry, then the sla stage; the events it publishes. */
  async function minute(sla: SlaStage, partials: EdgePartial[], partition = 0): Promise<AlertEvent[]> {
    const placed = place(partials, partition);
    const id = `edges/${partition}/${placed[0]!.offset}-${placed.at(-1)!.offset}`;
    await processAndStore(registry, placed, ctx(id, 1, partition));
    return alertEventsOf(await processAndStore(sla, placed, ctx(id, 1, partition)));
  }

  beforeAll(async () => {
    ch = await openClickHouse({ kind: 'embedded', path: testEngineDir(), database: uniqueName('sla'), username: 'default', password: '' });
    await migrate(ch);
    registry = new EdgeRegistryStage({ clickhouse: ch, longLivedCredentialS: 86_400, maxTrackedEdges: 1000 });
  });
  afterAll(async () => {
    await ch?.close();
  });

  it('fires each tier at the minute the multiwindow rule says, survives a restart, and resolves each when its short window is clean', async () => {
    let sla = newSla();
    await sla.start();
    const events: { minute: number; event: AlertEvent }[] = [];
    const traffic = (m: number): EdgePartial[] => burstTraffic('checkout', m);
    for (let m = 0; m < 450; m++) {
      if (m === 420) sla = newSla(); // a restart while the 6 h tier fires
      for (const event of await minute(sla, traffic(m))) events.push({ minute: m, event });
    }
    // Minute 401, 1 h window: 100 + 3 bad calls in 6,000 = 1.72%, 17.2× a 0.1% budget (> 14.4), 5 min: 200×.
    // Minute 403, 6 h window: 200 + 21 bad in 36,000 = 0.61%, 6.1× (> 6), 30 min: 67×.
    // The 1 h tier resolves once its 5 minutes are clean (415), the 6 h tier once its 30 are (440).
    expect(events.map(({ minute: m, event: e }) => [m, e.status, e.rule, e.severity, e.service, e.peer])).toEqual([
      [401, 'firing', 'slo_availability_burn_rate_1h', 'critical', 'checkout', 'stripe'],
      [403, 'firing', 'slo_availability_burn_rate_6h', 'warning', 'checkout', 'stripe'],
      [415, 'resolved', 'slo_availability_burn_rate_1h', 'critical', 'checkout', 'stripe'],
      [440, 'resolved', 'slo_availability_burn_rate_6h', 'warning', 'checkout', 'stripe'],
    ]);
    const byRule = (rule: string, status: string): AlertEvent => events.find((e) => e.event.rule === rule && e.event.status === status)!.event;
    const at = (m: number): string => new Date((M0 + m * 60) * 1000).toISOString();
    const fired = byRule('slo_availability_burn_rate_6h', 'firing');
    const resolved = byRule('slo_availability_burn_rate_6h', 'resolved');
    expect([fired.starts_at, resolved.starts_at, resolved.ends_at, fired.ends_at]).toEqual([at(403), at(403), at(440), null]);
    expect(resolved.fingerprint).toBe(fired.fingerprint);
    expect(byRule('slo_availability_burn_rate_1h', 'firing').values).toMatchObject({ burn_rate_1h: 17.17, calls_1h: 6000, bad_calls_1h: 103 });
    expect(sla.alertsFired).toBe(0); // the restarted instance fired nothing again…
    expect(sla.alertsResolved).toBe(1); // …and resolved what the first one had fired
    expect(sla.windows.edgesLoaded).toBe(2);

    const [row] = await (
      await ch.client.query({
        query: `SELECT toUInt32(count()) AS n, toUInt32(sum(Firing1h)) AS f1, toUInt32(sum(Firing6h)) AS f6 FROM ${ch.database}.chainwatch_slo_status FINAL WHERE ServiceName = 'checkout' AND Sli = 'availability'`,
        format: 'JSONEachRow',
      })
    ).json<{ n: number; f1: number; f6: number }>();
    expect(row).toEqual({ n: 450, f1: 415 - 401, f6: 440 - 403 });
  });

  it('fires and resolves at the same minutes whatever batches the stream comes in', async () => {
    const sla = newSla();
    const events: string[] = [];
    for (let m = 0; m < 450; m += 7) {
      const partials = Array.from({ length: Math.min(7, 450 - m) }, (_, i) => burstTraffic('checkout-batched', m + i)).flat();
      // Its own partition: the partition's "now" is the latest minute of any of its edges.
      for (const e of await minute(sla, partials, 1)) events.push(`${e.rule} ${e.status} ${(Date.parse(e.starts_at) / 1000 - M0) / 60}-${e.ends_at ? (Date.parse(e.ends_at) / 1000 - M0) / 60 : ''}`);
    }
    expect(events).toEqual(['slo_availability_burn_rate_1h firing 401-', 'slo_availability_burn_rate_6h firing 403-', 'slo_availability_burn_rate_1h resolved 401-415', 'slo_availability_burn_rate_6h resolved 403-440']);
  });

  it('fires on latency too, and republishes the same event when a batch is replayed', async () => {
    const sla = newSla();
    const fired: { minute: number; event: AlertEvent }[] = [];
    let replayed: AlertEvent[] = [];
    let retriedIds: string[] = [];
    for (let m = 1000; m < 1070; m++) {
      // An hour fast, then every call of billing → ledger over 1 s (a 99% within 1 s objective).
      const partials = [partial('billing', 'ledger', m, 200, 0, m >= 1060 ? 200 : 0)];
      const placed = place(partials);
      const id = `edges/0/${placed[0]!.offset}-${placed.at(-1)!.offset}`;
      await processAndStore(registry, placed, ctx(id));
      const out = await sla.process(placed, ctx(id));
      fired.push(...alertEventsOf(out).map((event) => ({ minute: m, event })));
      if (m === 1068) {
        // The events went out, then the process died before `after`: the replay says the same.
        replayed = alertEventsOf(await newSla().process(placed, ctx(id)));
        // The publish failed and the runner retries the batch on the same instance: the same again.
        retriedIds = alertEventsOf(await processAndStore(sla, placed, ctx(id))).map((e) => e.id);
        continue;
      }
      await out.after?.();
    }
    // 6 h tier at 1063 (800 slow of 13,000 calls in the 64 minutes seen: 6.2×), 1 h tier at 1068 (1,800 of 12,000: 15×).
    expect(fired.map(({ minute: m, event: e }) => [m, e.rule, e.status, e.peer, e.severity])).toEqual([
      [1063, 'slo_latency_burn_rate_6h', 'firing', 'ledger', 'warning'],
      [1068, 'slo_latency_burn_rate_1h', 'firing', 'ledger', 'critical'],
    ]);
    expect(fired[1]!.event.labels).toEqual({ sli: 'latency', tier: '1h', objective: '0.99', latency_ms: '1000' });
    expect(replayed.map((e) => e.id)).toEqual([fired[1]!.event.id]);
    expect(retriedIds).toEqual([fired[1]!.event.id]);
  });
});
