/**
 * A small, deliberately awkward trace for end-to-end tests: every span kind, parent/child,
 * attributes of every SDK type, events (one an exception), a link with attributes, error and ok
 * statuses, and strings that need escaping on their way into ClickHouse.
 */
import { SpanKind, SpanStatusCode, trace, context, type Tracer } from '@opentelemetry/api';

export const SCENARIO_RESOURCE = {
  'service.name': 'checkout',
  'service.version': '2.4.1',
  'deployment.environment.name': 'test',
  'host.cores': 8,
  'feature.flags': ['a', 'b'],
};

/** Emits 6 spans over two traces; returns nothing, the SDK records them. */
export function emitScenario(tracer: Tracer): void {
  const base = Date.now() - 5_000;
  const other = tracer.startSpan('background refresh', { kind: SpanKind.INTERNAL, startTime: base });
  other.end(base + 3);

  const root = tracer.startSpan('POST /checkout', {
    kind: SpanKind.SERVER,
    startTime: base + 10,
    attributes: {
      'http.request.method': 'POST',
      'url.path': '/checkout',
      'http.response.status_code': 200,
      'server.port': 8443,
      'ratio': 0.25,
      'retry': false,
      'tags': ['x', 'y\tz'],
      'codes': [1, 2, 3],
      'flags': [true, false],
      'weird': "quote ' backslash \\ tab \t newline \n end",
      'unicode': 'grüße — 日本 🚀',
    },
    links: [{ context: other.spanContext(), attributes: { 'link.reason': 'follows', 'link.n': 2 } }],
  });
  const rootCtx = trace.setSpan(context.active(), root);

  const pay = tracer.startSpan(
    'POST api.stripe.com/v1/charges',
    { kind: SpanKind.CLIENT, startTime: base + 12, attributes: { 'server.address': 'api.stripe.com', 'peer.service': 'stripe' } },
    rootCtx,
  );
  pay.addEvent('retry', { attempt: 1, 'backoff.ms': 12.5 }, base + 13);
  pay.recordException(new Error('card_declined: insufficient funds'), base + 14);
  pay.setStatus({ code: SpanStatusCode.ERROR, message: 'payment failed\nsee logs' });
  pay.end(base + 40);

  const publish = tracer.startSpan('orders publish', { kind: SpanKind.PRODUCER, startTime: base + 41, attributes: { 'messaging.system': 'kafka' } }, rootCtx);
  publish.end(base + 43);
  const consume = tracer.startSpan(
    'orders process',
    { kind: SpanKind.CONSUMER, startTime: base + 44 },
    trace.setSpan(context.active(), publish),
  );
  consume.setStatus({ code: SpanStatusCode.OK });
  consume.end(base + 50);

  const db = tracer.startSpan(
    'SELECT orders',
    { kind: SpanKind.CLIENT, startTime: base + 51, attributes: { 'db.system.name': 'postgresql', 'db.query.text': "SELECT * FROM orders WHERE id = $1" } },
    rootCtx,
  );
  db.end(base + 52);
  root.end(base + 60);
}
