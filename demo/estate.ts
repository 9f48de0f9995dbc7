/**
 * The demo estate, as data: the services of a small online shop, the sub-processors they call
 * (each with its host, a log-normal latency and an error model), the never-seen vendors the
 * `new-vendor` incident introduces, and the credentials every call edge carries.
 *
 * Credentials are fake but in the vendors' real formats (the redaction stage's sample
 * generators), drawn from the run's seed: static API keys once per run, OAuth client-credentials
 * JWTs minted per client and per token lifetime, like a real token cache. One credential is
 * shared on purpose: billing-worker calls Stripe with payments' restricted key.
 * Keeps no state beyond a small cache of minted tokens.
 */
import { ALPHABETS, pick, sampleSecrets, signedJwt } from '../processors/redaction/sample-credentials.js';
import { derivedRandom, hex8, type Random } from './seeded-random.js';

export interface ServiceDefinition {
  readonly name: ServiceName;
  readonly version: string;
  /** Internal DNS name other services call it by. */
  readonly host: string;
  /** Pod address its outgoing calls come from (`client.address` on the callee's side). */
  readonly address: string;
}

export const SERVICE_NAMES = ['checkout', 'payments', 'notifications', 'auth', 'catalog', 'search', 'billing-worker', 'webhook-relay'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const SERVICE_VERSIONS: Readonly<Record<ServiceName, string>> = {
  checkout: '3.14.2',
  payments: '2.8.0',
  notifications: '1.22.5',
  auth: '5.1.0',
  catalog: '4.3.1',
  search: '2.0.7',
  'billing-worker': '1.9.3',
  'webhook-relay': '0.12.0',
};

export const SERVICES: readonly ServiceDefinition[] = SERVICE_NAMES.map((name, i) => ({
  name,
  version: SERVICE_VERSIONS[name],
  host: `${name}.internal`,
  address: `10.42.${i + 1}.${17 + i * 9}`,
}));

/** Resource attributes every demo service shares. */
export const ESTATE_RESOURCE = { 'service.namespace': 'acme-shop', 'deployment.environment.name': 'demo' } as const;

export interface LatencyModel {
  /** Median duration in ms. */
  readonly medianMs: number;
  /** Log-normal shape: 0.3 is steady, 0.8 has a long tail. */
  readonly sigma: number;
}

export type SubProcessorKind = 'http' | 'postgresql' | 'redis' | 'kafka';

export interface SubProcessor {
  /** `peer.service` of calls to it. */
  readonly id: string;
  /** For people: `Stripe`, `AWS S3`. */
  readonly vendor: string;
  readonly kind: SubProcessorKind;
  /** `server.address` of calls to it. */
  readonly host: string;
  readonly port: number;
  readonly latency: LatencyModel;
  /** Share of calls that fail outside incidents. */
  readonly errorRate: number;
  /** The HTTP statuses (or, for databases and brokers, error types) a failure draws from. */
  readonly errorStatuses: readonly number[];
  /** `user-agent` of the vendor's SDK as services send it. */
  readonly userAgent?: string;
}

function http(id: string, vendor: string, host: string, medianMs: number, sigma: number, errorRate: number, errorStatuses: number[], userAgent: string): SubProcessor {
  return { id, vendor, kind: 'http', host, port: 443, latency: { medianMs, sigma }, errorRate, errorStatuses, userAgent };
}

/** The sub-processors the estate calls from the start. */
export const SUB_PROCESSORS = {
  stripe: http('stripe', 'Stripe', 'api.stripe.com', 220, 0.45, 0.006, [500, 502, 429], 'Stripe/v1 NodeBindings/17.7.0'),
  twilio: http('twilio', 'Twilio', 'api.twilio.com', 160, 0.5, 0.01, [503, 429, 500], 'twilio-node/5.4.5 (linux x64) node/v20.18.1'),
  sendgrid: http('sendgrid', 'SendGrid', 'api.sendgrid.com', 95, 0.4, 0.004, [503, 500], 'sendgrid/8.1.4;nodejs'),
  s3: http('aws-s3', 'AWS S3', 'acme-shop-assets.s3.eu-west-1.amazonaws.com', 38, 0.6, 0.002, [503, 500], 'aws-sdk-js/3.723.0 ua/2.1 os/linux lang/js md/nodejs#20.18.1 api/s3#3.723.0'),
  auth0: http('auth0', 'Auth0', 'acme-shop.eu.auth0.com', 140, 0.35, 0.004, [503, 429], 'node-auth0/4.15.0'),
  openai: http('openai', 'OpenAI', 'api.openai.com', 420, 0.55, 0.012, [429, 500, 503], 'OpenAI/JS 4.77.0'),
  slack: http('slack', 'Slack', 'slack.com', 120, 0.45, 0.005, [429, 503], '@slack/web-api:7.8.0 node/20.18.1 linux/6.8.0'),
  googleMaps: http('google-maps', 'Google Maps Platform', 'maps.googleapis.com', 70, 0.4, 0.003, [503, 429], 'google-maps-services-js/3.4.0'),
  postgres: { id: 'orders-postgres', vendor: 'PostgreSQL (internal)', kind: 'postgresql', host: 'orders-db.internal', port: 5432, latency: { medianMs: 1.8, sigma: 0.8 }, errorRate: 0.001, errorStatuses: [40001] },
  redis: { id: 'sessions-redis', vendor: 'Redis (internal)', kind: 'redis', host: 'sessions-cache.internal', port: 6379, latency: { medianMs: 0.4, sigma: 0.5 }, errorRate: 0.0005, errorStatuses: [0] },
  kafka: { id: 'kafka', vendor: 'Apache Kafka (internal)', kind: 'kafka', host: 'kafka-0.kafka.internal', port: 9092, latency: { medianMs: 3, sigma: 0.6 }, errorRate: 0.0005, errorStatuses: [0] },
} as const satisfies Record<string, SubProcessor>;

export type SubProcessorKey = keyof typeof SUB_PROCESSORS;

/** A vendor the `new-vendor` incident brings in: which service starts calling it, and how. */
export interface NewVendor {
  readonly subProcessor: SubProcessor;
  readonly caller: ServiceName;
  readonly method: string;
  readonly path: string;
  /** The recorded credential header: name and a function of the run's credentials. */
  readonly credentialHeader: string;
  readonly credential: (credentials: EstateCredentials) => string;
}

function newVendor(subProcessor: SubProcessor, caller: ServiceName, path: string, credentialHeader: string, credential: (c: EstateCredentials) => string): NewVendor {
  return { subProcessor, caller, method: 'POST', path, credentialHeader, credential };
}

/** One per cycle, in this order: each is never seen before its cycle. */
export const NEW_VENDORS: readonly NewVendor[] = [
  newVendor(http('anthropic', 'Anthropic', 'api.anthropic.com', 1100, 0.5, 0.01, [529, 429], 'Anthropic/JS 0.36.3'), 'catalog', '/v1/messages', 'x-api-key', (c) => c.anthropic),
  newVendor(
    http('huggingface', 'Hugging Face', 'api-inference.huggingface.co', 300, 0.6, 0.02, [503], 'huggingface.js/inference/3.1.0'),
    'search',
    '/models/sentence-transformers/all-MiniLM-L6-v2',
    'authorization',
    (c) => `Bearer ${c.huggingface}`,
  ),
  newVendor(http('replicate', 'Replicate', 'api.replicate.com', 2400, 0.6, 0.02, [502, 429], 'replicate-javascript/1.0.1'), 'catalog', '/v1/predictions', 'authorization', (c) => `Bearer ${c.replicate}`),
  newVendor(http('groq', 'Groq', 'api.groq.com', 260, 0.45, 0.01, [429, 503], 'Groq/JS 0.9.1'), 'notifications', '/openai/v1/chat/completions', 'authorization', (c) => `Bearer ${c.groq}`),
];

/** Every sub-processor a run can call. */
export function allSubProcessors(): SubProcessor[] {
  return [...Object.values(SUB_PROCESSORS), ...NEW_VENDORS.map((v) => v.subProcessor)];
}

/** The static credentials of one run. Fake, in real formats; each service has its own, but one. */
export interface EstateCredentials {
  /** Stripe restricted key of payments, also used by billing-worker (the shared credential). */
  readonly stripe: string;
  readonly sendgrid: string;
  readonly slackBot: string;
  /** OpenAI project keys of search and of catalog. */
  readonly openaiSearch: string;
  readonly openaiCatalog: string;
  readonly googleMaps: string;
  /** Twilio API keys (SID and secret, sent as HTTP Basic) of notifications and of auth. */
  readonly twilioNotifications: TwilioApiKey;
  readonly twilioAuth: TwilioApiKey;
  readonly auth0ClientId: string;
  readonly auth0ClientSecret: string;
  readonly awsAccessKeyId: string;
  /** The API key webhook-relay sends to notifications (over plaintext HTTP). */
  readonly notificationsApiKey: string;
  readonly anthropic: string;
  readonly huggingface: string;
  readonly replicate: string;
  readonly groq: string;
  /** Signs the OAuth tokens the auth service's issuer hands out. */
  readonly jwtSigningKey: string;
}

export interface TwilioApiKey {
  readonly sid: string;
  readonly secret: string;
}

export function createCredentials(seed: number): EstateCredentials {
  const random = derivedRandom(seed, 'credentials');
  const samples = sampleSecrets(random);
  const more = sampleSecrets(random);
  const b62 = (n: number): string => pick(random, ALPHABETS.base62, n);
  return {
    stripe: samples['stripe_restricted_key']!,
    sendgrid: samples['sendgrid_api_key']!,
    slackBot: samples['slack_bot_token']!,
    openaiSearch: samples['openai_api_key']!,
    openaiCatalog: more['openai_api_key']!,
    googleMaps: samples['gcp_api_key']!,
    twilioNotifications: { sid: samples['twilio_api_key']!, secret: b62(32) },
    twilioAuth: { sid: more['twilio_api_key']!, secret: b62(32) },
    auth0ClientId: b62(32),
    auth0ClientSecret: pick(random, ALPHABETS.base64url, 64),
    awsAccessKeyId: samples['aws_access_key_id']!,
    notificationsApiKey: `ntf_live_${b62(40)}`,
    anthropic: samples['anthropic_api_key']!,
    huggingface: samples['huggingface_token']!,
    replicate: samples['replicate_api_token']!,
    groq: samples['groq_api_key']!,
    jwtSigningKey: b62(32),
  };
}

/** The issuer of the estate's OAuth client-credentials tokens (an Auth0 tenant). */
export const TOKEN_ISSUER = 'https://acme-shop.eu.auth0.com/';
/** Tokens live an hour; a client fetches a new one when its token expires. */
export const TOKEN_LIFETIME_S = 3600;

/** A machine client of the issuer: who calls whom, with which scopes. */
export interface OAuthClient {
  readonly service: ServiceName;
  readonly audience: string;
  readonly scope: string;
}

export const OAUTH_CLIENTS = {
  checkoutToPayments: { service: 'checkout', audience: 'https://payments.internal', scope: 'payments:create payments:read' },
  checkoutToAuth: { service: 'checkout', audience: 'https://auth.internal', scope: 'tokens:introspect' },
  billingToPayments: { service: 'billing-worker', audience: 'https://payments.internal', scope: 'refunds:create payments:read' },
} as const satisfies Record<string, OAuthClient>;

/**
 * Mints the access token a client holds at a given time: the same token for a whole lifetime
 * window (as a token cache keeps it), a new one after. Deterministic in (seed, client, window).
 */
export class TokenMint {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly seed: number,
    private readonly signingKey: string,
  ) {}

  bearer(client: OAuthClient, atMs: number): string {
    const window = Math.floor(atMs / 1000 / TOKEN_LIFETIME_S);
    const key = `${client.service}|${client.audience}|${window}`;
    let token = this.cache.get(key);
    if (token === undefined) {
      if (this.cache.size > 64) this.cache.clear();
      const random: Random = derivedRandom(this.seed, `token|${key}`);
      const iat = window * TOKEN_LIFETIME_S + Math.floor(random() * 60);
      const clientId = derivedClientId(this.seed, client.service);
      token = signedJwt(
        {
          iss: TOKEN_ISSUER,
          sub: `${clientId}@clients`,
          aud: client.audience,
          iat,
          exp: iat + TOKEN_LIFETIME_S + 60,
          scope: client.scope,
          gty: 'client-credentials',
          azp: clientId,
          jti: `${hex8(random)}${hex8(random)}`,
        },
        this.signingKey,
        { alg: 'HS256', typ: 'JWT', kid: `${hex8(random)}` },
      );
      this.cache.set(key, token);
    }
    return token;
  }
}

/** The OAuth client id of a service (Auth0 style: 32 alphanumerics), stable for a run. */
export function derivedClientId(seed: number, service: ServiceName): string {
  return pick(derivedRandom(seed, `client-id|${service}`), ALPHABETS.base62, 32);
}
