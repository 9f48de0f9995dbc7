/**
 * The demo's traffic: requests arrive at the estate as a Poisson process at the configured rate
 * and each becomes one trace across the services — a checkout, a product page, a search, a
 * login, a Stripe webhook, an invoice run — with the calls each service makes to the others and
 * to its sub-processors, the log records it writes, and the credentials it carries.
 *
 * Credentials travel as real services send them: Authorization headers with client-credentials
 * JWTs or vendor keys, an API-key header, HTTP Basic, AWS SigV4, mTLS on one edge, nothing on
 * the plaintext internal calls. Now and then a token leaks: into a URL query, a log body, an
 * exception message or a SQL literal. The scheduled incidents (incidents.ts) bend this traffic.
 *
 * Arrivals and every choice inside a trace draw from the run's seeded generator, and the time of
 * each span is the run's start plus the arrival offset plus simulated latencies: with a pinned
 * start time, one seed gives exactly one sequence of traces, however fast they are emitted.
 * State: the generator, the next arrival offset and counters.
 */
import { SpanKind, type Attributes } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ALPHABETS, pick, signedJwt } from '../processors/redaction/sample-credentials.js';
import { selectedIncidents, type IncidentSelection } from '../schemas/demo-config.js';
import { CallSimulator, GRPC_UNAUTHENTICATED, httpReason, type Hop, type Outcome } from './call-simulator.js';
import {
  createCredentials,
  NEW_VENDORS,
  OAUTH_CLIENTS,
  SERVICES,
  SUB_PROCESSORS,
  TokenMint,
  TOKEN_ISSUER,
  type EstateCredentials,
  type NewVendor,
  type ServiceDefinition,
  type ServiceName,
  type SubProcessor,
} from './estate.js';
import { IncidentSchedule, type IncidentEffects } from './incidents.js';
import { between, chance, choose, derivedRandom, exponential, hex8, weightedChooser, type Random } from './seeded-random.js';
import type { ServiceTelemetry } from './service-telemetry.js';

export interface EstateOptions {
  seed: number;
  /** Traces per second. */
  rate: number;
  /** @default "all" */
  incidents?: IncidentSelection;
  /** @default 600 */
  cycleS?: number;
  /** Length of the run, when bounded: a shorter run gets the whole incident cycle compressed into it. */
  durationS?: number | undefined;
}

/** A demo estate: what runs, what it calls, when incidents happen, with which credentials. No I/O. */
export interface DemoEstate {
  readonly seed: number;
  readonly rate: number;
  readonly services: readonly ServiceDefinition[];
  /** The sub-processors called from the start (the new vendors come with their incident). */
  readonly subProcessors: readonly SubProcessor[];
  readonly newVendors: readonly NewVendor[];
  readonly schedule: IncidentSchedule;
  readonly credentials: EstateCredentials;
}

export function createDemoEstate(options: EstateOptions): DemoEstate {
  if (!(options.rate > 0)) throw new RangeError(`rate must be a positive number of traces per second, got ${options.rate}`);
  return {
    seed: options.seed >>> 0,
    rate: options.rate,
    services: SERVICES,
    subProcessors: Object.values(SUB_PROCESSORS),
    newVendors: NEW_VENDORS,
    schedule: new IncidentSchedule({ kinds: selectedIncidents(options.incidents ?? 'all'), cycleS: options.cycleS ?? 600, durationS: options.durationS }),
    credentials: createCredentials(options.seed >>> 0),
  };
}

/** The `service.instance.id` of a service in a run: pod-like, stable for a seed. */
export function instanceId(seed: number, service: ServiceName): string {
  const random = derivedRandom(seed, `instance|${service}`);
  return `${service}-${pick(random, ALPHABETS.lowerDigits, 10)}-${pick(random, ALPHABETS.lowerDigits, 5)}`;
}

export type EstateTelemetry = Readonly<Record<ServiceName, ServiceTelemetry>>;

/** How often each kind of request starts a trace (keys are the methods that build them). */
const ENTRY_WEIGHTS = {
  checkout: 28,
  productPage: 22,
  search: 22,
  login: 12,
  stripeWebhook: 8,
  invoiceRun: 4,
} as const;
type EntryKind = keyof typeof ENTRY_WEIGHTS;
const chooseEntry = weightedChooser<EntryKind>(ENTRY_WEIGHTS);

