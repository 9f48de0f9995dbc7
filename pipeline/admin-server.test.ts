import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from './admin-server.js';
import { silentLogger } from './logger.js';
import { PipelineMetrics } from './metrics.js';

describe('admin server', () => {
  let server: AdminServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('answers 503 naming the dependency that fails or hangs, and "stopping" once draining', async () => {
    let clickhouseUp = false;
    server = await startAdminServer({
      host: '127.0.0.1',
      port: 0,
      metrics: new PipelineMetrics(),
      checkTimeoutMs: 200,
      logger: silentLogger(),
      checks: [
        { name: 'bus', check: () => new Promise<void>(() => {}) },
        { name: 'clickhouse', check: async () => { if (!clickhouseUp) throw new Error('connect ECONNREFUSED 127.0.0.1:8123'); } },
      ],
    }); // prettier-ignore
    const ready = async (): Promise<[number, unknown]> => {
      const res = await fetch(`${server!.url}/readyz`);
      return [res.status, await res.json()];
    };
    expect(await ready()).toEqual([503, { status: 'not ready', checks: { bus: 'bus did not answer within 200 ms', clickhouse: 'connect ECONNREFUSED 127.0.0.1:8123' } }]);
    clickhouseUp = true;
    expect(await ready()).toEqual([503, { status: 'not ready', checks: { bus: 'bus did not answer within 200 ms', clickhouse: 'ok' } }]);
    // Liveness does not depend on the dependencies.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    server.markStopping();
    expect((await ready())[1]).toMatchObject({ status: 'stopping' });
  });

  it('names the address when the port is taken', async () => {
    server = await startAdminServer({ host: '127.0.0.1', port: 0, metrics: new PipelineMetrics(), checks: [], logger: silentLogger() });
    const port = Number(new URL(server.url).port);
    await expect(startAdminServer({ host: '127.0.0.1', port, metrics: new PipelineMetrics(), checks: [], logger: silentLogger() })).rejects.toThrow(
      `admin port cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`,
    );
  });
});
