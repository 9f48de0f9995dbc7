import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findingSchema, RULE_FAMILIES, type Finding } from '../../schemas/findings.js';
import { createLogRecord, createLogsData, type LogRecord, type LogsData } from '../../schemas/otlp-logs.js';
import { createSpan, createTracesData, type AnyValue, type KeyValue, type Span, type TracesData } from '../../schemas/otlp-traces.js';
import { redactionConfigSchema } from '../../schemas/redaction-config.js';
import { MAX_SCANNED_CHARS, createRedactor } from './redactor.js';
import { ALPHABETS, githubToken, pemKeys, pick, seededRandom, signedJwt } from './sample-credentials.js';
import { IDENTITY_ATTRIBUTES } from './types.js';

const KEY = 'redactor-test-hmac-key-0123456789abcdef';
const START = 1_767_225_600_123_456_789n;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

const hmac = (value: string) => createHmac('sha256', KEY).update(value).digest('hex');
const random = seededRandom(4242);
const b62 = (n: number) => pick(random, ALPHABETS.base62, n);

function redactorWith(config: unknown = {}) {
  return createRedactor(redactionConfigSchema.parse(config), { hmacKey: KEY });
}

function spanWith(fields: Partial<Span>): Span {
  return createSpan({ traceId: TRACE_ID, spanId: SPAN_ID, startTimeUnixNano: START, endTimeUnixNano: START + 1000n, ...fields });
}

function tracesOf(span: Span, service = 'checkout', resource: KeyValue[] = []): TracesData {
  const data = createTracesData(service, [span]);
  data.resourceSpans[0]!.resource.attributes.push(...resource);
  return data;
}

/** Every string in the request, joined: what would leave the collector. */
function everything(root: unknown): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (typeof v === 'bigint') out.push(v.toString());
    else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(root);
  return out.join('\n');
}

function attr(span: Span, key: string): AnyValue | undefined {
  return span.attributes.find((kv) => kv.key === key)?.value;
}

const stripeKey = `sk_live_${b62(24)}`;
const githubPat = githubToken(random, 'ghp_');

describe('where secrets hide', () => {
  it('redacts resource, scope, span name, attributes, events, links, nested maps, arrays, status and bytes, with exact locations', () => {
    const r = redactorWith();
    const email = 'jane.doe@mail.example.org';
    const span = spanWith({
      name: `charge ${stripeKey}`,
      attributes: [
        { key: 'http.route', value: '/v1/charges' },
        { key: 'config', value: { kvlist: [{ key: 'password', value: 'hunter2!' }, { key: 'region', value: 'eu-west-1' }] } },
        { key: 'tags', value: ['alpha', 'beta', `owner ${email}`] },
        { key: 'payload', value: new Uint8Array(Buffer.from(`token=${githubPat}`)) },
        { key: 'peer.service', value: 'stripe' },
      ],
      events: [{ timeUnixNano: START, name: 'exception', attributes: [{ key: 'exception.message', value: `auth failed for ${githubPat}` }, { key: 'exception.stacktrace', value: `Error\n    at connect (postgres://app:${b62(14)}@db:5432/x)` }], droppedAttributesCount: 0 }],
      links: [{ traceId: TRACE_ID, spanId: SPAN_ID, traceState: '', flags: 0, droppedAttributesCount: 0, attributes: [{ key: 'k', value: 'x' }, { key: 'note', value: `card 4111 1111 1111 1111` }] }],
      status: { code: 2, message: `declined for ${email}` },
    });
    const data = tracesOf(span, 'checkout', [{ key: 'db.url', value: `mysql://root:${b62(12)}@mysql:3306/shop` }]);
    data.resourceSpans[0]!.scopeSpans[0]!.scope.attributes.push({ key: 'x', value: `key ${githubToken(random, 'gho_')}` });

    const { findings } = r.redactTraces(data);

    expect(findings.map((f) => [f.location, f.rule])).toEqual([
      ['resource.attributes["db.url"]', 'database_url_credentials'],
      ['scope.attributes["x"]', 'github_oauth_token'],
      ['span.name', 'stripe_secret_key'],
      ['span.attributes["config"].kvlist["password"]', 'secret_key_value'],
      ['span.attributes["tags"][2]', 'email_address'],
      ['span.attributes["payload"]', 'github_pat'],
      ['span.events[0].attributes["exception.message"]', 'github_pat'],
      ['span.events[0].attributes["exception.stacktrace"]', 'database_url_credentials'],
      ['span.links[0].attributes["note"]', 'payment_card_number'],
      ['span.status.message', 'email_address'],
    ]);
    expect(span.name).toBe('charge [REDACTED:stripe_secret_key]');
    expect(attr(span, 'config')).toEqual({ kvlist: [{ key: 'password', value: '[REDACTED:secret_key_value]' }, { key: 'region', value: 'eu-west-1' }] });
    expect(attr(span, 'tags')).toEqual(['alpha', 'beta', 'owner [REDACTED:email_address]']);
    expect(Buffer.from(attr(span, 'payload') as Uint8Array).toString()).toBe('token=[REDACTED:github_pat]');
    expect(span.events[0]!.attributes[1]!.value).toBe('Error\n    at connect (postgres://[REDACTED:database_url_credentials]@db:5432/x)');
    expect(span.links[0]!.attributes[1]!.value).toBe('card [REDACTED:payment_card_number]');
    expect(span.status.message).toBe('declined for [REDACTED:email_address]');
    expect(data.resourceSpans[0]!.resource.attributes[1]!.value).toBe('mysql://[REDACTED:database_url_credentials]@mysql:3306/shop');
    expect(attr(span, 'http.route')).toBe('/v1/charges');
    const out = everything(data);
    for (const secret of [stripeKey, githubPat, email, 'hunter2!', '4111 1111 1111 1111']) expect(out).not.toContain(secret);
  });

  it('fills findings completely: edge, ids, time, HMAC fingerprint, counters', () => {
    const r = redactorWith();
    const span = spanWith({ attributes: [{ key: 'server.address', value: 'api.stripe.com' }, { key: 'peer.service', value: 'stripe' }, { key: 'message', value: `using ${stripeKey}` }] });
    const { findings } = r.redactTraces(tracesOf(span));
    expect(findings).toEqual([
      {
        time_unix_nano: START.toString(),
        rule: 'stripe_secret_key',
        family: 'payments',
        category: 'secret',
        location: 'span.attributes["message"]',
        action: 'mask',
        service: 'checkout',
        peer: 'stripe',
        trace_id: TRACE_ID,
        span_id: SPAN_ID,
        fingerprint: hmac(stripeKey).slice(0, 32),
      },
    ]);
    expect(findingSchema.parse(findings[0])).toEqual(findings[0]);
    expect(r.counts.payments).toBe(1);
    expect(Object.keys(r.counts).sort()).toEqual([...RULE_FAMILIES].sort());
  });

  it('takes the peer from server.address, db.system.name… when peer.service is absent', () => {
    const r = redactorWith();
    const span = spanWith({ attributes: [{ key: 'db.system.name', value: 'postgresql' }, { key: 'db.query.text', value: `SELECT 1 -- ${stripeKey}` }] });
    expect(r.redactTraces(tracesOf(span)).findings[0]!.peer).toBe('postgresql');
  });
});