const SHOP_HOST = 'shop.acme-shop.example';
const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1',
  'AcmeShop/5.12.0 (Android 15; Pixel 8)',
];
const SEARCH_TERMS = ['wireless headphones', 'running shoes', 'usb-c charger', 'espresso machine', 'rain jacket', 'desk lamp', 'yoga mat', 'backpack'];
const STRIPE_VERSION = '2024-12-18.acacia';
const ORDERS_TOPIC = 'orders.created';
const INVOICES_TOPIC = 'billing.invoices';
const TOPIC_PARTITIONS = 12;
/** The table a statement is about: `FROM x`, `INTO x`, `UPDATE x`. */
const SQL_TABLE = /\b(?:FROM|INTO|UPDATE)\s+(\w+)/;
/** mTLS identity of webhook-relay's client certificate (the one edge authenticated by certificate). */
const WEBHOOK_RELAY_CLIENT_CERT = {
  'tls.protocol.name': 'tls',
  'tls.protocol.version': '1.3',
  'tls.cipher': 'TLS_AES_128_GCM_SHA256',
  'tls.established': true,
  'tls.client.subject': 'CN=webhook-relay.internal,OU=services,O=Acme Shop',
  'tls.client.issuer': 'CN=Acme Shop Internal CA 2025,O=Acme Shop',
  'tls.client.not_after': '2026-09-30T00:00:00Z',
} as const;

/** Emits the estate's traces through the services' SDKs. */
export class TrafficGenerator {
  traces = 0;
  /** Arrivals dropped by a traffic cliff. */
  thinned = 0;
  private readonly random: Random;
  private readonly sim: CallSimulator;
  private readonly mint: TokenMint;
  private readonly ratePerMs: number;
  private nextArrival: number;
  private readonly twilioAccountSid: string;
  /** Twilio HTTP Basic credentials of the two services that send texts. */
  private readonly twilioBasic: Readonly<Partial<Record<ServiceName, string>>>;
  private readonly auth0Basic: string;
  private readonly slackChannel: string;

  constructor(
    private readonly estate: DemoEstate,
    private readonly svc: EstateTelemetry,
    /** Wall-clock ms of offset 0. */
    readonly startTimeMs: number,
  ) {
    this.random = derivedRandom(estate.seed, 'traffic');
    this.sim = new CallSimulator(this.random);
    this.mint = new TokenMint(estate.seed, estate.credentials.jwtSigningKey);
    this.ratePerMs = estate.rate / 1000;
    this.nextArrival = exponential(this.random, this.ratePerMs);
    const statics = derivedRandom(estate.seed, 'static-ids');
    this.twilioAccountSid = `AC${pick(statics, ALPHABETS.hex, 32)}`;
    this.slackChannel = `C0${pick(statics, ALPHABETS.upperDigits, 9)}`;
    const c = estate.credentials;
    const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    this.twilioBasic = { notifications: basic(c.twilioNotifications.sid, c.twilioNotifications.secret), auth: basic(c.twilioAuth.sid, c.twilioAuth.secret) };
    this.auth0Basic = basic(c.auth0ClientId, c.auth0ClientSecret);
  }

  get spans(): number {
    return this.sim.spans;
  }

  get logRecords(): number {
    return this.sim.logRecords;
  }

  /** Offset (ms from the start) of the next arrival. */
  get nextArrivalMs(): number {
    return this.nextArrival;
  }

  /** Emits the traces arriving before `offsetMs`, at most `maxTraces` of them; returns how many arrivals were handled. */
  emitUntil(offsetMs: number, maxTraces = Number.POSITIVE_INFINITY): number {
    let handled = 0;
    while (this.nextArrival < offsetMs && handled < maxTraces) {
      const at = this.nextArrival;
      this.nextArrival += exponential(this.random, this.ratePerMs);
      handled++;
      this.emitTrace(at);
    }
    return handled;
  }

  private emitTrace(offsetMs: number): void {
    const entry = chooseEntry(this.random);
    const trafficShare = entry === 'search' ? this.estate.schedule.effectsAt(offsetMs).searchTrafficShare : 1;
    if (trafficShare < 1 && !chance(this.random, trafficShare)) {
      this.thinned++;
      return;
    }
    this.traces++;
    // Each kind of entry is the method of the same name.
    this[entry](this.startTimeMs + offsetMs);
  }

  /** What the incidents change for a call made at `atMs` (wall clock): a vendor is slow when it is called, not when the trace began. */
  private incidentsAt(atMs: number): IncidentEffects {
    return this.estate.schedule.effectsAt(atMs - this.startTimeMs);
  }

