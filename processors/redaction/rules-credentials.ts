/**
 * Built-in rules for credentials recognised by structure rather than by vendor: JWTs, PEM
 * private keys, HTTP Basic and Bearer credentials, credentials in URLs (user:password@ and
 * sensitive query parameters), database and broker connection strings, and `name=value`
 * assignments of secret-like names in free text (exception messages, log lines).
 *
 * Context rules mask only their `secret` group so the surrounding text stays readable:
 * `postgres://[REDACTED:database_url_credentials]@db:5432/app`, `?code=[REDACTED:url_query_secret]&state=x`.
 * The generic ones have low priority, so a specific format matched on the same text wins (a JWT in
 * `?access_token=` is reported as `jwt`). Stateless.
 */
import { isSecretName } from './attribute-keys.js';
import { jwtFacts } from './credential-identity.js';
import { definePatternRule, type PatternRule } from './rule-definition.js';
import { decodeBasicCredentials, looksLikePlaceholder, parseJwt, shannonEntropy } from './validators.js';

/** Passwords that mark a documentation URL (`postgres://user:password@localhost`), not a leak. */
const SAMPLE_PASSWORDS = new Set(['password', 'passwd', 'pass', 'pwd', 'secret', 'changeme', 'p@ssw0rd', 'yourpassword', 'mypassword']);

function urlCredentialsValid(userInfo: string): boolean {
  const password = userInfo.slice(userInfo.indexOf(':') + 1);
  return !SAMPLE_PASSWORDS.has(password.toLowerCase()) && !looksLikePlaceholder(password);
}

/** A plain word is not a token: "Bearer authentication", "token: expired". */
function tokenLike(value: string): boolean {
  if (/^[a-z_\-.]+$/i.test(value) && !/[A-Z].*[a-z]|[a-z].*[A-Z]/.test(value)) return false;
  return /\d/.test(value) || (value.length >= 16 && /[a-z]/.test(value) && /[A-Z]/.test(value)) || shannonEntropy(value) >= 3.5;
}

/** userinfo of an authority: a user without ':' '@' '/', then ':' and a password (which may hold '@' and ':'). */
const USERINFO = String.raw`(?<secret>[^\s:/?#@"'<>\[\]]{0,128}:[^\s/?#"'<>\[\]]{1,1024})@`;

const DATABASE_SCHEMES = [
  'postgres(?:ql)?',
  'mysql',
  'mariadb',
  'mongodb(?:\\+srv)?',
  'rediss?',
  'amqps?',
  'mssql',
  'sqlserver',
  'oracle',
  'clickhouse',
  'cockroachdb',
  'nats',
  'kafka',
  'memcached',
  'couchbases?',
  'cassandra',
  'neo4j(?:\\+s)?',
  'bolt',
  'db2',
  'snowflake',
  'redshift',
  'trino',
  'presto',
].join('|');

/**
 * Query parameters whose value is a credential although the name is not secret-like as an
 * attribute key would be (those — access_token, client_secret, password… — count too).
 */
const SIGNATURE_QUERY_NAMES = new Set(['signature', 'x-amz-signature', 'x-amz-credential', 'x-goog-signature', 'x-goog-credential', 'awsaccesskeyid', 'jwt']);
/** Names that are credentials only when the value looks random: `?code=US`, `?key=orders` are not. */
const WEAK_QUERY_NAMES = new Set(['code', 'key', 'sig', 'session', 'auth', 'sas']);

function queryParameterValid(secret: string, match: RegExpExecArray): boolean {
  const name = (match.groups?.name ?? '').toLowerCase();
  if (WEAK_QUERY_NAMES.has(name)) return secret.length >= 10 && tokenLike(secret) && shannonEntropy(secret) >= 3;
  return SIGNATURE_QUERY_NAMES.has(name) || isSecretName(name);
}