describe('actions', () => {
  it('hash replaces with a keyed HMAC prefix', () => {
    const r = redactorWith({ families: { payments: { action: 'hash' } } });
    const span = spanWith({ attributes: [{ key: 'm', value: `k=${stripeKey}` }] });
    const { findings } = r.redactTraces(tracesOf(span));
    expect(attr(span, 'm')).toBe(`k=[HMAC:stripe_secret_key:${hmac(stripeKey).slice(0, 16)}]`);
    expect(findings[0]!.action).toBe('hash');
  });

  it('remove drops attributes and map entries, and falls back to mask elsewhere', () => {
    const r = redactorWith({ default_action: 'remove' });
    const span = spanWith({
      name: `GET ${stripeKey}`,
      attributes: [
        { key: 'keep', value: 'ok' },
        { key: 'gone', value: stripeKey },
        { key: 'map', value: { kvlist: [{ key: 'api_key', value: b62(20) }, { key: 'x', value: 1n }] } },
        { key: 'list', value: ['a', stripeKey] },
      ],
    });
    const { findings } = r.redactTraces(tracesOf(span));
    expect(span.attributes.map((kv) => kv.key).filter((key) => !key.startsWith('chainwatch.'))).toEqual(['keep', 'map', 'list']);
    expect(span.droppedAttributesCount).toBe(1);
    expect(attr(span, 'map')).toEqual({ kvlist: [{ key: 'x', value: 1n }] });
    expect(attr(span, 'list')).toEqual(['a', '[REDACTED:stripe_secret_key]']);
    expect(span.name).toBe('GET [REDACTED:stripe_secret_key]');
    expect(findings.map((f) => f.action)).toEqual(['mask', 'remove', 'remove', 'mask']);
  });
});