  // -------------------------------------------------------------------------------------------
  // Entry points

  private publicRequest(method: string, route: string, path: string, query?: string): Attributes {
    const attributes: Attributes = {
      'http.request.method': method,
      'url.scheme': 'https',
      'url.path': path,
      'http.route': route,
      'server.address': SHOP_HOST,
      'server.port': 443,
      'client.address': `203.0.113.${between(this.random, 1, 254)}`,
      'user_agent.original': choose(this.random, BROWSERS),
      'network.protocol.version': '2',
    };
    if (query !== undefined) attributes['url.query'] = query;
    return attributes;
  }

  private checkout(t0: number): void {
    const s = this.svc;
    const orderId = `ord_${this.b62(14)}`;
    const amount = between(this.random, 900, 48_000);
    this.sim.entry(s.checkout, 'POST /api/v1/checkout', SpanKind.SERVER, t0, this.publicRequest('POST', '/api/v1/checkout', '/api/v1/checkout'), (hop, start) => {
      let at = start;
      const session = this.sim.grpc(hop, at, s.auth, 'acme.auth.v1.TokenService/Introspect', { authorization: `Bearer ${this.mint.bearer(OAUTH_CLIENTS.checkoutToAuth, at)}` }, (authHop, t) => {
        const cached = this.sim.redis(authHop, t, SUB_PROCESSORS.redis, 'GET', 'session:?');
        return { end: cached.end + this.sim.work(0.1), status: chance(this.random, 0.015) ? GRPC_UNAUTHENTICATED : 0 };
      });
      at = session.end + this.sim.work();
      if (session.status !== 0) return { end: at, status: 401 };

      const productIds = Array.from({ length: between(this.random, 1, 3) }, () => `prd_${this.b62(8)}`);
      const products = this.catalogLookup(hop, at, s.checkout.service.name, productIds);
      at = products.end + this.sim.work();

      const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': this.uuid(), 'x-request-id': this.uuid() };
      if (!this.incidentsAt(at).paymentsBearerDropped) headers['authorization'] = `Bearer ${this.mint.bearer(OAUTH_CLIENTS.checkoutToPayments, at)}`;
      const payment = this.sim.internalHttp(
        hop,
        at,
        s.payments,
        { method: 'POST', template: '/v1/payments', route: '/v1/payments', url: 'https://payments.internal:8443/v1/payments', port: 8443, headers, okStatus: 201 },
        (payHop, t) => this.createPayment(payHop, t, orderId, amount),
      );
      at = payment.end + this.sim.work();
      if (payment.status >= 400) {
        this.sim.log(hop, at, payment.status >= 500 ? SeverityNumber.ERROR : SeverityNumber.INFO, `checkout ${orderId} failed: payments answered ${payment.status}`, { 'order.id': orderId });
        return { end: at, status: payment.status === 402 ? 402 : 502 };
      }
      const stored = this.pg(hop, at, 'shop', 'INSERT INTO orders (id, customer_id, amount_cents, currency, status) VALUES ($1, $2, $3, $4, $5)');
      at = stored.end + this.sim.work();
      const sent = this.sim.kafkaSend(hop, at, SUB_PROCESSORS.kafka, ORDERS_TOPIC, orderId, TOPIC_PARTITIONS);
      this.orderConsumers(sent.ctx, sent.end, sent.partition, orderId, amount);
      at = sent.end + this.sim.work();
      this.sim.log(hop, at, SeverityNumber.INFO, `order ${orderId} placed`, { 'order.id': orderId, 'order.amount_cents': amount, 'order.currency': 'EUR' });
      return { end: at, status: 201 };
    });
  }

  /** payments' side of POST /v1/payments: a Stripe PaymentIntent and its rows. */
  private createPayment(hop: Hop, start: number, orderId: string, amount: number): Outcome {
    let at = this.pg(hop, start, 'payments', 'INSERT INTO payments (order_id, amount_cents, status) VALUES ($1, $2, $3) RETURNING id').end;
    at += this.sim.work();
    const intent = this.stripe(hop, at, 'POST', '/v1/payment_intents', '/v1/payment_intents', 200, true);
    at = intent.end + this.sim.work();
    if (intent.status >= 500 || intent.status === 429) {
      this.stripeFailure(hop, at, intent.status, orderId);
      return { end: at, status: 502 };
    }
    const declined = chance(this.random, 0.03);
    at = this.pg(hop, at, 'payments', 'UPDATE payments SET status = $1, provider_ref = $2 WHERE id = $3').end;
    if (declined) this.sim.log(hop, at, SeverityNumber.INFO, `payment for ${orderId} declined: card_declined`, { 'order.id': orderId, 'payment.amount_cents': amount });
    return { end: at + this.sim.work(), status: declined ? 402 : 201 };
  }

