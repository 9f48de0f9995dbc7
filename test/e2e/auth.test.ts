/**
 * Ingest auth end to end, on an embedded chainwatch with real HTTP, HTTPS and gRPC clients:
 * missing, wrong and revoked API keys are refused (401 / 403, UNAUTHENTICATED / PERMISSION_DENIED)
 * on the headers alone — an undecodable body is never looked at — and nothing of them is stored;
 * a good key's data is stored with its tenant label, which a client cannot forge; the OTel
 * exporters carry the key as a header or gRPC metadata. With TLS and client_auth "require", only a
 * client certificate signed by the configured CA gets a connection, on HTTPS and on gRPC.
 */
import { Client, credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../collector/auth.js';
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import type { Chainwatch } from '../../pipeline/chainwatch.js';
import { createSpan, createTracesData, type TracesData } from '../../schemas/otlp-traces.js';
import { makeTestCerts, type TestCerts } from '../harness/certs.js';
import { startTestChainwatch, testConfig } from '../harness/chainwatch.js';
import { emitAndExport, expectExported, otlpEndpoint } from '../harness/otel-sdk.js';
import { decodeRpcStatusForTest } from '../harness/rpc-status.js';
import { countStoredSpans, readStoredSpans } from '../harness/span-expectations.js';

const KEYS = { payments: 'cw-key-payments-3f9a1c', legacy: 'cw-key-legacy-77aa01', staging: 'cw-key-staging-5d0e2b' };

function request(service: string, forgedTenant?: string): Buffer {
  const data: TracesData = createTracesData(service, [
    createSpan({ traceId: '8'.repeat(32), spanId: '0102030405060708', name: 'GET /x', startTimeUnixNano: 1_700_000_000_000_000_000n, endTimeUnixNano: 1_700_000_000_100_000_000n }),
  ]);
  if (forgedTenant) data.resourceSpans[0]!.resource.attributes.push({ key: 'chainwatch.tenant', value: forgedTenant });
  return Buffer.from(encodeExportTraceServiceRequest(data));
}

async function post(url: string, body: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...headers }, body });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

function grpcExport(address: string, body: Buffer, metadata: Record<string, string>, creds: ChannelCredentials = credentials.createInsecure()): Promise<ServiceError | null> {
  const client = new Client(address, creds, { 'grpc.ssl_target_name_override': 'localhost' });
  const md = new Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      md,
      { deadline: Date.now() + 10_000 },
      (err) => {
        client.close();
        resolve(err);
      },
    ),
  );
}