describe('key-based rules', () => {
  it('replaces values of secret-like keys whole, keeping an auth scheme readable', () => {
    const r = redactorWith();
    const basic = Buffer.from(`svc-orders:${b62(16)}`).toString('base64');
    const span = spanWith({
      attributes: [
        { key: 'db.password', value: 'correct horse battery staple' },
        { key: 'app.client_secret', value: b62(30) },
        { key: 'pin_password', value: 123456n },
        { key: 'http.request.header.authorization', value: [`Basic ${basic}`] },
        { key: 'http.request.header.proxy-authorization', value: ['Digest username="x", response="6629fae49393a05397450978507c4ef1"'] },
        { key: 'http.request.header.x-api-key', value: [stripeKey] },
        { key: 'http.request.header.cookie', value: ['session=abc123def456ghi789; theme=dark'] },
        { key: 'db.password_hint', value: 'see vault' },
        { key: 'gen_ai.usage.input_tokens', value: 1234n },
        { key: 'pagination.next_page_token', value: 'CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA2' },
      ],
    });
    r.redactTraces(tracesOf(span));
    expect(attr(span, 'db.password')).toBe('[REDACTED:secret_key_value]');
    expect(attr(span, 'app.client_secret')).toBe('[REDACTED:secret_key_value]');
    expect(attr(span, 'pin_password')).toBe('[REDACTED:secret_key_value]');
    expect(attr(span, 'http.request.header.authorization')).toEqual(['Basic [REDACTED:http_basic_credentials]']);
    expect(attr(span, 'http.request.header.proxy-authorization')).toEqual(['Digest [REDACTED:http_auth_credentials]']);
    expect(attr(span, 'http.request.header.x-api-key')).toEqual(['[REDACTED:stripe_secret_key]']);
    expect(attr(span, 'http.request.header.cookie')).toEqual(['[REDACTED:secret_key_value]']);
    expect(attr(span, 'db.password_hint')).toBe('see vault');
    expect(attr(span, 'gen_ai.usage.input_tokens')).toBe(1234n);
    expect(attr(span, 'pagination.next_page_token')).toBe('CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA2');
    expect(attr(span, IDENTITY_ATTRIBUTES.authScheme)).toBe('Basic');
    expect(attr(span, IDENTITY_ATTRIBUTES.subject)).toBe('svc-orders');
  });

  it('keeps templates and empty values under secret keys', () => {
    const r = redactorWith();
    const span = spanWith({ attributes: [{ key: 'password', value: '${DB_PASSWORD}' }, { key: 'token', value: '' }, { key: 'secret', value: 'null' }, { key: 'api_key', value: true }] });
    expect(r.redactTraces(tracesOf(span)).findings).toEqual([]);
    expect(span.attributes.map((kv) => kv.value)).toEqual(['${DB_PASSWORD}', '', 'null', true]);
  });

  it('masks the argument after a secret-like flag in command lines', () => {
    const r = redactorWith();
    const accountKey = `${pick(random, ALPHABETS.base64, 86)}==`;
    const password = b62(12);
    const span = spanWith({ attributes: [{ key: 'process.command_args', value: ['az', 'storage', '--account-name', 'acct', '--account-key', accountKey] }, { key: 'process.command_line', value: `mysql --user app --password ${password} shop` }] });
    r.redactTraces(tracesOf(span));
    expect(attr(span, 'process.command_args')).toEqual(['az', 'storage', '--account-name', 'acct', '--account-key', '[REDACTED:secret_key_value]']);
    expect(attr(span, 'process.command_line')).toBe('mysql --user app --password [REDACTED:secret_assignment] shop');
  });
});

describe('URLs and SQL', () => {
  it('masks userinfo and sensitive query parameters, keeping the rest readable', () => {
    const r = redactorWith();
    const code = b62(40);
    const sig = pick(random, ALPHABETS.hex, 64);
    const span = spanWith({
      attributes: [
        { key: 'url.full', value: `https://deploy:${b62(16)}@registry.example.net/v2/x?page=2&access_token=${b62(32)}#top` },
        { key: 'http.url', value: `https://bucket.s3.amazonaws.com/a.txt?X-Amz-Credential=AKIAQ3EGRQ5NZ7HXYT2L%2F20250101%2Fus-east-1&X-Amz-Signature=${sig}&X-Amz-Expires=300` },
        { key: 'url.query', value: `code=${code}&state=xyz` },
        { key: 'url.path', value: '/v1/users/42/orders' },
      ],
    });
    r.redactTraces(tracesOf(span));
    expect(attr(span, 'url.full')).toBe('https://[REDACTED:url_userinfo]@registry.example.net/v2/x?page=2&access_token=[REDACTED:url_query_secret]#top');
    expect(attr(span, 'http.url')).toBe('https://bucket.s3.amazonaws.com/a.txt?X-Amz-Credential=[REDACTED:url_query_secret]&X-Amz-Signature=[REDACTED:url_query_secret]&X-Amz-Expires=300');
    expect(attr(span, 'url.query')).toBe('code=[REDACTED:url_query_secret]&state=xyz');
    expect(attr(span, 'url.path')).toBe('/v1/users/42/orders');
  });

  it('replaces SQL literals and still reports secrets found in them', () => {
    const r = redactorWith();
    const span = spanWith({
      attributes: [
        { key: 'db.query.text', value: `SELECT * FROM users WHERE email = 'ann@mail.example.org' AND id = 42 AND note = E'it\\'s' AND body = $$raw ${stripeKey}$$ AND t1.x = $1` },
        { key: 'db.statement', value: "INSERT INTO t (a, b) VALUES ('O''Brien', 3.5e2)" },
        { key: 'db.query.summary', value: 'SELECT users' },
      ],
    });
    const { findings } = r.redactTraces(tracesOf(span));
    expect(attr(span, 'db.query.text')).toBe('SELECT * FROM users WHERE email = ? AND id = ? AND note = ? AND body = ? AND t1.x = $1');
    expect(attr(span, 'db.statement')).toBe('INSERT INTO t (a, b) VALUES (?, ?)');
    expect(attr(span, 'db.query.summary')).toBe('SELECT users');
    expect(findings.map((f) => f.rule)).toEqual(['email_address', 'stripe_secret_key']);
  });
});

