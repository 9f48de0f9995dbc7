/**
 * No secret at rest, end to end: the whole labelled corpus is sent through the collector (real
 * OTLP/HTTP), the real Kafka broker and the storage stages into the embedded ClickHouse engine.
 * Afterwards, no planted secret value — nor any 8-character slice of it that is not a public prefix
 * or marker — appears in any Kafka message (span and findings topics), any ClickHouse row
 * (otel_traces, chainwatch_findings), or any log line of the run. Findings were stored for them.
 */
import { Writable } from 'node:stream';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { startChainwatch, type Chainwatch } from '../../pipeline/chainwatch.js';
import type { Config } from '../../schemas/config.js';
import type { TracesData } from '../../schemas/otlp-traces.js';
import { testConfig, uniqueName } from '../harness/chainwatch.js';
import { deleteTopics, uniqueTopics } from '../harness/kafka-broker.js';
import { waitFor } from '../harness/wait-for.js';
import { allStrings, buildTraces, loadCorpus, publicFragmentsFor, WINDOW, type CorpusCase } from '../fixtures/redaction/corpus.js';

const cases = loadCorpus();
const secrets = cases.filter((c) => c.label === 'secret' && c.family !== 'ip_address');
/** Resource and scope attributes belong to no one span: their findings name the service and place instead. */
const inResource = (c: CorpusCase): boolean => c.placement.startsWith('resource.') || c.placement.startsWith('scope.');
const spanSecrets = secrets.filter((c) => !inResource(c));