/**
 * A name in free text (`db_password`, `stripe.api_key`, `Authorization`): whether it is
 * secret-like is decided by the attribute-key classifier, so keys, free text and command-line
 * flags share one list. Matched from its first character, so `next_page_token` is judged whole,
 * and atomically (a lookahead captures it, the backreference consumes it), so a failed
 * assignment never backtracks through the name and the rule stays linear on long texts.
 */
const ASSIGNED_NAME = String.raw`(?=(?<name>[A-Za-z_][A-Za-z0-9_.\-]{0,63}))\k<name>`;
const ASSIGNMENT = String.raw`\\?["']?\s{0,3}(?:[:=]|=>|:=)\s{0,3}\\?["']?`;
/** A quoted value up to its closing quote, else an unquoted one up to a delimiter. */
const ASSIGNED_VALUE = String.raw`(?<secret>(?<=")[^"\\\r\n]{1,256}(?=\\?")|(?<=')[^'\\\r\n]{1,256}(?=')|[^\s"'\\,;&<>{}()\[\]]{1,256})`;

function assignmentValid(secret: string, match: RegExpExecArray): boolean {
  const name = match.groups?.name ?? '';
  if (!isSecretName(name)) return false;
  if (/^[a-z]{1,12}$/i.test(secret)) return false; // "password: incorrect", "token=expired", "Authorization: Bearer"
  const normalized = name.toLowerCase();
  if (normalized.includes('pass') || normalized.endsWith('pwd')) return true;
  return secret.length >= 8 && tokenLike(secret);
}

/**
 * One character of a PEM body: base64, whitespace, JSON `\n` escapes, and the `Proc-Type:` /
 * `DEK-Info:` header characters. A '-' only when it does not start the `-----` of an END (or of
 * the next BEGIN) line: the lazy scan for END then stops there, which keeps the rule linear on
 * text full of BEGIN lines.
 */
const PEM_BODY = String.raw`(?:[A-Za-z0-9+/=\s\\:,.]|-(?!----))`;