describe('identity metadata', () => {
  const iat = 1_767_225_600;
  const claims = { iss: 'https://login.example.net/tenant-1', sub: 'svc-orders', azp: 'orders-api', aud: ['payments', 'ledger'], scp: ['payments.write', 'ledger.read'], iat, exp: iat + 3600, jti: 'x' };
  const token = signedJwt(claims, 'jwt-signing-key-for-tests');

  it('extracts exactly the JWT claims from the auth header and leaves no part of the token', () => {
    const r = redactorWith();
    const span = spanWith({ attributes: [{ key: 'http.request.method', value: 'POST' }, { key: 'http.request.header.authorization', value: [`Bearer ${token}`] }] });
    const data = tracesOf(span);
    const { findings } = r.redactTraces(data);
    expect(attr(span, 'http.request.header.authorization')).toEqual(['Bearer [REDACTED:jwt]']);
    const identity = Object.fromEntries(span.attributes.filter((kv) => kv.key.startsWith('chainwatch.')).map((kv) => [kv.key, kv.value]));
    expect(identity).toEqual({
      [IDENTITY_ATTRIBUTES.authScheme]: 'Bearer',
      [IDENTITY_ATTRIBUTES.kind]: 'jwt',
      [IDENTITY_ATTRIBUTES.issuer]: 'https://login.example.net/tenant-1',
      [IDENTITY_ATTRIBUTES.subject]: 'svc-orders',
      [IDENTITY_ATTRIBUTES.clientId]: 'orders-api',
      [IDENTITY_ATTRIBUTES.audience]: 'payments,ledger',
      [IDENTITY_ATTRIBUTES.scopes]: 'payments.write ledger.read',
      [IDENTITY_ATTRIBUTES.issuedAt]: BigInt(iat),
      [IDENTITY_ATTRIBUTES.expiresAt]: BigInt(iat + 3600),
      [IDENTITY_ATTRIBUTES.lifetimeS]: 3600n,
      [IDENTITY_ATTRIBUTES.fingerprint]: hmac(token).slice(0, 32),
    });
    expect(findings.map((f) => [f.rule, f.family, f.location])).toEqual([['jwt', 'jwt', 'span.attributes["http.request.header.authorization"][0]']]);
    const out = everything(data);
    const [, payload, signature] = token.split('.');
    for (const part of [payload!, signature!]) for (let i = 0; i + 8 <= part.length; i++) expect(out).not.toContain(part.slice(i, i + 8));
  });

  it('reads client_id and a space-separated scope, and masks personal data in claims', () => {
    const r = redactorWith();
    const other = signedJwt({ iss: 'idp', sub: 'jane.doe@mail.example.org', client_id: 'cli-1', scope: 'read write', iat, exp: iat + 60 });
    const span = spanWith({ attributes: [{ key: 'rpc.request.metadata.authorization', value: [`Bearer ${other}`] }] });
    r.redactTraces(tracesOf(span));
    expect(attr(span, IDENTITY_ATTRIBUTES.clientId)).toBe('cli-1');
    expect(attr(span, IDENTITY_ATTRIBUTES.scopes)).toBe('read write');
    expect(attr(span, IDENTITY_ATTRIBUTES.subject)).toBe('[REDACTED:email_address]');
    expect(attr(span, IDENTITY_ATTRIBUTES.lifetimeS)).toBe(60n);
  });

  it('prefers the auth header credential, else the first one found, and reports key facts', () => {
    const r = redactorWith();
    const span = spanWith({ attributes: [{ key: 'message', value: `fallback ${githubPat}` }, { key: 'http.request.header.x-api-key', value: [`rk_test_${b62(30)}`] }] });
    r.redactTraces(tracesOf(span));
    expect(attr(span, IDENTITY_ATTRIBUTES.kind)).toBe('stripe_restricted_key');
    expect(attr(span, IDENTITY_ATTRIBUTES.authScheme)).toBe('ApiKey');
    expect(attr(span, IDENTITY_ATTRIBUTES.environment)).toBe('test');

    const noHeader = spanWith({ attributes: [{ key: 'message', value: `a ${stripeKey} then ${githubPat}` }] });
    r.redactTraces(tracesOf(noHeader));
    expect(attr(noHeader, IDENTITY_ATTRIBUTES.kind)).toBe('stripe_secret_key');
    expect(attr(noHeader, IDENTITY_ATTRIBUTES.environment)).toBe('live');
    expect(attr(noHeader, IDENTITY_ATTRIBUTES.fingerprint)).toBe(hmac(stripeKey).slice(0, 32));
  });

  it('replaces identity attributes a client sent under our names, and adds none without a credential', () => {
    const r = redactorWith();
    const spoofed = spanWith({ attributes: [{ key: IDENTITY_ATTRIBUTES.subject, value: 'admin' }, { key: 'http.request.header.authorization', value: `Bearer ${token}` }] });
    r.redactTraces(tracesOf(spoofed));
    expect(spoofed.attributes.filter((kv) => kv.key === IDENTITY_ATTRIBUTES.subject).map((kv) => kv.value)).toEqual(['svc-orders']);
    const plain = spanWith({ attributes: [{ key: 'message', value: 'contact jane.doe@mail.example.org' }] });
    r.redactTraces(tracesOf(plain));
    expect(plain.attributes.map((kv) => kv.key)).toEqual(['message']);
  });

  it('marks an outgoing call whose recorded request headers carry no credential as scheme None', () => {
    const r = redactorWith();
    const bare = spanWith({ kind: 3, attributes: [{ key: 'http.request.header.user-agent', value: 'okhttp/4.12.0' }] });
    const server = spanWith({ kind: 2, attributes: [{ key: 'http.request.header.user-agent', value: 'okhttp/4.12.0' }] });
    const noHeaders = spanWith({ kind: 3, attributes: [{ key: 'http.request.method', value: 'GET' }] });
    for (const s of [bare, server, noHeaders]) r.redactTraces(tracesOf(s));
    expect(attr(bare, IDENTITY_ATTRIBUTES.authScheme)).toBe('None');
    expect(attr(server, IDENTITY_ATTRIBUTES.authScheme)).toBeUndefined();
    expect(attr(noHeaders, IDENTITY_ATTRIBUTES.authScheme)).toBeUndefined();
  });
});

