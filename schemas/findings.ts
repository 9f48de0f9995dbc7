/**
 * A finding: one match of a redaction rule, as published on the findings topic and stored in
 * `chainwatch_findings`. It says what kind of secret or personal datum was found, where, in which
 * call edge, and its keyed fingerprint — never the value itself.
 */
import { z } from 'zod';
import { decodeJsonLines, encodeJsonLines } from './json-lines.js';

/**
 * Rule families, the unit of the recall report and of the counters. Secrets first, then
 * personal data.
 */
export const SECRET_FAMILIES = [
  'cloud', // AWS, GCP, Azure credentials
  'code_hosting', // GitHub, GitLab tokens
  'payments', // Stripe, Square, PayPal/Braintree
  'messaging', // Slack, Twilio, SendGrid, Mailgun
  'ai', // OpenAI, Anthropic, other AI providers
  'package_registry', // npm, PyPI
  'jwt',
  'private_key', // PEM private keys
  'http_auth', // HTTP basic credentials and bearer tokens
  'url_credentials', // user:pass@ in URLs, sensitive query parameters
  'connection_string', // database and broker connection strings with passwords
  'secret_key_value', // values of secret-like keys (password, api_key, cookie, …)
] as const;

export const PII_FAMILIES = ['email', 'payment_card', 'iban', 'us_ssn', 'phone', 'ip_address'] as const;

export const RULE_FAMILIES = [...SECRET_FAMILIES, ...PII_FAMILIES] as const;
export type RuleFamily = (typeof RULE_FAMILIES)[number];

export const findingSchema = z.strictObject({
  /** When the span (or log record) carrying it started, ns since the epoch, as a decimal string. */
  time_unix_nano: z.string().regex(/^\d+$/),
  /** Rule id, e.g. `stripe_secret_key`. */
  rule: z.string().min(1),
  family: z.enum(RULE_FAMILIES),
  /** `secret` or `pii`. */
  category: z.enum(['secret', 'pii']),
  /** Where it was found: e.g. `span.attributes["http.request.header.authorization"]`, `span.name`, `span.events[0].attributes["exception.message"]`, `resource.attributes["db.url"]`. */
  location: z.string().min(1),
  /** Replacement applied: `mask`, `hash` or `remove`. */
  action: z.enum(['mask', 'hash', 'remove']),
  service: z.string(),
  /** The called side of the edge when known (peer.service, server.address, db.system…), else ''. */
  peer: z.string(),
  trace_id: z.string(),
  span_id: z.string(),
  /** Keyed HMAC-SHA256 fingerprint of the matched value (hex, truncated), never the value. */
  fingerprint: z.string(),
});

export type Finding = z.infer<typeof findingSchema>;

/** Findings travel on the findings topic as JSON lines, one finding per line. */
export function encodeFindings(findings: readonly Finding[]): Uint8Array {
  return encodeJsonLines(findings);
}

/** Parses and validates a findings message; throws an Error naming the first bad line. */
export function decodeFindings(bytes: Uint8Array): Finding[] {
  return decodeJsonLines(bytes, findingSchema, 'findings');
}