export const CREDENTIAL_RULES: readonly PatternRule[] = [
  definePatternRule({
    id: 'jwt',
    family: 'jwt',
    keywords: ['eyj'],
    // JWS (3 parts) or JWE (5 parts); the header always starts with base64url('{"').
    patterns: [
      String.raw`(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{5,4096}\.[A-Za-z0-9_\-]{2,16384}\.[A-Za-z0-9_\-]{0,8192}(?:\.[A-Za-z0-9_\-]{0,16384}\.[A-Za-z0-9_\-]{0,8192})?(?![A-Za-z0-9_\-])`,
    ],
    rejectPlaceholders: false,
    validate: (secret) => parseJwt(secret) !== undefined,
    identity: (secret) => jwtFacts(secret),
  }),
  definePatternRule({
    id: 'pem_private_key',
    family: 'private_key',
    keywords: ['-----begin'],
    // Through the END line when present; else to the end of the base64 body (a truncated key is
    // still a key). Literal "\n" escapes of a JSON string are part of the body.
    patterns: [
      String.raw`-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:${PEM_BODY}{0,16384}?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|${PEM_BODY}{16,16384})`,
    ],
    rejectPlaceholders: false,
    validate: (secret) => /[A-Za-z0-9+/]{16}/.test(secret),
  }),
  definePatternRule({
    id: 'http_basic_credentials',
    family: 'http_auth',
    keywords: ['basic'],
    patterns: [String.raw`(?<![A-Za-z0-9])basic\s{1,3}(?<secret>[A-Za-z0-9+/]{4,2048}={0,2})(?![A-Za-z0-9+/=])`],
    flags: 'i',
    priority: 2,
    validate: (secret) => decodeBasicCredentials(secret) !== undefined,
    identity: (secret) => {
      const user = decodeBasicCredentials(secret)?.user;
      // A long random user is an API key used as the user name (Stripe, Twilio): not an identity to print.
      if (user === undefined || (user.length >= 16 && shannonEntropy(user) >= 3.5)) return {};
      return { subject: user.slice(0, 256) };
    },
  }),
  definePatternRule({
    id: 'bearer_token',
    family: 'http_auth',
    keywords: ['bearer'],
    patterns: [String.raw`(?<![A-Za-z0-9])bearer\s{1,3}(?<secret>[A-Za-z0-9\-._~+/]{8,8192}={0,2})`],
    flags: 'i',
    priority: 2,
    extendOver: 'base64url',
    validate: tokenLike,
  }),
  definePatternRule({
    id: 'url_userinfo',
    family: 'url_credentials',
    keywords: ['://'],
    patterns: [String.raw`(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{1,30}://${USERINFO}`],
    priority: 1,
    validate: urlCredentialsValid,
  }),
  definePatternRule({
    id: 'url_query_secret',
    family: 'url_credentials',
    // Substrings of every name above and of every secret-like name (attribute-keys.ts).
    keywords: ['pass', 'pwd', 'secret', 'token', 'key', 'credential', 'auth', 'session', 'cookie', 'sessid', 'signature', 'sig=', 'code=', 'jwt=', 'sas='],
    // After ?, & or # (OAuth implicit flow), or at the start of a bare query (url.query). The
    // value ends at the next parameter or the fragment, which stay readable.
    patterns: [String.raw`(?:(?<=[?&#])|^)(?=(?<name>[A-Za-z_][A-Za-z0-9_.\-]{0,63}))\k<name>=(?<secret>[^&#;\s"'<>]{1,8192})`],
    priority: 1,
    extendOver: 'query',
    validate: queryParameterValid,
  }),
  definePatternRule({
    id: 'database_url_credentials',
    family: 'connection_string',
    keywords: ['://'],
    patterns: [String.raw`(?<![A-Za-z0-9+.\-])(?:jdbc:)?(?:${DATABASE_SCHEMES})://${USERINFO}`],
    flags: 'i',
    priority: 2,
    validate: urlCredentialsValid,
  }),
  definePatternRule({
    id: 'connection_string_password',
    family: 'connection_string',
    keywords: ['password', 'pwd', 'passwd'],
    // ADO.NET / ODBC (`Server=…;Password=…;`, `PWD={…}`) and JDBC query parameters. The context
    // lookbehind comes after the name, so it only runs where a name matched (linear time).
    patterns: [
      String.raw`(?:password|pwd|passwd)(?<=(?:[;{]\s{0,3}|jdbc:[^\s"']{1,512}[?&])(?:password|pwd|passwd))\s{0,2}=\s{0,2}(?<secret>"[^"]{1,256}"|'[^']{1,256}'|\{[^}]{1,256}\}|[^;\s"'&]{1,256})`,
    ],
    flags: 'i',
    priority: 2,
    extendOver: 'value',
    validate: (secret) => !looksLikePlaceholder(secret.replace(/^["'{]|["'}]$/g, '')),
  }),
  definePatternRule({
    id: 'secret_assignment',
    family: 'secret_key_value',
    // Substrings of every secret-like name (attribute-keys.ts); the name itself is checked in validate.
    keywords: ['pass', 'pwd', 'secret', 'token', 'key', 'credential', 'auth', 'session', 'cookie', 'sessid'],
    patterns: [
      // name=value, name: value, "name": "value", 'name' => 'value' (URL query parameters are url_query_secret's)
      String.raw`(?<![A-Za-z0-9_\-.?&#])${ASSIGNED_NAME}${ASSIGNMENT}${ASSIGNED_VALUE}`,
      // command lines: --client-secret value
      String.raw`(?<![A-Za-z0-9_\-.])--?${ASSIGNED_NAME}\s{1,3}["']?${ASSIGNED_VALUE}`,
    ],
    flags: 'i',
    priority: 0,
    extendOver: 'value',
    validate: assignmentValid,
  }),
];