describe('allowlists, overrides and custom rules', () => {
  it('skips allowlisted keys (exact and glob) and keeps allowlisted values', () => {
    const demo = `sk_test_${b62(24)}`;
    const r = redactorWith({ allow: { keys: ['app.fixture', 'test.samples.*'], values: [demo] } });
    const span = spanWith({ attributes: [{ key: 'app.fixture', value: stripeKey }, { key: 'test.samples.one', value: { kvlist: [{ key: 'password', value: 'x1' }] } }, { key: 'demo', value: `use ${demo}` }, { key: 'real', value: stripeKey }] });
    const { findings } = r.redactTraces(tracesOf(span));
    expect(attr(span, 'app.fixture')).toBe(stripeKey);
    expect(attr(span, 'test.samples.one')).toEqual({ kvlist: [{ key: 'password', value: 'x1' }] });
    expect(attr(span, 'demo')).toBe(`use ${demo}`);
    expect(findings.map((f) => f.location)).toEqual(['span.attributes["real"]']);
  });

  it('applies per-service family, rule and allowlist overrides', () => {
    const r = redactorWith({
      families: { email: { action: 'hash' } },
      services: { 'support-desk': { families: { email: { enabled: false } }, rules: { stripe_secret_key: { action: 'remove' } }, allow: { keys: ['ticket.*'] } } },
    });
    const email = 'jane.doe@mail.example.org';
    const make = () => spanWith({ attributes: [{ key: 'm', value: `mail ${email}` }, { key: 'k', value: stripeKey }, { key: 'ticket.body', value: githubPat }] });
    const desk = make();
    r.redactTraces(tracesOf(desk, 'support-desk'));
    expect(desk.attributes.filter((kv) => !kv.key.startsWith('chainwatch.')).map((kv) => [kv.key, kv.value])).toEqual([['m', `mail ${email}`], ['ticket.body', githubPat]]);
    const other = make();
    r.redactTraces(tracesOf(other, 'checkout'));
    expect(attr(other, 'm')).toBe(`mail [HMAC:email_address:${hmac(email).slice(0, 16)}]`);
    expect(attr(other, 'k')).toBe('[REDACTED:stripe_secret_key]');
    expect(attr(other, 'ticket.body')).toBe('[REDACTED:github_pat]');
  });

  it('turns IP addresses on when configured, and rules off one by one', () => {
    const span = () => spanWith({ attributes: [{ key: 'client.address', value: '203.0.113.9' }, { key: 'm', value: 'call +1 415 555 2671' }] });
    const off = span();
    redactorWith().redactTraces(tracesOf(off));
    expect(attr(off, 'client.address')).toBe('203.0.113.9');
    const on = span();
    redactorWith({ families: { ip_address: { enabled: true } }, rules: { phone_number: { enabled: false } } }).redactTraces(tracesOf(on));
    expect(attr(on, 'client.address')).toBe('[REDACTED:ipv4_address]');
    expect(attr(on, 'm')).toBe('call +1 415 555 2671');
  });

  it('runs custom rules with a secret group, validators and their own action', () => {
    const r = redactorWith({
      custom_rules: [
        { id: 'acme_token', pattern: 'acme_(?<secret>[A-Za-z0-9]{32})', keywords: ['acme_'], validator: { min_entropy: 3.5 }, action: 'hash' },
        { id: 'loyalty_card', family: 'payment_card', pattern: '\\bLC\\d{16}\\b', keywords: ['lc'], validator: 'luhn' },
      ],
    });
    const token = b62(32);
    const span = spanWith({ attributes: [{ key: 'm', value: `t=acme_${token} low=acme_${'ab'.repeat(16)}` }, { key: 'c', value: 'LC4111111111111111 LC4111111111111112' }] });
    const { findings } = r.redactTraces(tracesOf(span));
    expect(attr(span, 'm')).toBe(`t=acme_[HMAC:acme_token:${hmac(token).slice(0, 16)}] low=acme_${'ab'.repeat(16)}`);
    expect(attr(span, 'c')).toBe('[REDACTED:loyalty_card] LC4111111111111112');
    expect(findings.map((f) => [f.rule, f.family, f.category])).toEqual([
      ['acme_token', 'secret_key_value', 'secret'],
      ['loyalty_card', 'payment_card', 'pii'],
    ]);
  });

  it('does nothing when disabled', () => {
    const r = createRedactor(redactionConfigSchema.parse({ enabled: false }), { hmacKey: KEY });
    const span = spanWith({ attributes: [{ key: 'k', value: stripeKey }] });
    expect(r.redactTraces(tracesOf(span)).findings).toEqual([]);
    expect(attr(span, 'k')).toBe(stripeKey);
  });
});

describe('redactValue', () => {
  it('redacts one value (a log body) with the caller scope', () => {
    const r = redactorWith();
    const findings: Finding[] = [];
    const scope = { service: 'billing', peer: 'stripe', traceId: TRACE_ID, spanId: SPAN_ID, timeUnixNano: START };
    const body: AnyValue = { kvlist: [{ key: 'msg', value: `charged with ${stripeKey}` }, { key: 'password', value: 'pw' }] };
    expect(r.redactValue(body, '', 'log.body', scope, findings)).toEqual({ kvlist: [{ key: 'msg', value: 'charged with [REDACTED:stripe_secret_key]' }, { key: 'password', value: '[REDACTED:secret_key_value]' }] });
    expect(findings.map((f) => [f.location, f.service, f.peer])).toEqual([
      ['log.body.kvlist["msg"]', 'billing', 'stripe'],
      ['log.body.kvlist["password"]', 'billing', 'stripe'],
    ]);
    expect(r.redactValue('plain text', 'message', 'log.body', scope, findings)).toBe('plain text');
    expect(redactorWith({ default_action: 'remove' }).redactValue(stripeKey, 'k', 'log.attributes["k"]', scope, [])).toBeUndefined();
  });
});

