/**
 * The edge owner on the real embedded ClickHouse engine: posture findings are raised once per
 * edge and kind, across replays, restarts, rebalances and cache evictions, because the state is
 * rebuilt from ClickHouse rather than trusted from memory; per-minute statistics count a partial
 * published twice once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StageContext } from '../../pipeline/stage.js';
import type { PlacedEdgePartial } from '../../schemas/edges.js';
import type { KeyValue } from '../../schemas/otlp-common.js';
import { createSpan, createTracesData, SpanKind } from '../../schemas/otlp-traces.js';
import { testEngineDir, uniqueName } from '../../test/harness/chainwatch.js';
import { alertEventsOf, processAndStore } from '../../test/harness/stages.js';
import { migrate, openClickHouse, type ClickHouse } from '../storage/clickhouse.js';
import { edgePartials } from './call-edges.js';
import { EdgeRegistryStage } from './edge-registry-stage.js';

const T0 = 1_763_900_040_000_000_000n;
let seq = 0;

/** Partials of `calls` spans from `service` to each peer, with extra attributes, as the inventory step makes them. */
let offset = 0;
function partials(source: string, service: string, peers: string[], attributes: Record<string, string | bigint> = {}, calls = 1): PlacedEdgePartial[] {
  const spans = peers.flatMap((peer) =>
    Array.from({ length: calls }, () => {
      seq++;
      return createSpan({
        traceId: seq.toString(16).padStart(32, '0'),
        spanId: seq.toString(16).padStart(16, '0'),
        kind: SpanKind.CLIENT,
        startTimeUnixNano: T0 + BigInt(seq),
        endTimeUnixNano: T0 + BigInt(seq) + 5_000_000n,
        attributes: [{ key: 'peer.service', value: peer }, ...Object.entries(attributes).map(([key, value]): KeyValue => ({ key, value }))],
      });
    }),
  );
  return edgePartials([createTracesData(service, spans)], source).map((partial) => ({ partial, offset: String(offset++) }));
}