  /** A failed Stripe call: the exception as the Stripe SDK reports it; now and then the key leaks into the message. */
  private stripeFailure(hop: Hop, at: number, status: number, orderId: string): void {
    const leak = chance(this.random, 0.3);
    const message = leak
      ? `Request to https://api.stripe.com/v1/payment_intents failed (${status}); retry with api_key=${this.estate.credentials.stripe}`
      : `Request to https://api.stripe.com/v1/payment_intents failed (${status} ${httpReason(status)})`;
    this.sim.exception(hop, at, 'StripeAPIError', message, 'createPaymentIntent (/srv/payments/dist/stripe-gateway.js:88:13)');
    this.sim.log(hop, at, SeverityNumber.ERROR, `stripe payment intent for ${orderId} failed: ${status}`, { 'order.id': orderId, 'http.response.status_code': status });
  }

  /** What consumes orders.created: notifications mails (and texts) the customer, billing-worker invoices. */
  private orderConsumers(ctx: Hop['ctx'], sentAt: number, partition: number, orderId: string, amount: number): void {
    const s = this.svc;
    const kafka = SUB_PROCESSORS.kafka;
    this.sim.kafkaProcess(s.notifications, ctx, sentAt, kafka, ORDERS_TOPIC, partition, 'notifications', (hop, t) => {
      let at = this.personalise(hop, t);
      at = this.sendEmail(hop, at, 'order-confirmation').end + this.sim.work();
      if (chance(this.random, 0.3)) at = this.sendSms(hop, at).end + this.sim.work();
      return { end: at, status: 0 };
    });
    this.sim.kafkaProcess(s['billing-worker'], ctx, sentAt, kafka, ORDERS_TOPIC, partition, 'billing', (hop, t) => {
      const invoice = this.stripe(hop, t, 'POST', '/v1/invoices', '/v1/invoices', 200, false);
      let at = invoice.end + this.sim.work();
      if (invoice.status >= 400) {
        this.sim.log(hop, at, SeverityNumber.ERROR, `invoice for ${orderId} not created: stripe ${invoice.status}`, { 'order.id': orderId });
        return { end: at, status: 500 };
      }
      at = this.s3(hop, at, 'PUT', `/invoices/${orderId}.pdf`).end + this.sim.work();
      at = this.pg(hop, at, 'billing', 'INSERT INTO invoices (order_id, amount_cents, pdf_key) VALUES ($1, $2, $3)').end;
      this.sim.log(hop, at, SeverityNumber.INFO, `invoice for ${orderId} stored`, { 'order.id': orderId, 'invoice.amount_cents': amount });
      return { end: at + this.sim.work(), status: 0 };
    });
  }

  private productPage(t0: number): void {
    const s = this.svc;
    const productId = `prd_${this.b62(8)}`;
    const path = `/api/v1/products/${productId}`;
    this.sim.entry(s.catalog, 'GET /api/v1/products/{id}', SpanKind.SERVER, t0, this.publicRequest('GET', '/api/v1/products/{id}', path), (hop, start) => {
      let at = this.pg(hop, start, 'catalog', 'SELECT id, title, description, price_cents, stock FROM products WHERE id = $1', 1).end;
      at += this.sim.work();
      if (chance(this.random, 0.1)) at = this.s3(hop, at, 'GET', `/products/${productId}/hero.webp`).end + this.sim.work();
      if (chance(this.random, 0.03)) at = this.openai(hop, at, 'POST', '/v1/chat/completions', 'chat', 'gpt-4o-mini').end + this.sim.work();
      at = this.newVendorCalls(hop, at, 'catalog');
      if (chance(this.random, 0.2)) this.sim.log(hop, at, SeverityNumber.INFO, `product ${productId} served`, { 'product.id': productId });
      return { end: at, status: 200 };
    });
  }