describe('config', () => {
  function issues(config: unknown): string[] {
    const result = redactionConfigSchema.safeParse(config);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  }

  it('gives the defaults for an absent section', () => {
    const config = redactionConfigSchema.parse(undefined);
    expect(config.enabled).toBe(true);
    expect(config.default_action).toBe('mask');
    expect(config.families.ip_address.enabled).toBe(false);
    expect(config.families.phone.enabled).toBe(true);
    expect(config.families.cloud.enabled).toBe(true);
  });

  it('names the rule of an invalid or catastrophic pattern, with its path', () => {
    const problems = issues({
      custom_rules: [
        { id: 'fine', pattern: 'fine_[a-z]{8}', keywords: ['fine_'] },
        { id: 'broken', pattern: 'acme_(', keywords: ['acme_'] },
        { id: 'acme_token', pattern: 'acme_(a+)+$', keywords: ['acme_'] },
        { id: 'words', pattern: '(\\w+\\s?)*token', keywords: ['token'] },
      ],
    });
    expect(problems).toEqual([
      'custom_rules.1.pattern: rule "broken" has an invalid pattern: Invalid regular expression: /acme_(/: Unterminated group',
      'custom_rules.2.pattern: rule "acme_token" may backtrack catastrophically (nested quantifier "(a+)+")',
      'custom_rules.3.pattern: rule "words" may backtrack catastrophically (nested quantifier "(\\w+\\s?)*")',
    ]);
  });

  it('rejects unknown rules and families, bad keywords, duplicate ids and a short key without echoing it', () => {
    const problems = issues({
      hmac_key: 'short-secret',
      families: { crypto_wallet: { enabled: true } },
      rules: { stripe_key: { enabled: false } },
      services: { api: { rules: { nope: { action: 'mask' } } } },
      custom_rules: [
        { id: 'github_pat', pattern: 'x{3}', keywords: ['xx'] },
        { id: 'upper', pattern: 'ACME[0-9]{4}', keywords: ['ACME'] },
        { id: 'none', pattern: 'z[0-9]{4}', keywords: [] },
        { id: 'empty', pattern: 'a?', keywords: ['aa'] },
      ],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'hmac_key: expected at least 32 characters, got 12 (the key itself is not shown)',
        'families: Unrecognized key: "crypto_wallet"',
        'rules.stripe_key: unknown rule "stripe_key" (neither a built-in rule nor a custom rule id)',
        'services.api.rules.nope: unknown rule "nope" (neither a built-in rule nor a custom rule id)',
        'custom_rules.0.id: rule id "github_pat" is already used by a built-in rule',
        'custom_rules.1.keywords.0: keyword "ACME" must be lowercase (the prefilter ignores case)',
        'custom_rules.2.keywords: expected at least one keyword (rules without keywords would run on every value)',
        'custom_rules.3.pattern: rule "empty" can match the empty string',
      ]),
    );
    expect(problems.join('\n')).not.toContain('short-secret');
  });
});

function logsOf(record: LogRecord, service = 'checkout', resource: KeyValue[] = []): LogsData {
  const data = createLogsData(service, [record], { name: 'app.logger' });
  data.resourceLogs[0]!.resource.attributes.push(...resource);
  return data;
}

