/**
 * The hostile-input suite: every case of test/fixtures/hostile/cases.json (written by
 * test/fixtures/hostile/generate.ts) is sent to chainwatch, one at a time, and must get exactly its
 * recorded answer — status, google.rpc.Status code and message, partial_success count and
 * message — and store exactly the number of spans and log records recorded for it (none for a
 * refused request). Afterwards the process is healthy: what was stored before the suite is
 * unchanged, and new requests over HTTP and gRPC are stored.
 *
 * The plain protobuf cases go over OTLP/gRPC too, and must get the matching gRPC code with the same
 * message, partial_success and stored records.
 *
 * The fixture must be what the generator writes (so it cannot drift from its script), every case
 * must have an answer, and every answer must fit what the generator knows of its case.
 */
import { readFileSync } from 'node:fs';
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeExportLogsServiceRequest } from '../../collector/otlp-protobuf-logs.js';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { LOGS, TRACES } from '../../collector/otlp-signals.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { createLogRecord, createLogsData } from '../../schemas/otlp-logs.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';
import { FIXTURE_ABOUT, FIXTURE_FILE, formatFixture, generateCases, SUITE_COLLECTOR } from '../fixtures/hostile/generate.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { bodyBytes, invariantProblem, partialSuccessForTest, runCase, sendCase, storedRecords, type Answer, type HostileCase, type HostileFixture, type HttpCaseRequest } from '../harness/hostile-cases.js';
import { readStoredLogs } from '../harness/log-expectations.js';
import { emitAndExport, expectExported, otlpEndpoint } from '../harness/otel-sdk.js';
import { emitScenario, SCENARIO_RESOURCE } from '../harness/span-scenario.js';
import { readStoredSpans } from '../harness/span-expectations.js';

const fixture = JSON.parse(readFileSync(FIXTURE_FILE, 'utf8')) as HostileFixture;

function baselineTraces(): Uint8Array {
  const spans = [0, 1, 2].map((i) =>
    createSpan({
      traceId: 'ba5e11feba5e11feba5e11feba5e11fe',
      spanId: `000000000000000${i + 1}`,
      name: `baseline ${i}`,
      kind: 3,
      startTimeUnixNano: 1_767_225_600_000_000_000n + BigInt(i),
      endTimeUnixNano: 1_767_225_600_500_000_000n,
      attributes: [{ key: 'baseline.index', value: i }],
    }),
  );
  return encodeExportTraceServiceRequest(createTracesData('hostile-baseline', spans, { name: 'baseline' }));
}

function baselineLogs(): Uint8Array {
  return encodeExportLogsServiceRequest(
    createLogsData('hostile-baseline', [createLogRecord({ timeUnixNano: 1_767_225_600_000_000_000n, body: 'baseline log', severityNumber: 9 })], { name: 'baseline' }),
  );
}

describe('the hostile-input fixture', () => {
  it('holds exactly what its generator writes: at least 500 cases, each with an answer that fits the case', () => {
    expect(fixture.about).toBe(FIXTURE_ABOUT);
    expect(fixture.collector).toEqual(SUITE_COLLECTOR);
    const generated = generateCases();
    expect(fixture.cases.map(({ expect: _answer, ...c }) => c)).toEqual(generated);
    expect(readFileSync(FIXTURE_FILE, 'utf8')).toBe(formatFixture({ about: FIXTURE_ABOUT, collector: SUITE_COLLECTOR, cases: fixture.cases }));
    expect(fixture.cases.length).toBeGreaterThanOrEqual(500);
    const problems = fixture.cases.flatMap((c) => {
      if (!c.expect) return [`${c.id}: no recorded answer`];
      const problem = invariantProblem(c, c.expect);
      return problem ? [`${c.id}: ${problem}`] : [];
    });
    expect(problems).toEqual([]);
    // Every category the issue names is there.
    expect(new Set(fixture.cases.map((c) => c.category))).toEqual(
      new Set([
        'truncated protobuf', 'corrupted protobuf', 'wrong wire type', 'unknown fields', 'deeply nested AnyValue', 'huge strings', 'invalid UTF-8',
        'invalid JSON', 'wrong JSON types', 'wrong ids', 'timestamps out of range', 'compression bombs', 'compression', 'broken compression',
        'oversized bodies', 'content types', 'content encodings', 'methods and paths', 'slow and malformed HTTP', 'malformed protobuf',
      ]),
    ); // prettier-ignore
  });
});

