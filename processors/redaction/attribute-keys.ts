/**
 * What an attribute key says about its value: a credential header (Authorization, an API-key
 * header), a secret-like name (password, client_secret, *_token, cookie…), a SQL text
 * attribute, or nothing special. The same test judges names in free text (`password=…`) and
 * command-line flags (`--account-key …`), so there is one list of secret-like names.
 *
 * The decision uses the key's last segment, or the header name of OpenTelemetry's
 * `http.request.header.<name>` / `rpc.*.metadata.<name>` keys, normalised for case, `_` and `-`
 * (`X-Api-Key`, `x_api_key` and `xapikey` are one name). Pure; the redactor caches results per key.
 */

export const KeyKind = {
  plain: 0,
  /** Value replaced whole (password, api_key, client_secret, private_key, session…). */
  secret: 1,
  /** `Authorization`-style: `<scheme> <credentials>`, scheme kept readable. */
  authorization: 2,
  /** An API-key header: the whole value is a key, reported with scheme `ApiKey`. */
  apiKey: 3,
  /** Query text whose literals are replaced by `?`. */
  sql: 4,
  /** On an allowlist: never scanned. */
  allowed: 5,
} as const;
export type KeyKind = (typeof KeyKind)[keyof typeof KeyKind];

const HEADER_PREFIXES = [
  'http.request.header.',
  'http.response.header.',
  'rpc.grpc.request.metadata.',
  'rpc.grpc.response.metadata.',
  'rpc.request.metadata.',
  'rpc.response.metadata.',
];

const SQL_KEYS = new Set(['db.query.text', 'db.statement']);

const AUTHORIZATION_NAMES = new Set(['authorization', 'proxyauthorization']);

const API_KEY_NAMES = new Set([
  'xapikey',
  'apikey',
  'xapitoken',
  'xauthtoken',
  'xaccesstoken',
  'xgoogapikey',
  'ocpapimsubscriptionkey',
  'xfunctionskey',
  'xamzsecuritytoken',
  'privatetoken', // GitLab
  'xvaulttoken',
  'xconsultoken',
  'xnomadtoken',
  'xshopifyaccesstoken',
  'xbraintreeapikey',
  'xsecret',
  'xtoken',
]);

/** Names whose value is a secret, exactly (after normalisation). */
const SECRET_NAMES = new Set(['pwd', 'secret', 'token', 'session', 'credential', 'credentials', 'passphrase', 'cookie', 'setcookie', 'privatekey', 'signingkey', 'encryptionkey', 'masterkey', 'accountkey', 'sharedaccesskey', 'sessionid', 'jsessionid', 'phpsessid']);

/** Suffixes that make a name secret: `db_password`, `stripe_api_key`, `github_token`, `oauth_client_secret`. */
const SECRET_SUFFIXES = ['password', 'passwd', 'secret', 'token', 'apikey', 'privatekey', 'secretkey', 'accesskey', 'clientsecret', 'credentials', 'passphrase', 'sessionid'];

/** Opaque but not credentials: pagination cursors, token metadata. */
const NOT_SECRET = /(?:next|page|continuation|pagination|sync|cursor|csrfparam)token$|^(?:token(?:type|count|s)|secretname|secretarn|secretid)$/;

/** Lowercase, no `_` or `-`: the form every name list above uses. */
export function normalizeKeyName(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, '');
}

/** The header or metadata name of `http.request.header.<name>`-style keys, else undefined. */
function headerName(lowerKey: string): string | undefined {
  for (const prefix of HEADER_PREFIXES) if (lowerKey.startsWith(prefix)) return lowerKey.slice(prefix.length);
  return undefined;
}

/**
 * Classifies a key (allowlists are the redactor's business). A bare key with no dot counts as a
 * header name too: the keys of a kvlist of headers are plain names (`{"authorization": …}`).
 */
export function classifyKey(key: string): KeyKind {
  if (SQL_KEYS.has(key)) return KeyKind.sql;
  const lower = key.toLowerCase();
  const header = headerName(lower);
  const dot = lower.lastIndexOf('.');
  const name = normalizeKeyName(header ?? (dot >= 0 ? lower.slice(dot + 1) : lower));
  const headerLike = header !== undefined || dot < 0;
  if (AUTHORIZATION_NAMES.has(name)) return KeyKind.authorization;
  if (API_KEY_NAMES.has(name)) return headerLike ? KeyKind.apiKey : KeyKind.secret;
  if (NOT_SECRET.test(name)) return KeyKind.plain;
  if (SECRET_NAMES.has(name)) return KeyKind.secret;
  for (const suffix of SECRET_SUFFIXES) if (name.endsWith(suffix)) return KeyKind.secret;
  return KeyKind.plain;
}

/** True for kinds whose value the key rules replace whatever it looks like. */
export function isCredentialKind(kind: KeyKind): boolean {
  return kind >= KeyKind.secret && kind <= KeyKind.apiKey;
}

/** A name in free text or a flag (`--client-secret`) is secret-like by the same test as a key. */
export function isSecretName(name: string): boolean {
  return isCredentialKind(classifyKey(name));
}

/** `--password`, `-token`, `--account-key`: a command-line flag whose next argument is a secret. */
export function isSecretFlag(arg: string): boolean {
  return arg.length > 2 && arg.charCodeAt(0) === 45 /* - */ && !arg.includes('=') && isSecretName(arg.replace(/^-{1,2}/, ''));
}