describe('log records', () => {
  // A generator of their own, so these tests draw nothing from the one the tests above and below share.
  const logRandom = seededRandom(2024);
  const b62 = (n: number) => pick(logRandom, ALPHABETS.base62, n);
  const jwt = signedJwt({ iss: 'https://login.example.net', sub: 'svc-payments', iat: 1_767_225_600, exp: 1_767_229_200 }, b62(16));

  it('redacts string and structured bodies, attributes, event name, resource and scope, with exact locations', () => {
    const r = redactorWith();
    const email = 'jane.doe@mail.example.org';
    const record = createLogRecord({
      timeUnixNano: START,
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      eventName: `charge.${stripeKey}`,
      body: `calling billing with Bearer ${jwt} for ${email}`,
      attributes: [
        { key: 'http.request.header.authorization', value: [`Bearer ${jwt}`] },
        { key: 'peer.service', value: 'billing' },
        { key: 'plain', value: 'nothing to see' },
      ],
    });
    const structured = createLogRecord({
      timeUnixNano: START + 1n,
      body: { kvlist: [{ key: 'request', value: { kvlist: [{ key: 'api_key', value: b62(24) }, { key: 'path', value: '/v1/charges' }] } }, { key: 'tokens', value: ['ok', githubPat] }] },
    });
    const data = logsOf(record, 'checkout', [{ key: 'db.url', value: `mysql://root:${b62(12)}@mysql:3306/shop` }]);
    data.resourceLogs[0]!.scopeLogs[0]!.logRecords.push(structured);
    data.resourceLogs[0]!.scopeLogs[0]!.scope.attributes.push({ key: 'x', value: `key ${stripeKey}` });

    const { findings } = r.redactLogs(data);

    expect(findings.map((f) => [f.location, f.rule, f.trace_id, f.span_id, f.peer])).toEqual([
      ['resource.attributes["db.url"]', 'database_url_credentials', '', '', ''],
      ['scope.attributes["x"]', 'stripe_secret_key', '', '', ''],
      ['log.body', 'jwt', TRACE_ID, SPAN_ID, 'billing'],
      ['log.body', 'email_address', TRACE_ID, SPAN_ID, 'billing'],
      ['log.attributes["http.request.header.authorization"][0]', 'jwt', TRACE_ID, SPAN_ID, 'billing'],
      ['log.event_name', 'stripe_secret_key', TRACE_ID, SPAN_ID, 'billing'],
      ['log.body.kvlist["request"].kvlist["api_key"]', 'secret_key_value', '', '', ''],
      ['log.body.kvlist["tokens"][1]', 'github_pat', '', '', ''],
    ]);
    expect(findings.every((f) => f.service === 'checkout')).toBe(true);
    expect(findings.map((f) => f.time_unix_nano)).toEqual([...Array(6).fill(START.toString()), ...Array(2).fill((START + 1n).toString())]);
    expect(record.body).toBe('calling billing with Bearer [REDACTED:jwt] for [REDACTED:email_address]');
    expect(record.attributes[0]!.value).toEqual(['Bearer [REDACTED:jwt]']);
    expect(record.eventName).toBe('charge.[REDACTED:stripe_secret_key]');
    expect(structured.body).toEqual({
      kvlist: [
        { key: 'request', value: { kvlist: [{ key: 'api_key', value: '[REDACTED:secret_key_value]' }, { key: 'path', value: '/v1/charges' }] } },
        { key: 'tokens', value: ['ok', '[REDACTED:github_pat]'] },
      ],
    });
    // Identity metadata describes calls: log records get none.
    expect(record.attributes.map((kv) => kv.key)).toEqual(['http.request.header.authorization', 'peer.service', 'plain']);
    const out = everything(data);
    for (const secret of [jwt, stripeKey, githubPat, email, jwt.split('.')[2]!]) expect(out).not.toContain(secret);
    expect(everything(findings)).not.toContain(jwt.split('.')[2]!);
  });

  it('dates a finding by the observed time of a record without a time, and keeps bytes and other bodies safe', () => {
    const r = redactorWith();
    const observed = createLogRecord({ observedTimeUnixNano: START, body: new Uint8Array(Buffer.from(`token=${githubPat}`)) });
    const { findings } = r.redactLogs(logsOf(observed));
    expect(findings.map((f) => [f.location, f.time_unix_nano])).toEqual([['log.body', START.toString()]]);
    expect(Buffer.from(observed.body as Uint8Array).toString()).toBe('token=[REDACTED:github_pat]');
    for (const body of [null, 42n, 1.5, true, '']) {
      const plain = createLogRecord({ body });
      expect(r.redactLogs(logsOf(plain)).findings).toEqual([]);
      expect(plain.body).toBe(body);
    }
  });

  it('removes attributes and body map entries under remove, and masks a body string it cannot remove', () => {
    const r = redactorWith({ default_action: 'remove' });
    const record = createLogRecord({
      body: `failed with ${stripeKey}`,
      attributes: [{ key: 'gone', value: stripeKey }, { key: 'keep', value: 'ok' }],
      droppedAttributesCount: 1,
    });
    const structured = createLogRecord({ body: { kvlist: [{ key: 'password', value: 'hunter2!' }, { key: 'n', value: 1n }] } });
    const data = logsOf(record);
    data.resourceLogs[0]!.scopeLogs[0]!.logRecords.push(structured);
    const { findings } = r.redactLogs(data);
    expect(record.body).toBe('failed with [REDACTED:stripe_secret_key]');
    expect(record.attributes).toEqual([{ key: 'keep', value: 'ok' }]);
    expect(record.droppedAttributesCount).toBe(2);
    expect(structured.body).toEqual({ kvlist: [{ key: 'n', value: 1n }] });
    expect(findings.map((f) => [f.location, f.action])).toEqual([
      ['log.body', 'mask'],
      ['log.attributes["gone"]', 'remove'],
      ['log.body.kvlist["password"]', 'remove'],
    ]);
  });

  it('applies the policy of the record\'s service, and nothing when disabled', () => {
    const r = redactorWith({ services: { billing: { families: { payments: { enabled: false } } } } });
    const billing = createLogRecord({ body: `key ${stripeKey}` });
    expect(r.redactLogs(logsOf(billing, 'billing')).findings).toEqual([]);
    expect(billing.body).toBe(`key ${stripeKey}`);
    const other = createLogRecord({ body: `key ${stripeKey}` });
    expect(r.redactLogs(logsOf(other, 'orders')).findings).toHaveLength(1);
    const off = createRedactor(redactionConfigSchema.parse({ enabled: false }), { hmacKey: KEY });
    const untouched = createLogRecord({ body: stripeKey });
    expect(off.redactLogs(logsOf(untouched)).findings).toEqual([]);
    expect(untouched.body).toBe(stripeKey);
  });

  it('never throws on malformed log data, and empties a record it could not walk', () => {
    const r = redactorWith();
    // A body that throws while it is walked, before the attribute holding a secret is reached.
    const hostile = {
      get kvlist(): KeyValue[] {
        throw new Error('not a list');
      },
    };
    const broken = createLogRecord({ body: hostile, attributes: [{ key: 'k', value: stripeKey }] });
    const data = logsOf(broken);
    expect(() => r.redactLogs(data)).not.toThrow();
    expect(broken.body).toBe('[REDACTED:unscannable]');
    expect(broken.attributes).toEqual([]);
    expect(everything(data)).not.toContain(stripeKey);
    expect(() => r.redactLogs({ resourceLogs: [null, { resource: null, scopeLogs: [{ logRecords: [null] }] }] } as unknown as LogsData)).not.toThrow();
  });
});

