/**
 * Webhook receivers for tests: a verifier of Standard Webhooks signatures written from the
 * specification (not by calling chainwatch's signer), and a real HTTP receiver on 127.0.0.1 that
 * records what it is sent and answers as the test says.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Standard Webhooks verification, written from the specification (not by calling the signer): the
 * key is the base64 after `whsec_`; the signed content is `id.timestamp.body`; the header is a
 * space-separated list of `version,base64 signature`, any v1 of which may match; a timestamp
 * further than the tolerance from now is refused.
 */
export function verifyWebhookSignature(secret: string, headers: Record<string, string | string[] | undefined>, body: string, nowS: number, toleranceS = 300): boolean {
  const header = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const id = header('webhook-id');
  const timestamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowS - Number(timestamp)) > toleranceS) return false;
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    if (version !== 'v1' || !signature) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

export interface ReceivedWebhook {
  /** The request's path and query. */
  path: string;
  /** Its webhook-id header ('' without one). */
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** performance.now() when it arrived, and when it was answered (null until then). */
  at: number;
  answeredAt: number | null;
}

export interface WebhookReply {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Never answer (until the receiver closes). */
  hang?: boolean;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:<port>, for a receiver URL with a path of the test's choosing. */
  origin: string;
  /** `origin` + /hook. */
  url: string;
  received: ReceivedWebhook[];
  /** Requests seen with this webhook-id (and this path, when given). */
  count(id: string, path?: string): number;
  close(): Promise<void>;
}

/**
 * An HTTP server on 127.0.0.1 that keeps every request it got; `answer` decides each reply, given
 * the request and how many with its id and path came before (200 at once by default).
 */
export async function startWebhookReceiver(answer: (r: ReceivedWebhook, before: number) => WebhookReply = () => ({ status: 200 })): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const count = (id: string, path?: string): number => received.filter((r) => r.id === id && (path === undefined || r.path === path)).length;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = String(req.headers['webhook-id'] ?? '');
      const r: ReceivedWebhook = { path: req.url ?? '', id, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now(), answeredAt: null };
      const before = count(id, r.path);
      received.push(r);
      const reply = answer(r, before);
      if (reply.hang) return;
      setTimeout(() => {
        r.answeredAt = performance.now();
        res.writeHead(reply.status, reply.headers ?? {});
        res.end('ok');
      }, reply.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: `${origin}/hook`,
    received,
    count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