  /** catalog's internal, plaintext product lookup (no credential: the network is trusted). */
  private catalogLookup(hop: Hop, start: number, caller: string, productIds: readonly string[]): Outcome {
    const ids = productIds.join(',');
    return this.sim.internalHttp(
      hop,
      start,
      this.svc.catalog,
      {
        method: 'GET',
        template: '/v1/products',
        route: '/v1/products',
        url: `http://catalog.internal:8080/v1/products?ids=${ids}&fields=price,stock`,
        port: 8080,
        headers: { accept: 'application/json', 'x-request-id': this.uuid(), 'user-agent': `${caller}/internal-client` },
      },
      this.answerFromDb('catalog', 'SELECT id, price_cents, stock FROM products WHERE id = ANY($1)', productIds.length),
    );
  }

  private search(t0: number): void {
    const s = this.svc;
    const term = choose(this.random, SEARCH_TERMS);
    const query = `q=${encodeURIComponent(term).replace(/%20/g, '+')}&page=1`;
    this.sim.entry(s.search, 'GET /api/v1/search', SpanKind.SERVER, t0, this.publicRequest('GET', '/api/v1/search', '/api/v1/search', query), (hop, start) => {
      let at = this.sim.redis(hop, start, SUB_PROCESSORS.redis, 'GET', 'search:?').end + this.sim.work();
      if (chance(this.random, 0.35)) return { end: at, status: 200 }; // cache hit
      at = this.openai(hop, at, 'POST', '/v1/embeddings', 'embeddings', 'text-embedding-3-small').end + this.sim.work();
      const ids = Array.from({ length: between(this.random, 3, 8) }, () => `prd_${this.b62(8)}`);
      at = this.catalogLookup(hop, at, 'search', ids).end + this.sim.work();
      if (chance(this.random, 0.25)) at = this.storeLocator(hop, at).end + this.sim.work();
      at = this.newVendorCalls(hop, at, 'search');
      at = this.sim.redis(hop, at, SUB_PROCESSORS.redis, 'SETEX', 'search:?').end;
      if (chance(this.random, 0.1)) this.sim.log(hop, at, SeverityNumber.INFO, 'search served', { 'search.results': ids.length, 'search.term_length': term.length });
      return { end: at + this.sim.work(), status: 200 };
    });
  }

  /** Google Maps Places: the key in the X-Goog-Api-Key header, or (legacy client, 2%) in the URL. */
  private storeLocator(hop: Hop, start: number): Outcome {
    const vendor = SUB_PROCESSORS.googleMaps;
    const location = `location=${(48 + this.random()).toFixed(4)},${(2 + this.random()).toFixed(4)}&radius=5000&type=store`;
    const legacy = chance(this.random, 0.02);
    const key = this.estate.credentials.googleMaps;
    return this.sim.vendorHttp(hop, start, vendor, {
      method: 'GET',
      template: '/maps/api/place/nearbysearch/json',
      url: `https://${vendor.host}/maps/api/place/nearbysearch/json?${location}${legacy ? `&key=${key}` : ''}`,
      headers: legacy ? { accept: 'application/json' } : { accept: 'application/json', 'x-goog-api-key': key },
    });
  }

  private login(t0: number): void {
    const s = this.svc;
    this.sim.entry(s.auth, 'POST /api/v1/login', SpanKind.SERVER, t0, this.publicRequest('POST', '/api/v1/login', '/api/v1/login'), (hop, start) => {
      const userId = `usr_${this.b62(12)}`;
      let at = this.pg(hop, start, 'identity', 'SELECT id, password_hash, mfa_phone FROM users WHERE email = $1', 1).end;
      at += this.sim.work(2); // password hash check
      const auth0 = SUB_PROCESSORS.auth0;
      const token = this.sim.vendorHttp(hop, at, auth0, {
        method: 'POST',
        template: '/oauth/token',
        url: `https://${auth0.host}/oauth/token`,
        headers: { authorization: this.auth0Basic, 'content-type': 'application/x-www-form-urlencoded' },
      });
      at = token.end + this.sim.work();
      if (token.status >= 400) return { end: at, status: 503 };
      if (chance(this.random, 0.6)) at = this.sendSms(hop, at).end + this.sim.work();
      // A hand-written query now and then: the session token ends up in a SQL literal.
      const session = chance(this.random, 0.01)
        ? `INSERT INTO sessions (user_id, token, expires_at) VALUES ('${userId}', '${this.userSessionToken(userId, at)}', now() + interval '12 hours')`
        : 'INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ($1, $2, $3)';
      at = this.pg(hop, at, 'identity', session).end;
      at = this.sim.redis(hop, at, SUB_PROCESSORS.redis, 'SET', 'session:?').end + this.sim.work();
      // Logging the e-mail address: personal data in a log line, now and then.
      const body = chance(this.random, 0.03) ? `login succeeded for ${this.b62(6).toLowerCase()}.${this.b62(5).toLowerCase()}@mail.example.org` : `login succeeded for ${userId}`;
      this.sim.log(hop, at, SeverityNumber.INFO, body, { 'enduser.id': userId });
      return { end: at, status: 200 };
    });
  }