describe('robustness', () => {
  it('never throws on random strings, huge values, deep nesting or malformed data', () => {
    const r = redactorWith({ families: { ip_address: { enabled: true } } });
    const fuzz = seededRandom(1);
    const chars = 'aA0 @:/._-=+%$&?#"\'\\{}[]()|~`^*!;,\n\t\u00e9\u{1F600}\u0000';
    const randomString = (n: number) => Array.from({ length: n }, () => chars[Math.floor(fuzz() * chars.length)] ?? '').join('');
    for (let i = 0; i < 300; i++) {
      const span = spanWith({ name: randomString(40), attributes: [{ key: randomString(8), value: randomString(Math.floor(fuzz() * 400)) }, { key: 'authorization', value: randomString(30) }, { key: 'db.statement', value: randomString(60) }] });
      expect(() => r.redactTraces(tracesOf(span))).not.toThrow();
    }
    let deep: AnyValue = stripeKey;
    for (let i = 0; i < 5000; i++) deep = i % 2 ? [deep] : { kvlist: [{ key: 'k', value: deep }] };
    const deepSpan = spanWith({ attributes: [{ key: 'deep', value: deep }] });
    expect(() => r.redactTraces(tracesOf(deepSpan))).not.toThrow();
    expect(everything(deepSpan)).not.toContain(stripeKey);

    const malformed = spanWith({ attributes: [null as unknown as KeyValue, { key: 'ok', value: stripeKey }] });
    malformed.events = [null as unknown as Span['events'][number]];
    const data = tracesOf(malformed);
    expect(() => r.redactTraces(data)).not.toThrow();
    expect(everything(data)).not.toContain(stripeKey);
    expect(() => r.redactTraces({ resourceSpans: [null, { resource: null }] } as unknown as TracesData)).not.toThrow();
  });

  it('scans a huge value up to the limit in bounded time and drops the unscanned tail', () => {
    const r = redactorWith();
    const huge = `${stripeKey} ${'lorem ipsum dolor sit amet, '.repeat(12_000)}${githubPat}`;
    expect(huge.length).toBeGreaterThan(MAX_SCANNED_CHARS);
    const span = spanWith({ attributes: [{ key: 'm', value: huge }] });
    const started = process.hrtime.bigint();
    r.redactTraces(tracesOf(span));
    expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(2);
    const out = attr(span, 'm') as string;
    expect(out.startsWith('[REDACTED:stripe_secret_key] lorem')).toBe(true);
    expect(out).toMatch(/\[TRUNCATED:\d+ characters not scanned\]$/);
    expect(out).not.toContain(githubPat);
    expect(out.length).toBeLessThanOrEqual(MAX_SCANNED_CHARS + 64);
  });

  it('stays fast on adversarial repetitions of keywords and near-matches', () => {
    const r = redactorWith({ families: { ip_address: { enabled: true } } });
    const inputs = [
      'eyJ.'.repeat(60_000),
      '-----BEGIN PRIVATE KEY-----'.repeat(8_000),
      `${'a'.repeat(100)}@`.repeat(2_000),
      'password='.repeat(25_000),
      '1 2 3 4 '.repeat(30_000),
      `${'ab:'.repeat(50_000)}`,
      `https://${'u:'.repeat(40_000)}`,
    ];
    for (const value of inputs) {
      const span = spanWith({ attributes: [{ key: 'm', value }] });
      const started = process.hrtime.bigint();
      r.redactTraces(tracesOf(span));
      expect(Number(process.hrtime.bigint() - started) / 1e9, value.slice(0, 20)).toBeLessThan(2);
    }
  });

  it('leaves ordinary telemetry untouched', () => {
    const r = redactorWith();
    const values = [
      'GET',
      '/api/v1/users/{id}',
      'orders.internal.svc.cluster.local',
      'checkout-7d9f8b6c5d-x2x9q',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      '550e8400-e29b-41d4-a716-446655440000',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
      '2026-01-01T12:30:45.123Z',
      'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      'arn:aws:iam::123456789012:role/orders-writer',
      'v1.24.3',
      '10.0.12.34',
    ];
    const span = spanWith({ attributes: values.map((value, i) => ({ key: `a${i}`, value })) });
    expect(r.redactTraces(tracesOf(span)).findings).toEqual([]);
    expect(span.attributes.map((kv) => kv.value)).toEqual(values);
  });

  it('uses the configured hmac_key over the caller key', () => {
    const configured = 'configured-hmac-key-0123456789abcdef';
    const r = createRedactor(redactionConfigSchema.parse({ hmac_key: configured }), { hmacKey: KEY });
    const span = spanWith({ attributes: [{ key: 'k', value: stripeKey }] });
    expect(r.redactTraces(tracesOf(span)).findings[0]!.fingerprint).toBe(createHmac('sha256', configured).update(stripeKey).digest('hex').slice(0, 32));
  });
});
