/**
 * The public shape of the redaction stage, shared by the rule engine (`redactor.ts`), the
 * collector wiring, the corpus test and the benchmark.
 *
 * Contract of `Redactor`:
 * - `redactTraces(data)` rewrites `data` IN PLACE so that no value any enabled rule matches is
 *   left in it: every string of resource, scope, span, event and link attributes (inside arrays
 *   and maps too), span names, event names and status messages; ids and trace state are not
 *   touched (they are not secrets).
 *   It returns the findings (never containing the matched value) and, as extra span attributes,
 *   the identity metadata of credentials it found (see IDENTITY_ATTRIBUTES).
 * - `redactLogs(data)` does the same for log data: resource and scope attributes, log record
 *   bodies (strings, and every string inside structured kvlist/array bodies), attributes, event
 *   names and severity texts; findings name the place (`log.body`, `log.body.kvlist["token"]`,
 *   `log.attributes["key"]`) and the record's trace and span ids. No identity attributes are
 *   added to log records.
 * - `redactValue(value, …)` does the same for one AnyValue, recursively.
 * - Compiled once from config; never compiles a regex per record; never throws on any input.
 */
import type { Finding, RuleFamily } from '../../schemas/findings.js';
import type { AnyValue } from '../../schemas/otlp-common.js';
import type { LogsData } from '../../schemas/otlp-logs.js';
import type { TracesData } from '../../schemas/otlp-traces.js';

/** What a finding needs to know about the record a value sits in. */
export interface FindingScope {
  service: string;
  peer: string;
  traceId: string;
  spanId: string;
  timeUnixNano: bigint;
}

export interface RedactionResult {
  findings: Finding[];
}

export interface Redactor {
  redactTraces(data: TracesData): RedactionResult;
  redactLogs(data: LogsData): RedactionResult;
  /**
   * Redacts one value found at `location` (e.g. `log.body`) under attribute key `key` ('' when it
   * has none); returns the value to keep (the same object when nothing matched), or undefined
   * when the rule's action removes it. Findings are appended to `findings`.
   */
  redactValue(value: AnyValue, key: string, location: string, scope: FindingScope, findings: Finding[]): AnyValue | undefined;
  /** Matches per family since start (monotonic), for metrics. */
  readonly counts: Readonly<Record<RuleFamily, number>>;
}

/**
 * Identity metadata attribute names added to a span that carried a credential. Values are
 * non-secret facts only; never the token, its signature, or a secret part of a key.
 */
export const IDENTITY_ATTRIBUTES = {
  /** `Bearer`, `Basic`, `ApiKey` (an API-key header such as x-api-key), `Digest`, …; `None` on an outgoing call whose recorded request headers carry no credential. */
  authScheme: 'chainwatch.auth.scheme',
  /** `jwt`, or the rule id of a recognised key format (`stripe_secret_key`, `github_pat`, …). */
  kind: 'chainwatch.credential.kind',
  issuer: 'chainwatch.credential.issuer',
  subject: 'chainwatch.credential.subject',
  clientId: 'chainwatch.credential.client_id',
  /** Comma-separated when the JWT has several audiences. */
  audience: 'chainwatch.credential.audience',
  /** Space-separated, as OAuth scopes are written. */
  scopes: 'chainwatch.credential.scopes',
  /** Unix seconds, as int attributes. */
  issuedAt: 'chainwatch.credential.issued_at',
  expiresAt: 'chainwatch.credential.expires_at',
  /** exp − iat in seconds, when both are present. */
  lifetimeS: 'chainwatch.credential.lifetime_s',
  /** The keyed HMAC fingerprint of the credential (same as the finding's). */
  fingerprint: 'chainwatch.credential.fingerprint',
  /** Non-secret facts a key format reveals: e.g. `live`/`test` for Stripe, the AWS account id is NOT taken. */
  environment: 'chainwatch.credential.environment',
} as const;