describe('hostile input at the OTLP/HTTP receiver', () => {
  let app: Chainwatch;
  let baseline: { spans: unknown[]; logs: unknown[] };

  beforeAll(async () => {
    app = await startTestChainwatch(testConfig({ collector: fixture.collector }));
    for (const [path, body] of [['/v1/traces', baselineTraces()], ['/v1/logs', baselineLogs()]] as const) {
      const res = await fetch(`${app.otlpHttpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
      expect(res.status).toBe(200);
    }
    baseline = {
      spans: await readStoredSpans(app.clickhouse!, "ServiceName = 'hostile-baseline'"),
      logs: await readStoredLogs(app.clickhouse!, "ServiceName = 'hostile-baseline'"),
    };
    expect(baseline.spans).toHaveLength(3);
    expect(baseline.logs).toHaveLength(1);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it(`answers each of the ${fixture.cases.length} cases exactly as recorded, storing exactly what it accepted`, async () => {
    const mismatches: { id: string; expected: Answer | undefined; got: Answer }[] = [];
    const check = (c: HostileCase, got: Answer): void => {
      if (JSON.stringify(got) !== JSON.stringify(c.expect)) mismatches.push({ id: c.id, expected: c.expect, got });
    };
    // Slow clients take seconds and store nothing: they run alongside the rest. Every other case
    // runs alone, so the records it stored can be counted.
    const isSlow = (c: HostileCase): boolean => c.request.kind === 'raw' && c.request.steps.some((s) => (s.pauseMs ?? 0) > 0);
    const slow = Promise.all(fixture.cases.filter(isSlow).map(async (c) => check(c, { ...(await sendCase(app.otlpHttpUrl!, c)), stored: 0 })));
    for (const c of fixture.cases.filter((c) => !isSlow(c))) check(c, await runCase(app.otlpHttpUrl!, app.clickhouse!, c));
    await slow;
    expect(mismatches).toEqual([]);
  }, 240_000);

  it('answers the protobuf bodies the same over gRPC: the same code, message, partial_success and records stored', async () => {
    // Every case whose request is a plain protobuf export (no compression, no odd headers), sent as
    // the message of TraceService/Export or LogsService/Export; its HTTP answer says what gRPC must.
    const grpcCode: Record<number, number> = { 200: status.OK, 400: status.INVALID_ARGUMENT, 413: status.RESOURCE_EXHAUSTED };
    const plain = fixture.cases.filter(
      (c) =>
        c.request.kind === 'http' && c.request.method === 'POST' && (c.request.path === '/v1/traces' || c.request.path === '/v1/logs') &&
        JSON.stringify(c.request.headers) === JSON.stringify({ 'content-type': 'application/x-protobuf' }) && !c.request.chunked && c.expect!.status in grpcCode,
    ); // prettier-ignore
    expect(plain.length).toBeGreaterThan(700);
    const client = new Client(app.otlpGrpcAddress!, credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
    const before = { count: 0 };
    const mismatches: string[] = [];
    try {
      for (const c of plain) {
        const r = c.request as HttpCaseRequest;
        const body = bodyBytes(r.body);
        before.count = await storedRecords(app.clickhouse!);
        const method = r.path === '/v1/traces' ? TRACES.grpcMethod : LOGS.grpcMethod;
        const answer = await new Promise<{ code: number; details: string; response: Buffer | null }>((resolve) =>
          client.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, body, new Metadata(), { deadline: Date.now() + 30_000 }, (error, response) =>
            resolve(error ? { code: error.code, details: error.details, response: null } : { code: status.OK, details: '', response: response! }),
          ),
        ); // prettier-ignore
        const expected = c.expect!;
        const got =
          answer.code === status.OK
            ? { code: status.OK, ...partialSuccessForTest(answer.response!) }
            : { code: answer.code, message: answer.details, rejected: undefined as number | undefined };
        const limit = (fixture.collector as typeof SUITE_COLLECTOR).limits.max_body_bytes;
        const want =
          body.length > limit
            ? // Refused by gRPC itself (grpc.max_receive_message_length), before chainwatch sees it.
              { code: status.RESOURCE_EXHAUSTED, message: `Received message larger than max (${body.length} vs ${limit})`, rejected: undefined }
            : expected.status === 200
              ? { code: status.OK, message: expected.message, rejected: expected.rejected }
              : // The message names the request, not an HTTP body.
                { code: grpcCode[expected.status]!, message: expected.message.replace(/^request body is not/, 'request is not'), rejected: undefined };
        const stored = (await storedRecords(app.clickhouse!)) - before.count;
        if (JSON.stringify(got) !== JSON.stringify(want) || stored !== expected.stored) mismatches.push(`${c.id}: got ${JSON.stringify({ ...got, stored })}, want ${JSON.stringify({ ...want, stored: expected.stored })}`);
      }
    } finally {
      client.close();
    }
    expect(mismatches).toEqual([]);
  }, 240_000);

  it('is healthy afterwards: what was stored before is unchanged, and new requests over HTTP and gRPC are stored', async () => {
    expect(await readStoredSpans(app.clickhouse!, "ServiceName = 'hostile-baseline'")).toEqual(baseline.spans);
    expect(await readStoredLogs(app.clickhouse!, "ServiceName = 'hostile-baseline'")).toEqual(baseline.logs);
    for (const protocol of ['http/protobuf', 'grpc'] as const) {
      const service = `hostile-after-${protocol.replace('/', '-')}`;
      const result = await emitAndExport({ baseUrl: otlpEndpoint(app, protocol), protocol, resourceAttributes: { ...SCENARIO_RESOURCE, 'service.name': service }, emit: emitScenario });
      expectExported(result);
      expect(await readStoredSpans(app.clickhouse!, `ServiceName = '${service}'`)).toHaveLength(result.spans.length);
    }
  });
});