describe('API keys', () => {
  let app: Chainwatch;

  beforeAll(async () => {
    app = await startTestChainwatch(
      testConfig({
        collector: {
          auth: {
            enabled: true,
            keys: [
              { name: 'payments', sha256: sha256Hex(KEYS.payments), tenant: 'prod' },
              { name: 'legacy', sha256: sha256Hex(KEYS.legacy).toUpperCase(), revoked: true },
              { name: 'staging', sha256: sha256Hex(KEYS.staging), tenant: 'staging' },
            ],
          },
        },
      }),
    );
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('refuses a missing, wrong or revoked key over HTTP, on the headers alone, storing nothing', async () => {
    const missing = await post(app.otlpHttpUrl!, request('auth-refused'));
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="chainwatch"');
    expect(decodeRpcStatusForTest(missing.body)).toEqual({ code: 16, message: 'missing API key: send Authorization: Bearer <key>' });

    const notBearer = await post(app.otlpHttpUrl!, request('auth-refused'), { authorization: `Basic ${KEYS.payments}` });
    expect(notBearer.status).toBe(401);

    const wrong = await post(app.otlpHttpUrl!, request('auth-refused'), { authorization: 'Bearer cw-key-guessed' });
    expect(wrong.status).toBe(401);
    expect(decodeRpcStatusForTest(wrong.body)).toEqual({ code: 16, message: 'invalid API key' });

    const revoked = await post(app.otlpHttpUrl!, request('auth-refused'), { authorization: `Bearer ${KEYS.legacy}` });
    expect(revoked.status).toBe(403);
    expect(decodeRpcStatusForTest(revoked.body)).toEqual({ code: 7, message: 'API key "legacy" has been revoked' });
    expect(revoked.body.toString('latin1')).not.toContain(KEYS.legacy);

    // Refused before decoding: an undecodable body with a wrong key is a 401, not a 400.
    const garbage = await post(app.otlpHttpUrl!, Buffer.from([0x0a, 100, 1]), { authorization: 'Bearer cw-key-guessed' });
    expect(garbage.status).toBe(401);
    // ... and with a good key it is the 400 it deserves.
    expect((await post(app.otlpHttpUrl!, Buffer.from([0x0a, 100, 1]), { authorization: `Bearer ${KEYS.payments}` })).status).toBe(400);

    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'auth-refused'")).toBe(0);
  });

  it("stores a good key's data with its tenant, replacing a tenant label the client tried to forge", async () => {
    const ok = await post(app.otlpHttpUrl!, request('auth-prod', 'staging'), { authorization: `Bearer ${KEYS.payments}` });
    expect(ok.status).toBe(200);
    const [row] = await readStoredSpans(app.clickhouse!, "ServiceName = 'auth-prod'");
    expect(row!.ResourceAttributes['chainwatch.tenant']).toBe('prod');
  });

  it('refuses missing, wrong and revoked keys over gRPC with UNAUTHENTICATED / PERMISSION_DENIED, storing nothing', async () => {
    const address = app.otlpGrpcAddress!;
    const missing = await grpcExport(address, request('auth-grpc-refused'), {});
    expect(missing?.code).toBe(status.UNAUTHENTICATED);
    expect(missing?.details).toBe('missing API key: send Authorization: Bearer <key>');
    const wrong = await grpcExport(address, request('auth-grpc-refused'), { authorization: 'Bearer cw-key-guessed' });
    expect(wrong?.code).toBe(status.UNAUTHENTICATED);
    expect(wrong?.details).toBe('invalid API key');
    const revoked = await grpcExport(address, request('auth-grpc-refused'), { authorization: `Bearer ${KEYS.legacy}` });
    expect(revoked?.code).toBe(status.PERMISSION_DENIED);
    expect(revoked?.details).toBe('API key "legacy" has been revoked');
    const garbage = await grpcExport(address, Buffer.from([0x0a, 100, 1]), { authorization: 'Bearer cw-key-guessed' });
    expect(garbage?.code).toBe(status.UNAUTHENTICATED);
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'auth-grpc-refused'")).toBe(0);
  });

  it.each(['http/protobuf', 'http/json', 'grpc'] as const)('takes the key from the OTel exporter over %s and stamps its tenant', async (protocol) => {
    const service = `auth-sdk-${protocol.replace('/', '-')}`;
    const result = await emitAndExport({
      baseUrl: otlpEndpoint(app, protocol),
      protocol,
      headers: { authorization: `Bearer ${KEYS.staging}` },
      resourceAttributes: { 'service.name': service },
      emit: (tracer) => tracer.startSpan('work').end(),
    });
    expectExported(result);
    const rows = await readStoredSpans(app.clickhouse!, `ServiceName = '${service}'`);
    expect(rows.map((r) => r.ResourceAttributes['chainwatch.tenant'])).toEqual(['staging']);
  });

  it('refuses the OTel exporter without a key', async () => {
    const result = await emitAndExport({ baseUrl: app.otlpHttpUrl!, protocol: 'http/protobuf', resourceAttributes: { 'service.name': 'auth-sdk-nokey' }, emit: (t) => t.startSpan('w').end() });
    expect(result.code).not.toBe(0);
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'auth-sdk-nokey'")).toBe(0);
  });
});

describe('TLS with client certificates required (mTLS), and a key in a custom header', () => {
  let certs: TestCerts;
  let app: Chainwatch;

  beforeAll(async () => {
    certs = makeTestCerts();
    app = await startTestChainwatch(
      testConfig({
        collector: {
          tls: { cert_file: certs.serverCertFile, key_file: certs.serverKeyFile, client_ca_file: certs.caFile, client_auth: 'require' },
          auth: { enabled: true, header: 'x-api-key', keys: [{ name: 'edge', sha256: sha256Hex(KEYS.payments), tenant: 'edge' }] },
        },
      }),
    );
  });
  afterAll(async () => {
    await app?.stop();
    certs?.remove();
  });

  function httpsPost(body: Buffer, headers: Record<string, string>, client?: { cert: Buffer; key: Buffer }): Promise<{ status: number; body: Buffer } | { error: string }> {
    return new Promise((resolve) => {
      const req = httpsRequest(
        `${app.otlpHttpUrl!}/v1/traces`,
        { method: 'POST', ca: certs.ca, ...(client ?? {}), headers: { 'content-type': 'application/x-protobuf', ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
      req.end(body);
    });
  }

  it('serves HTTPS to a client with a certificate from the CA, with the key in x-api-key', async () => {
    expect(app.otlpHttpUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await httpsPost(request('mtls-ok'), { 'x-api-key': KEYS.payments }, certs.client);
    expect(ok).toMatchObject({ status: 200 });
    const [row] = await readStoredSpans(app.clickhouse!, "ServiceName = 'mtls-ok'");
    expect(row!.ResourceAttributes['chainwatch.tenant']).toBe('edge');
    const noKey = await httpsPost(request('mtls-nokey'), {}, certs.client);
    expect(noKey).toMatchObject({ status: 401 });
    expect(decodeRpcStatusForTest((noKey as { body: Buffer }).body).message).toBe('missing API key: send it in the x-api-key header');
  });

  it('refuses the TLS handshake without a client certificate, or with one from another CA', async () => {
    const without = await httpsPost(request('mtls-refused'), { 'x-api-key': KEYS.payments });
    expect(without).toHaveProperty('error');
    const stranger = await httpsPost(request('mtls-refused'), { 'x-api-key': KEYS.payments }, certs.strangerClient);
    expect(stranger).toHaveProperty('error');
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'mtls-refused'")).toBe(0);
  });

  it('serves gRPC over mTLS to the right client only', async () => {
    const good = credentials.createSsl(certs.ca, certs.client.key, certs.client.cert);
    expect(await grpcExport(app.otlpGrpcAddress!, request('mtls-grpc'), { 'x-api-key': KEYS.payments }, good)).toBeNull();
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'mtls-grpc'")).toBe(1);
    const noCert = await grpcExport(app.otlpGrpcAddress!, request('mtls-grpc-refused'), { 'x-api-key': KEYS.payments }, credentials.createSsl(certs.ca));
    expect(noCert?.code).toBe(status.UNAVAILABLE);
    const insecure = await grpcExport(app.otlpGrpcAddress!, request('mtls-grpc-refused'), { 'x-api-key': KEYS.payments });
    expect(insecure?.code).toBe(status.UNAVAILABLE);
    expect(await countStoredSpans(app.clickhouse!, "ServiceName = 'mtls-grpc-refused'")).toBe(0);
  });

  it('names the config key and the file when a certificate cannot be read', async () => {
    const missing = join(certs.dir, 'missing.crt');
    await expect(startTestChainwatch(testConfig({ collector: { tls: { cert_file: missing, key_file: certs.serverKeyFile } } }))).rejects.toThrow(
      `collector.tls.cert_file: cannot read ${JSON.stringify(missing)}: ENOENT`,
    );
  });
});
