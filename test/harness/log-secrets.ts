/**
 * Secrets in log records, for end-to-end tests of redaction on the log path: a JWT in a plain
 * body, a Stripe API key in a structured body, and a bearer JWT in a log attribute, emitted inside
 * a known span context. `expectLogSecretsMasked` checks, on the stored tables only, that each
 * value is masked where it was, that no raw value (nor the JWT's signature) is stored anywhere in
 * `otel_logs` or `chainwatch_findings`, and that each has its finding with place, rule, trace,
 * span and service.
 */
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { LoggerProvider } from '@opentelemetry/sdk-logs';
import { expect } from 'vitest';
import { ALPHABETS, pick, seededRandom, signedJwt } from '../../processors/redaction/sample-credentials.js';
import type { ClickHouse } from '../../processors/storage/clickhouse.js';

const random = seededRandom(0x10c5);
const jwt = signedJwt({ iss: 'https://login.example.net', sub: 'svc-payments', iat: 1_767_225_600, exp: 1_767_229_200 }, pick(random, ALPHABETS.base62, 16));
const bearerJwt = signedJwt({ iss: 'https://auth.example.net', sub: 'svc-orders', aud: 'billing', iat: 1_767_225_600 }, pick(random, ALPHABETS.base62, 16));
const stripeKey = `sk_live_${pick(random, ALPHABETS.base62, 32)}`;

export const LOG_SECRETS_TRACE_ID = '5b8efff798038103d269b633813fc60c';
export const LOG_SECRETS_SPAN_ID = 'eee19b7ec3c1b174';

/** Emits three records on `provider`, each carrying one secret. */
export function emitLogSecrets(provider: LoggerProvider): void {
  const logger = provider.getLogger('payments.client');
  const context = trace.setSpanContext(ROOT_CONTEXT, { traceId: LOG_SECRETS_TRACE_ID, spanId: LOG_SECRETS_SPAN_ID, traceFlags: TraceFlags.SAMPLED });
  logger.emit({ severityNumber: SeverityNumber.ERROR, body: `token rejected: ${jwt} (expired?)`, context });
  logger.emit({ severityNumber: SeverityNumber.INFO, body: { event: 'charge', credentials: { api_key: stripeKey, region: 'eu' } }, context });
  logger.emit({ severityNumber: SeverityNumber.DEBUG, body: 'calling billing', attributes: { 'http.request.header.authorization': `Bearer ${bearerJwt}` }, context });
}

/** Every string in rows read back as JSON, joined: what is at rest. */
async function tableText(ch: ClickHouse, table: string, where: string): Promise<string> {
  const rs = await ch.client.query({ query: `SELECT * FROM ${ch.database}.${table} WHERE ${where}`, format: 'JSONEachRow' });
  return JSON.stringify(await rs.json());
}

export async function expectLogSecretsMasked(ch: ClickHouse, service: string): Promise<void> {
  const where = `ServiceName = '${service}'`;
  const rs = await ch.client.query({
    query: `SELECT Body, LogAttributes FROM ${ch.database}.otel_logs WHERE ${where} ORDER BY SeverityNumber DESC`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ Body: string; LogAttributes: Record<string, string> }>();
  expect(rows.map((row) => row.Body)).toEqual([
    'token rejected: [REDACTED:jwt] (expired?)',
    '{"credentials":{"api_key":"[REDACTED:stripe_secret_key]","region":"eu"},"event":"charge"}',
    'calling billing',
  ]);
  expect(rows[2]!.LogAttributes['http.request.header.authorization']).toBe('Bearer [REDACTED:jwt]');

  const atRest = `${await tableText(ch, 'otel_logs', where)}\n${await tableText(ch, 'chainwatch_findings', where)}`;
  for (const secret of [jwt, bearerJwt, stripeKey, jwt.split('.')[2]!, bearerJwt.split('.')[2]!, stripeKey.slice(8)]) {
    expect(atRest).not.toContain(secret);
  }

  const findings = await ch.client.query({
    query: `SELECT Location, Rule, TraceId, SpanId FROM ${ch.database}.chainwatch_findings WHERE ${where} ORDER BY Location`,
    format: 'JSONEachRow',
  });
  const inSpan = { TraceId: LOG_SECRETS_TRACE_ID, SpanId: LOG_SECRETS_SPAN_ID };
  expect(await findings.json()).toEqual([
    { Location: 'log.attributes["http.request.header.authorization"]', Rule: 'jwt', ...inSpan },
    { Location: 'log.body', Rule: 'jwt', ...inSpan },
    { Location: 'log.body.kvlist["credentials"].kvlist["api_key"]', Rule: 'stripe_secret_key', ...inSpan },
  ]);
}