  private stripeWebhook(t0: number): void {
    const s = this.svc;
    const eventId = `evt_${this.b62(24)}`;
    const attributes = this.publicRequest('POST', '/hooks/stripe', '/hooks/stripe');
    attributes['client.address'] = choose(this.random, ['3.18.12.63', '3.130.192.231', '13.235.14.237', '54.187.174.169']);
    attributes['user_agent.original'] = 'Stripe/1.0 (+https://stripe.com/docs/webhooks)';
    this.sim.entry(s['webhook-relay'], 'POST /hooks/stripe', SpanKind.SERVER, t0, attributes, (hop, start) => {
      // To payments over mTLS: the client certificate is the credential, no header carries one.
      const forwarded = this.sim.internalHttp(
        hop,
        start,
        s.payments,
        { method: 'POST', template: '/v1/webhooks/stripe', route: '/v1/webhooks/stripe', url: 'https://payments.internal:8443/v1/webhooks/stripe', port: 8443, attributes: WEBHOOK_RELAY_CLIENT_CERT },
        this.answerFromDb('payments', 'UPDATE payments SET status = $1, updated_at = now() WHERE provider_ref = $2'),
      );
      let at = forwarded.end + this.sim.work();
      at = this.slackNotify(hop, at, eventId).end + this.sim.work();
      // To notifications in plaintext, with an API key: the key crosses the network in the clear.
      at = this.sim.internalHttp(
        hop,
        at,
        s.notifications,
        {
          method: 'POST',
          template: '/v1/notify',
          route: '/v1/notify',
          url: 'http://notifications.internal:8080/v1/notify',
          port: 8080,
          okStatus: 202,
          headers: { 'content-type': 'application/json', 'x-api-key': this.estate.credentials.notificationsApiKey, 'x-request-id': this.uuid() },
        },
        (notifyHop, t) => {
          const mail = this.sendEmail(notifyHop, this.personalise(notifyHop, t), 'payment-receipt');
          return { end: mail.end + this.sim.work(), status: mail.status >= 400 ? 502 : 202 };
        },
      ).end;
      this.sim.log(hop, at, SeverityNumber.INFO, `stripe event ${eventId} relayed`, { 'stripe.event.type': 'payment_intent.succeeded' });
      return { end: at + this.sim.work(), status: 200 };
    });
  }

