/**
 * Identity metadata of credentials: the non-secret facts a JWT's claims, a Basic user name or a
 * key format reveal, and their rendering as the span attributes of IDENTITY_ATTRIBUTES.
 *
 * Never returns the token, a signature or a password: only claims that identify who and what
 * (iss, sub, client, audience, scopes, issue and expiry times) and the credential's kind.
 * Every string is capped so a crafted token cannot inflate a span. Stateless.
 */
import type { KeyValue } from '../../schemas/otlp-traces.js';
import { IDENTITY_ATTRIBUTES } from './types.js';
import type { CredentialFacts } from './rule-definition.js';
import { parseJwt } from './validators.js';

/** What the redactor attaches to a span for the credential it chose. */
export interface CredentialIdentity extends CredentialFacts {
  /** `jwt` or the rule id of the recognised format. */
  kind: string;
  authScheme?: string;
  fingerprint: string;
}

const MAX_FACT_LENGTH = 256;

function cap(text: string): string {
  return text.length > MAX_FACT_LENGTH ? text.slice(0, MAX_FACT_LENGTH) : text;
}

function claimString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 ? cap(value) : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function claimList(value: unknown, separator: string): string | undefined {
  if (Array.isArray(value)) {
    const items = value.map(claimString).filter((v): v is string => v !== undefined);
    return items.length > 0 ? cap(items.join(separator)) : undefined;
  }
  return claimString(value);
}

function claimSeconds(value: unknown): bigint | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1e13) return undefined;
  return BigInt(Math.floor(value));
}

/**
 * Facts from a JWT's claims. The client is `client_id` (RFC 9068), else `azp` (OIDC), `appid`
 * (Entra ID v1) or `cid` (Okta); scopes are `scope` (space-separated) or `scp` (string or list).
 */
export function jwtFacts(token: string): CredentialFacts | undefined {
  const jwt = parseJwt(token);
  if (!jwt) return undefined;
  const claims = jwt.payload;
  if (!claims) return {}; // encrypted: nothing readable
  const facts: CredentialFacts = {};
  const issuer = claimString(claims.iss);
  const subject = claimString(claims.sub);
  const clientId = claimString(claims.client_id) ?? claimString(claims.azp) ?? claimString(claims.appid) ?? claimString(claims.cid);
  const audience = claimList(claims.aud, ',');
  const scopes = claimList(claims.scope, ' ') ?? claimList(claims.scp, ' ') ?? claimList(claims.scopes, ' ');
  const issuedAt = claimSeconds(claims.iat);
  const expiresAt = claimSeconds(claims.exp);
  if (issuer !== undefined) facts.issuer = issuer;
  if (subject !== undefined) facts.subject = subject;
  if (clientId !== undefined) facts.clientId = clientId;
  if (audience !== undefined) facts.audience = audience;
  if (scopes !== undefined) facts.scopes = scopes;
  if (issuedAt !== undefined) facts.issuedAt = issuedAt;
  if (expiresAt !== undefined) facts.expiresAt = expiresAt;
  return facts;
}

/** Spellings of the common schemes as RFC 7235 writes them; others are kept as sent. */
const SCHEME_SPELLING: Readonly<Record<string, string>> = {
  bearer: 'Bearer',
  basic: 'Basic',
  digest: 'Digest',
  negotiate: 'Negotiate',
  ntlm: 'NTLM',
  token: 'Token',
  apikey: 'ApiKey',
  dpop: 'DPoP',
};

export function canonicalScheme(scheme: string): string {
  return SCHEME_SPELLING[scheme.toLowerCase()] ?? cap(scheme);
}

/** The span attributes for `identity`; times as int (bigint) attributes. */
export function identityAttributes(identity: CredentialIdentity): KeyValue[] {
  const out: KeyValue[] = [];
  const put = (key: string, value: string | bigint | undefined) => {
    if (value !== undefined) out.push({ key, value });
  };
  put(IDENTITY_ATTRIBUTES.authScheme, identity.authScheme);
  put(IDENTITY_ATTRIBUTES.kind, identity.kind);
  put(IDENTITY_ATTRIBUTES.issuer, identity.issuer);
  put(IDENTITY_ATTRIBUTES.subject, identity.subject);
  put(IDENTITY_ATTRIBUTES.clientId, identity.clientId);
  put(IDENTITY_ATTRIBUTES.audience, identity.audience);
  put(IDENTITY_ATTRIBUTES.scopes, identity.scopes);
  put(IDENTITY_ATTRIBUTES.issuedAt, identity.issuedAt);
  put(IDENTITY_ATTRIBUTES.expiresAt, identity.expiresAt);
  if (identity.issuedAt !== undefined && identity.expiresAt !== undefined) {
    put(IDENTITY_ATTRIBUTES.lifetimeS, identity.expiresAt - identity.issuedAt);
  }
  put(IDENTITY_ATTRIBUTES.fingerprint, identity.fingerprint);
  put(IDENTITY_ATTRIBUTES.environment, identity.environment);
  return out;
}

/** Every identity attribute name, to replace values a client may have sent under our names. */
export const IDENTITY_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set(Object.values(IDENTITY_ATTRIBUTES));