/** Captures every log line of the run, from both chainwatch instances and kafkajs through them. */
function capturingLogger(lines: string[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

/**
 * Which secrets leak into `haystack`, by exact value or by an 8-character slice that is neither
 * inside a public fragment nor present elsewhere in the corpus (a slice shared with another
 * record, a host name say, proves nothing). One pass over the haystack for all cases.
 */
function leaks(haystack: string, corpusText: string): Map<string, string> {
  const found = new Map<string, string>();
  const windows = new Map<string, CorpusCase[]>();
  for (const c of secrets) {
    if (haystack.includes(c.value)) found.set(c.id, 'exact value');
    const fragments = publicFragmentsFor(c);
    for (let i = 0; i + WINDOW <= c.value.length; i++) {
      const w = c.value.slice(i, i + WINDOW);
      if (fragments.some((f) => f.includes(w))) continue;
      const list = windows.get(w);
      if (list) list.push(c);
      else windows.set(w, [c]);
    }
  }
  // A window is ambient when the corpus holds it more often than the cases that own it do.
  const corpusCount = new Map<string, number>();
  for (let i = 0; i + WINDOW <= corpusText.length; i++) {
    const w = corpusText.slice(i, i + WINDOW);
    if (windows.has(w)) corpusCount.set(w, (corpusCount.get(w) ?? 0) + 1);
  }
  const ownCount = (w: string, owners: CorpusCase[]): number =>
    owners.reduce((n, c) => n + (corpusText.split(c.value).length - 1) * (c.value.split(w).length - 1), 0);
  for (let i = 0; i + WINDOW <= haystack.length; i++) {
    const w = haystack.slice(i, i + WINDOW);
    const owners = windows.get(w);
    if (!owners || (corpusCount.get(w) ?? 0) > ownCount(w, owners)) continue;
    for (const c of owners) if (!found.has(c.id)) found.set(c.id, `slice at haystack offset ${i}`);
  }
  return found;
}

describe('no secret at rest, end to end on Kafka and ClickHouse', () => {
  const brokers = inject('kafkaBrokers');
  const logLines: string[] = [];
  let config: Config;
  let storage: Chainwatch;
  let collector: Chainwatch;
  // What the corpus says in plain text, including the claims inside its JWTs: an issuer URL kept
  // as identity metadata shares slices with unrelated secrets (login.microsoftonline.com and an
  // e-mail at contoso.onmicrosoft.com) without leaking either.
  const recordsText = cases.map((c) => allStrings(buildTraces(c.record))).join('\u0002');
  const jwtClaims = [...recordsText.matchAll(/eyJ[\w-]+\.eyJ[\w-]+/g)].map((m) => m[0].split('.').map((p) => Buffer.from(p, 'base64url').toString('utf8')).join('\u0002'));
  const corpusText = [recordsText, ...jwtClaims].join('\u0002');

  beforeAll(async () => {
    config = testConfig({
      bus: {
        kind: 'kafka',
        topics: uniqueTopics('leak'),
        group_prefix: uniqueName('leak'),
        kafka: { brokers, partitions: 2 },
      },
    });
    const logger = capturingLogger(logLines);
    // The inventory too: what it publishes (edge partials) and stores (edges, findings) is checked as well.
    storage = await startChainwatch(config, logger, ['storage', 'inventory']);
    collector = await startChainwatch(config, logger, ['collector']);

    // Every case once, 40 cases per request, as an exporter would batch them.
    for (let i = 0; i < cases.length; i += 40) {
      const request: TracesData = { resourceSpans: cases.slice(i, i + 40).flatMap((c) => buildTraces(c.record).resourceSpans) };
      const res = await fetch(`${collector.otlpHttpUrl}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: encodeExportTraceServiceRequest(request),
      });
      expect(res.status).toBe(200);
    }
    const ch = storage.clickhouse!;
    await waitFor('every span stored', async () => {
      const rs = await ch.client.query({ query: `SELECT count() AS n FROM ${ch.database}.otel_traces`, format: 'JSONEachRow' });
      return Number((await rs.json<{ n: string }>())[0]!.n) >= cases.length;
    });
    const expectedSpans = new Set(spanSecrets.map((c) => `${c.record.traceId}/${c.record.spanId}`));
    let missing = expectedSpans.size;
    await waitFor('findings stored', async () => {
      const rs = await ch.client.query({ query: `SELECT DISTINCT TraceId, SpanId FROM ${ch.database}.chainwatch_findings`, format: 'JSONEachRow' });
      const stored = new Set((await rs.json<{ TraceId: string; SpanId: string }>()).map((r) => `${r.TraceId}/${r.SpanId}`));
      missing = [...expectedSpans].filter((k) => !stored.has(k)).length;
      return missing === 0;
    }).catch((err: Error) => {
      const problems = logLines.filter((l) => /"level":(40|50)/.test(l)).slice(-3);
      throw new Error(`${err.message}: no findings for ${missing} of ${expectedSpans.size} spans; last warnings: ${problems.join('')}`);
    });
  }, 180_000);

  afterAll(async () => {
    await collector?.stop();
    await storage?.stop();
    await deleteTopics(brokers, Object.values(config.bus.topics));
  });

  it('leaves no secret in any Kafka message', async () => {
    const kafka = new Kafka({ brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const expected = new Map<string, number>();
    for (const topic of [config.bus.topics.spans, config.bus.topics.findings, config.bus.topics.edges]) {
      expected.set(topic, (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0));
    }
    await admin.disconnect();
    const consumer = kafka.consumer({ groupId: uniqueName('leak-inspect'), maxWaitTimeInMs: 200 });
    const texts: string[] = [];
    const seen = new Map<string, number>();
    await consumer.connect();
    await consumer.subscribe({ topics: [...expected.keys()], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        texts.push(message.key?.toString('utf8') ?? '', message.value?.toString('utf8') ?? '');
        seen.set(topic, (seen.get(topic) ?? 0) + 1);
      },
    });
    try {
      await waitFor('all messages', async () => [...expected].every(([t, n]) => (seen.get(t) ?? 0) >= n));
    } finally {
      await consumer.disconnect();
    }
    expect(seen.get(config.bus.topics.spans)).toBeGreaterThan(0);
    expect(seen.get(config.bus.topics.findings)).toBeGreaterThan(0);
    expect(seen.get(config.bus.topics.edges)).toBeGreaterThan(0);
    expect([...leaks(texts.join('\u0002'), corpusText)]).toEqual([]);
  });

  it('leaves no secret in any ClickHouse row', async () => {
    const ch = storage.clickhouse!;
    const dump: string[] = [];
    const tables = ['otel_traces', 'chainwatch_findings', 'otel_traces_trace_id_ts', 'chainwatch_edges', 'chainwatch_edge_minutes', 'chainwatch_posture_findings'];
    await waitFor('call edges stored', async () => {
      const rs = await ch.client.query({ query: `SELECT count() AS n FROM ${ch.database}.chainwatch_edges`, format: 'JSONEachRow' });
      return Number((await rs.json<{ n: string }>())[0]!.n) > 0;
    });
    for (const table of tables) {
      const rs = await ch.client.query({ query: `SELECT * FROM ${ch.database}.${table}`, format: 'JSONEachRow' });
      // Parsed, so strings are compared as stored, not as escaped in a text format.
      dump.push(allStrings(await rs.json()));
    }
    expect(dump[0]!.length).toBeGreaterThan(100_000);
    expect(dump[3]!.length).toBeGreaterThan(1000); // edges: something to check
    expect([...leaks(dump.join('\u0002'), corpusText)]).toEqual([]);
  });

  it('leaves no secret in any log line', () => {
    expect([...leaks(logLines.join('\n'), corpusText)]).toEqual([]);
  });

  it('stored a finding for every planted secret, with the place but not the value', async () => {
    const ch = storage.clickhouse!;
    const rs = await ch.client.query({ query: `SELECT TraceId, SpanId, ServiceName, Location FROM ${ch.database}.chainwatch_findings`, format: 'JSONEachRow' });
    const rows = await rs.json<{ TraceId: string; SpanId: string; ServiceName: string; Location: string }>();
    const spans = new Set(rows.map((r) => `${r.TraceId}/${r.SpanId}`));
    const resourcePlaces = new Set(rows.filter((r) => r.TraceId === '').map((r) => `${r.ServiceName}|${r.Location}`));
    const without = secrets
      .filter((c) => (inResource(c) ? !resourcePlaces.has(`${c.record.service}|${c.placement}`) : !spans.has(`${c.record.traceId}/${c.record.spanId}`)))
      .map((c) => `${c.id} ${c.placement}`);
    expect(without).toEqual([]);
  });
});