  /** chat.postMessage with the bot token in the header; during a token leak, in the URL query (and logged). */
  private slackNotify(hop: Hop, start: number, eventId: string): Outcome {
    const slack = SUB_PROCESSORS.slack;
    const token = this.estate.credentials.slackBot;
    if (this.incidentsAt(start).slackTokenInQuery) {
      const url = `https://${slack.host}/api/chat.postMessage?token=${token}&channel=${this.slackChannel}`;
      this.sim.log(hop, start, SeverityNumber.WARN, `slack notify for ${eventId} via ${url}`, { 'stripe.event.id': eventId });
      return this.sim.vendorHttp(hop, start, slack, { method: 'POST', template: '/api/chat.postMessage', url, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    }
    return this.sim.vendorHttp(hop, start, slack, {
      method: 'POST',
      template: '/api/chat.postMessage',
      url: `https://${slack.host}/api/chat.postMessage`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
    });
  }

  private invoiceRun(t0: number): void {
    const s = this.svc;
    const worker = s['billing-worker'];
    this.sim.entry(worker, 'invoice-run', SpanKind.INTERNAL, t0, { 'code.function.name': 'InvoiceScheduler.runBatch', 'job.schedule': '*/5 * * * *' }, (hop, start) => {
      const count = between(this.random, 1, 3);
      let at = this.pg(hop, start, 'billing', 'SELECT id, order_id, stripe_invoice_id FROM invoices WHERE status = $1 ORDER BY created_at LIMIT 50', count).end;
      let failures = 0;
      for (let i = 0; i < count; i++) {
        const invoiceId = `in_${this.b62(24)}`;
        const finalized = this.stripe(hop, at + this.sim.work(), 'POST', `/v1/invoices/${invoiceId}/finalize`, '/v1/invoices/{id}/finalize', 200, false);
        at = finalized.end;
        if (finalized.status >= 400) {
          failures++;
          continue;
        }
        at = this.s3(hop, at + this.sim.work(), 'PUT', `/invoices/${invoiceId}.pdf`).end;
      }
      const paymentId = `pay_${this.b62(16)}`;
      at = this.sim.internalHttp(
        hop,
        at + this.sim.work(),
        s.payments,
        {
          method: 'GET',
          template: '/v1/payments/{id}',
          route: '/v1/payments/{id}',
          url: `https://payments.internal:8443/v1/payments/${paymentId}`,
          port: 8443,
          headers: { authorization: `Bearer ${this.mint.bearer(OAUTH_CLIENTS.billingToPayments, at)}`, accept: 'application/json', 'x-request-id': this.uuid() },
        },
        this.answerFromDb('payments', 'SELECT id, status, amount_cents FROM payments WHERE id = $1', 1),
      ).end;
      const sent = this.sim.kafkaSend(hop, at + this.sim.work(), SUB_PROCESSORS.kafka, INVOICES_TOPIC, paymentId, TOPIC_PARTITIONS);
      this.sim.kafkaProcess(s.notifications, sent.ctx, sent.end, SUB_PROCESSORS.kafka, INVOICES_TOPIC, sent.partition, 'notifications', (notifyHop, t) => {
        const mail = this.sendEmail(notifyHop, t, 'invoice-available');
        return { end: mail.end + this.sim.work(), status: 0 };
      });
      at = sent.end + this.sim.work();
      this.sim.log(hop, at, failures > 0 ? SeverityNumber.WARN : SeverityNumber.INFO, `invoice batch done: ${count - failures} finalized, ${failures} failed`, { 'invoice.count': count, 'invoice.failed': failures });
      return { end: at, status: failures === count ? 500 : 0 };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Sub-processor calls

  /** A query on the internal PostgreSQL; operation and table are read from the SQL, as instrumentations summarise it. */
  private pg(hop: Hop, start: number, namespace: string, text: string, rows?: number): Outcome {
    const operation = text.slice(0, text.indexOf(' '));
    const collection = SQL_TABLE.exec(text)?.[1] ?? '';
    return this.sim.sql(hop, start, SUB_PROCESSORS.postgres, { operation, collection, namespace, text, rows });
  }

  /** The server side of an internal call that answers from one query. */
  private answerFromDb(namespace: string, text: string, rows?: number): (hop: Hop, start: number) => Outcome {
    return (hop, start) => ({ end: this.pg(hop, start, namespace, text, rows).end + this.sim.work(), status: 200 });
  }

  /** A Stripe API call with the restricted key — payments' own, which billing-worker shares. */
  private stripe(hop: Hop, start: number, method: string, path: string, template: string, okStatus: number, idempotent: boolean): Outcome {
    const stripe = SUB_PROCESSORS.stripe;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.estate.credentials.stripe}`,
      'stripe-version': STRIPE_VERSION,
      'content-type': 'application/x-www-form-urlencoded',
    };
    if (idempotent) headers['idempotency-key'] = this.uuid();
    return this.sim.vendorHttp(hop, start, stripe, { method, template, url: `https://${stripe.host}${path}`, headers, okStatus }, { latencyFactor: this.incidentsAt(start).stripeLatencyFactor });
  }

  private sendEmail(hop: Hop, start: number, template: string): Outcome {
    const sendgrid = SUB_PROCESSORS.sendgrid;
    const sent = this.sim.vendorHttp(hop, start, sendgrid, {
      method: 'POST',
      template: '/v3/mail/send',
      url: `https://${sendgrid.host}/v3/mail/send`,
      okStatus: 202,
      headers: { authorization: `Bearer ${this.estate.credentials.sendgrid}`, 'content-type': 'application/json' },
    });
    if (sent.status >= 400) this.sim.log(hop, sent.end, SeverityNumber.ERROR, `email ${template} not sent: sendgrid ${sent.status}`, { 'notification.template': template });
    else this.sim.log(hop, sent.end, SeverityNumber.INFO, `email ${template} sent`, { 'notification.template': template });
    return sent;
  }

  /** A text through Twilio (notifications' order texts, auth's one-time codes): HTTP Basic with an API key. */
  private sendSms(hop: Hop, start: number): Outcome {
    const twilio = SUB_PROCESSORS.twilio;
    const url = `https://${twilio.host}/2010-04-01/Accounts/${this.twilioAccountSid}/Messages.json`;
    const authorization = this.twilioBasic[hop.svc.service.name]!;
    const sent = this.sim.vendorHttp(
      hop,
      start,
      twilio,
      { method: 'POST', template: '/2010-04-01/Accounts/{AccountSid}/Messages.json', url, okStatus: 201, headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' } },
      { failureShare: this.incidentsAt(start).twilioFailureShare },
    );
    if (sent.status >= 400) {
      // The HTTP client's error dump, Authorization header included, now and then.
      const body = chance(this.random, 0.25)
        ? `twilio send failed: ${sent.status} ${httpReason(sent.status)} for POST ${url} (Authorization: ${authorization})`
        : `twilio send failed: ${sent.status} ${httpReason(sent.status)}`;
      this.sim.log(hop, sent.end, SeverityNumber.ERROR, body, { 'http.response.status_code': sent.status });
    }
    return sent;
  }

  /** An S3 object request signed with SigV4 (the access key id is in the Authorization header). */
  private s3(hop: Hop, start: number, method: 'GET' | 'PUT', key: string): Outcome {
    const s3 = SUB_PROCESSORS.s3;
    const stamp = new Date(start).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const signature = hex8(this.random) + hex8(this.random) + hex8(this.random) + hex8(this.random) + hex8(this.random) + hex8(this.random) + hex8(this.random) + hex8(this.random);
    return this.sim.vendorHttp(hop, start, s3, {
      method,
      template: '/{key}',
      url: `https://${s3.host}${key}`,
      okStatus: 200,
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=${this.estate.credentials.awsAccessKeyId}/${stamp.slice(0, 8)}/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
        'x-amz-date': stamp,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      },
    });
  }

  /** OpenAI with the calling service's project key. */
  private openai(hop: Hop, start: number, method: string, path: string, operation: string, model: string): Outcome {
    const openai = SUB_PROCESSORS.openai;
    const key = hop.svc.service.name === 'catalog' ? this.estate.credentials.openaiCatalog : this.estate.credentials.openaiSearch;
    return this.sim.vendorHttp(hop, start, openai, {
      method,
      template: path,
      url: `https://${openai.host}${path}`,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      attributes: { 'gen_ai.provider.name': 'openai', 'gen_ai.operation.name': operation, 'gen_ai.request.model': model },
    });
  }

  /** notifications drafts the message text with a new AI vendor once it is live (the fourth never-seen vendor). */
  private personalise(hop: Hop, start: number): number {
    return this.newVendorCalls(hop, start, 'notifications');
  }

  /** Calls to the never-seen vendors that are live and belong to `caller`. */
  private newVendorCalls(hop: Hop, start: number, caller: ServiceName): number {
    let at = start;
    const live = this.incidentsAt(start).newVendorsLive;
    for (let i = 0; i < live; i++) {
      const vendor = NEW_VENDORS[i]!;
      if (vendor.caller !== caller || !chance(this.random, 0.25)) continue;
      const sub = vendor.subProcessor;
      at =
        this.sim.vendorHttp(hop, at, sub, {
          method: vendor.method,
          template: vendor.path,
          url: `https://${sub.host}${vendor.path}`,
          headers: { [vendor.credentialHeader]: vendor.credential(this.estate.credentials), 'content-type': 'application/json' },
        }).end + this.sim.work();
    }
    return at;
  }

  // -------------------------------------------------------------------------------------------
  // Values

  private b62(length: number): string {
    return pick(this.random, ALPHABETS.base62, length);
  }

  private uuid(): string {
    const a = hex8(this.random);
    const b = hex8(this.random);
    const c = hex8(this.random);
    const d = hex8(this.random);
    return `${a}-${b.slice(0, 4)}-4${b.slice(5)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
  }

  /** A user's session JWT (only ever leaked through the inline SQL). */
  private userSessionToken(userId: string, atMs: number): string {
    const iat = Math.floor(atMs / 1000);
    return signedJwt({ iss: TOKEN_ISSUER, sub: userId, aud: 'https://shop.acme-shop.example', iat, exp: iat + 43_200, scope: 'openid profile orders:read', sid: this.b62(16) }, this.estate.credentials.jwtSigningKey);
  }
}