describe('edge registry', () => {
  let ch: ClickHouse;
  const ctx = (batchId: string, assignmentGeneration?: number): StageContext => ({ batchId, partition: 0, signal: new AbortController().signal, assignmentGeneration });
  const stage = (maxTrackedEdges = 1000): EdgeRegistryStage => new EdgeRegistryStage({ clickhouse: ch, longLivedCredentialS: 86_400, maxTrackedEdges });
  const rows = async <T>(query: string): Promise<T[]> => (await ch.client.query({ query: query.replaceAll('DB.', `${ch.database}.`), format: 'JSONEachRow' })).json<T>();
  const findings = async (service: string): Promise<string[]> =>
    (await rows<{ Peer: string; Kind: string }>(`SELECT Peer, Kind FROM DB.chainwatch_posture_findings WHERE ServiceName = '${service}' ORDER BY Peer, Kind`)).map((r) => `${r.Peer} ${r.Kind}`);
  const calls = async (service: string): Promise<Record<string, number>> =>
    Object.fromEntries((await rows<{ Peer: string; n: string }>(`SELECT Peer, sum(Calls) AS n FROM DB.chainwatch_edge_minutes FINAL WHERE ServiceName = '${service}' GROUP BY Peer`)).map((r) => [r.Peer, Number(r.n)]));

  beforeAll(async () => {
    ch = await openClickHouse({ kind: 'embedded', path: testEngineDir(), database: uniqueName('edges'), username: 'default', password: '' });
    await migrate(ch);
  });
  afterAll(async () => {
    await ch?.close();
  });

  it('registers edges, raises each posture finding once, and keeps per-minute statistics', async () => {
    const s = stage();
    await s.start();
    await processAndStore(s, partials('b1', 'checkout', ['stripe', 'twilio'], {}, 3), ctx('e/0/0-0'));
    await processAndStore(s, partials('b2', 'checkout', ['stripe'], { 'url.full': 'http://api.stripe.test/v1', 'chainwatch.auth.scheme': 'Basic' }), ctx('e/0/1-1'));
    await processAndStore(s, partials('b3', 'checkout', ['stripe', 'twilio'], { 'url.full': 'http://x.test/', 'chainwatch.auth.scheme': 'Bearer', 'chainwatch.credential.lifetime_s': 31_536_000n }), ctx('e/0/2-2'));
    expect(await findings('checkout')).toEqual([
      'stripe long_lived_credential',
      'stripe new_edge',
      'stripe plaintext_call',
      'stripe static_credential',
      'twilio long_lived_credential',
      'twilio new_edge',
      'twilio plaintext_call',
    ]);
    expect(await calls('checkout')).toEqual({ stripe: 5, twilio: 4 });
    const [edge] = await rows<{ AuthSchemes: string[]; Plaintext: number; FirstSeen: string; LastSeen: string }>(
      `SELECT groupUniqArrayArray(AuthSchemes) AS AuthSchemes, max(Plaintext) AS Plaintext, min(FirstSeen) AS FirstSeen, max(LastSeen) AS LastSeen FROM DB.chainwatch_edges WHERE ServiceName = 'checkout' AND Peer = 'stripe'`,
    );
    expect(edge!.AuthSchemes.sort()).toEqual(['Basic', 'Bearer']);
    expect(edge!.Plaintext).toBe(1);
    expect(edge!.FirstSeen < edge!.LastSeen).toBe(true);
    expect(s.findingsRaised).toEqual({ new_edge: 2, plaintext_call: 2, static_credential: 1, long_lived_credential: 2 });
    const [detail] = await rows<{ Detail: string; Severity: string }>(`SELECT Detail, Severity FROM DB.chainwatch_posture_findings WHERE ServiceName = 'checkout' AND Peer = 'stripe' AND Kind = 'static_credential'`);
    expect(detail).toEqual({ Detail: 'checkout authenticates to stripe with a static credential (Basic)', Severity: 'medium' });
    // A finding names the call that showed it: stripe was new at its first call, plaintext from batch b2.
    const when = await rows<{ Kind: string; SpanId: string }>(`SELECT Kind, SpanId FROM DB.chainwatch_posture_findings WHERE ServiceName = 'checkout' AND Peer = 'stripe' ORDER BY Kind`);
    const spanIds = Object.fromEntries(when.map((r) => [r.Kind, r.SpanId]));
    expect(spanIds['plaintext_call']).toBe(spanIds['static_credential']);
    expect(spanIds['plaintext_call']).not.toBe(spanIds['new_edge']);
    expect(spanIds['long_lived_credential']).not.toBe(spanIds['plaintext_call']);
  });

  it('stores a replayed batch and a partial published twice once, and a restarted owner rebuilds its state from ClickHouse', async () => {
    const batch = partials('src-7', 'orders', ['ledger', 'auth'], { 'chainwatch.auth.scheme': 'None' }, 2);
    await processAndStore(stage(), batch, ctx('e/1/5-6'));
    // A crash before the commit: a new worker gets the same batch (same id, thanks to batch intents).
    const restarted = stage();
    await processAndStore(restarted, batch, ctx('e/1/5-6'));
    // The inventory step replayed: the same partials again, in another batch of the edges topic.
    await processAndStore(restarted, batch, ctx('e/1/7-8'));
    const raw = await rows<{ n: string }>(`SELECT count() AS n FROM DB.chainwatch_posture_findings WHERE ServiceName = 'orders'`);
    expect(Number(raw[0]!.n)).toBe(4); // new_edge and unauthenticated_call for two edges: no duplicate rows, not even before merges
    expect(await findings('orders')).toEqual(['auth new_edge', 'auth unauthenticated_call', 'ledger new_edge', 'ledger unauthenticated_call']);
    expect(await calls('orders')).toEqual({ ledger: 2, auth: 2 });
    expect(restarted.edgesLoaded).toBe(2);
    // Later traffic on known edges raises nothing new.
    await processAndStore(restarted, partials('src-8', 'orders', ['ledger'], { 'chainwatch.auth.scheme': 'None' }), ctx('e/1/9-9'));
    expect(await findings('orders')).toHaveLength(4);
    expect(await calls('orders')).toEqual({ ledger: 3, auth: 2 });
  });

  it('drops its state when the group assignment changes: an edge that moved away and back is judged on ClickHouse, not on memory', async () => {
    const a = stage();
    const b = stage();
    await processAndStore(a, partials('g1', 'search', ['index']), ctx('e/2/0-0', 1));
    // While a was out of the group, b owned the edge and saw a plaintext call.
    await processAndStore(b, partials('g2', 'search', ['index'], { 'url.scheme': 'http' }), ctx('e/2/1-1', 1));
    // The edge is a's again after a rebalance; another plaintext call.
    await processAndStore(a, partials('g3', 'search', ['index'], { 'url.scheme': 'http' }), ctx('e/2/2-2', 2));
    expect(await findings('search')).toEqual(['index new_edge', 'index plaintext_call']);
    expect(a.findingsRaised).toEqual({ new_edge: 1 });
    expect(a.edgesLoaded).toBe(2); // at first sight, and again after the rebalance

    // The same on stale memory (no generation change) would raise it twice: the check can fail.
    const stale = stage();
    await processAndStore(stale, partials('g4', 'search-stale', ['index']), ctx('e/3/0-0', 1));
    await processAndStore(stage(), partials('g5', 'search-stale', ['index'], { 'url.scheme': 'http' }), ctx('e/3/1-1', 1));
    await processAndStore(stale, partials('g6', 'search-stale', ['index'], { 'url.scheme': 'http' }), ctx('e/3/2-2', 1));
    expect(await findings('search-stale')).toEqual(['index new_edge', 'index plaintext_call', 'index plaintext_call']);
  });

  it('keeps at most max_tracked_edges in memory and reloads an evicted edge without raising it again', async () => {
    const s = stage(2);
    await processAndStore(s, partials('l1', 'mailer', ['a', 'b', 'c']), ctx('e/4/0-0'));
    expect(s.trackedEdges).toBe(2);
    expect(s.edgesLoaded).toBe(3);
    await processAndStore(s, partials('l2', 'mailer', ['a']), ctx('e/4/1-1')); // 'a' was evicted first
    expect(s.edgesLoaded).toBe(4);
    expect(s.trackedEdgeIds()).toHaveLength(2);
    expect(await findings('mailer')).toEqual(['a new_edge', 'b new_edge', 'c new_edge']);
  });

  it('announces each new posture finding as an alert event before storing it, again with the same ids after a crash in between', async () => {
    const announcing = (): EdgeRegistryStage => new EdgeRegistryStage({ clickhouse: ch, longLivedCredentialS: 86_400, maxTrackedEdges: 100, alertsTopic: 'alerts' });
    const batch = partials('a1', 'payments', ['acquirer'], { 'url.full': 'http://acquirer.test/auth', 'chainwatch.auth.scheme': 'ApiKey' });
    // Published, then the process died before storing: nothing is in ClickHouse yet.
    const first = await announcing().process(batch, ctx('e/5/0-0'));
    expect(await findings('payments')).toEqual([]);
    const replay = await processAndStore(announcing(), batch, ctx('e/5/0-0'));
    const events = alertEventsOf(first);
    expect(events.map((e) => [e.rule, e.severity, e.source, e.status, e.peer])).toEqual([
      ['new_edge', 'warning', 'inventory', 'firing', 'acquirer'],
      ['plaintext_call', 'critical', 'inventory', 'firing', 'acquirer'],
      ['static_credential', 'warning', 'inventory', 'firing', 'acquirer'],
    ]);
    expect(alertEventsOf(replay).map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(first.publish![0]!.messages.map((m) => m.key)).toEqual(events.map((e) => e.fingerprint));
    expect(await findings('payments')).toEqual(['acquirer new_edge', 'acquirer plaintext_call', 'acquirer static_credential']);
    // Stored: the next batch of the edge announces nothing.
    expect(alertEventsOf(await processAndStore(announcing(), partials('a2', 'payments', ['acquirer'], { 'url.full': 'http://acquirer.test/x' }), ctx('e/5/1-1')))).toEqual([]);
  });
});

