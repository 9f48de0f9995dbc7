/**
 * The admin port (default 127.0.0.1:9464), for orchestrators and Prometheus:
 * - `GET /healthz`: 200 while the process is alive and its event loop answers (liveness);
 * - `GET /readyz`: 200 when every dependency of the roles running here answers (the bus, and
 *   ClickHouse for the storage role), else 503 naming the one that does not; 503 while stopping;
 * - `GET /metrics`: the Prometheus text format.
 * Answers are small JSON documents; nothing here reads or echoes telemetry.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import type { PipelineMetrics } from './metrics.js';
import { errorSummary } from './errors.js';

/** A named dependency check: resolves when the dependency answers, rejects saying why not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface AdminServerOptions {
  host: string;
  port: number;
  metrics: PipelineMetrics;
  checks: readonly ReadinessCheck[];
  /** How long one readiness check may take before it counts as failed. @default 5000 */
  checkTimeoutMs?: number;
  logger: Logger;
}

export interface AdminServer {
  readonly url: string;
  /** From now on /readyz answers 503 (the process is draining). */
  markStopping(): void;
  close(): Promise<void>;
}

function withTimeout(work: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const log = options.logger.child({ component: 'admin' });
  const timeoutMs = options.checkTimeoutMs ?? 5000;
  let stopping = false;

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    res.end(`${JSON.stringify(body)}\n`);
  };

  async function readiness(): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const results = await Promise.all(
      options.checks.map(async (c): Promise<[string, string]> => {
        try {
          await withTimeout(c.check(), timeoutMs, c.name);
          return [c.name, 'ok'];
        } catch (err) {
          return [c.name, errorSummary(err).message];
        }
      }),
    );
    const checks = Object.fromEntries(results);
    return { ready: !stopping && results.every(([, r]) => r === 'ok'), checks };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return json(res, 405, { error: `method ${req.method} not allowed: use GET` });
    }
    if (path === '/healthz') return json(res, 200, { status: 'alive' });
    if (path === '/readyz') {
      const { ready, checks } = await readiness();
      return json(res, ready ? 200 : 503, { status: ready ? 'ready' : stopping ? 'stopping' : 'not ready', checks });
    }
    if (path === '/metrics') {
      const text = await options.metrics.text();
      res.statusCode = 200;
      res.setHeader('Content-Type', options.metrics.contentType);
      res.end(text);
      return;
    }
    return json(res, 404, { error: `unknown path ${JSON.stringify(path)}: use /healthz, /readyz or /metrics` });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: errorSummary(err) }, 'admin request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`admin port cannot listen on ${options.host}:${options.port}: ${err.message}`)));
    server.listen(options.port, options.host, () => resolve());
  });
  server.on('error', (err) => log.error({ err: errorSummary(err) }, 'admin server error'));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${host}:${address.port}`,
    markStopping: () => {
      stopping = true;
    },
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
