/**
 * docker-compose.yml cannot run here (no Docker engine), so it is checked as a file: the services
 * the production topology needs, each image pinned, health checks and named volumes, every
 * CHAINWATCH__ variable a real config key, every published port and health check port the one
 * the config gives, Grafana's provisioning pointing at the ClickHouse the file runs, and the
 * Dockerfile multi-stage and non-root.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../pipeline/config-loader.js';
import type { Config } from '../../schemas/config.js';
import { PROJECT_ROOT } from '../harness/cli.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(readFileSync(join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const WORKERS = ['worker-storage', 'worker-inventory', 'worker-sla', 'worker-anomaly', 'worker-alerting'];
const CHAINWATCH = ['migrate', 'collector', ...WORKERS, 'demo'];

/** The chainwatch config a service runs with: the mounted file, then its CHAINWATCH__ variables. */
async function configOf(service: Service): Promise<Config> {
  const mount = service.volumes!.find((v) => v.endsWith(':/etc/chainwatch/chainwatch.yaml:ro'))!;
  const file = join(PROJECT_ROOT, mount.split(':')[0]!);
  const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
  return loadConfig(file, env);
}

describe('docker-compose.yml', () => {
  it('runs Kafka (KRaft), ClickHouse, Grafana, migrate, the collector, a worker per role and the demo', () => {
    expect(Object.keys(services).sort()).toEqual(['clickhouse', 'collector', 'demo', 'grafana', 'kafka', 'migrate', ...WORKERS].sort());
    expect(services['kafka']!.environment!['KAFKA_PROCESS_ROLES']).toBe('broker,controller');
    expect(services['collector']!.command!.slice(-1)).toEqual(['collector']);
    for (const worker of WORKERS) expect(services[worker]!.command!.slice(-3)).toEqual(['worker', '--role', worker.slice('worker-'.length)]);
    expect(services['demo']!.command).toEqual(expect.arrayContaining(['demo', '--target', 'http://collector:4318']));
    expect(services['migrate']!.command!.slice(-1)).toEqual(['migrate']);
  });

  it('pins every image, builds chainwatch from the repository, and checks health', () => {
    for (const [name, s] of Object.entries(services)) {
      if (CHAINWATCH.includes(name)) expect(s.build, name).toBe('.');
      else expect(s.image, name).toMatch(/^[\w./-]+:\d+(\.\d+)+$/);
    }
    for (const name of ['kafka', 'clickhouse', 'collector', ...WORKERS, 'grafana']) expect(services[name]!.healthcheck?.test.length, name).toBeGreaterThan(0);
  });

  it('declares every named volume it mounts, and every mounted path exists in the repository', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(join(PROJECT_ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name}: ${source}`).toContain(source);
      }
    }
  });

  it('starts services after what they need: healthy, or migrated', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(Object.keys(services), name).toContain(dependency);
        const healthy = condition === 'service_healthy' && services[dependency]!.healthcheck !== undefined;
        expect(healthy || (condition === 'service_completed_successfully' && dependency === 'migrate'), `${name} → ${dependency}`).toBe(true);
      }
    }
  });

  it('sets only real config keys through CHAINWATCH__ variables, and the config each chainwatch service runs with is valid', async () => {
    for (const name of CHAINWATCH) {
      const s = services[name]!;
      for (const key of Object.keys(s.environment ?? {})) expect(key, name).toMatch(/^(CHAINWATCH__[A-Z0-9_]+|CHAINWATCH_LOG_LEVEL)$/);
      const config = await configOf(s); // throws ConfigError naming any unknown key or bad value
      expect(config.bus.kind).toBe('kafka');
      expect(config.bus.kafka!.brokers).toEqual(['kafka:9092']);
      expect(config.clickhouse.url).toBe('http://clickhouse:8123');
      expect(config.clickhouse.password).toBe(String(services['clickhouse']!.environment!['CLICKHOUSE_PASSWORD']));
      expect(config.clickhouse.username).toBe(services['clickhouse']!.environment!['CLICKHOUSE_USER']);
    }
  });

  it('publishes the ports the config listens on, and health-checks the admin port the config gives', async () => {
    const config = await configOf(services['collector']!);
    expect(config.collector.http.host).toBe('0.0.0.0');
    expect(config.collector.grpc.host).toBe('0.0.0.0');
    expect(services['collector']!.ports).toEqual([`${config.collector.http.port}:${config.collector.http.port}`, `${config.collector.grpc.port}:${config.collector.grpc.port}`]);
    expect(services['demo']!.command).toContain(`http://collector:${config.collector.http.port}`);
    for (const name of ['collector', ...WORKERS]) {
      const c = await configOf(services[name]!);
      expect(c.admin.enabled).toBe(true);
      expect(services[name]!.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${c.admin.port}/healthz`);
    }
  });

  it('provisions Grafana with the ClickHouse data source over the database chainwatch writes', async () => {
    const mount = services['grafana']!.volumes!.find((v) => v.endsWith(':/etc/grafana/provisioning:ro'))!;
    const dir = join(PROJECT_ROOT, mount.split(':')[0]!, 'datasources');
    const files = readdirSync(dir);
    expect(files).toEqual(['clickhouse.yaml']);
    const { datasources } = parse(readFileSync(join(dir, files[0]!), 'utf8')) as {
      datasources: { type: string; jsonData: Record<string, unknown> & { traces: Record<string, unknown>; logs: Record<string, unknown> }; secureJsonData: { password: string } }[];
    };
    const config = await configOf(services['worker-storage']!);
    const ch = datasources[0]!;
    expect(ch.type).toBe('grafana-clickhouse-datasource');
    expect(services['grafana']!.environment!['GF_INSTALL_PLUGINS']).toContain(ch.type);
    expect(ch.jsonData).toMatchObject({ host: 'clickhouse', port: 8123, protocol: 'http', username: config.clickhouse.username, defaultDatabase: config.clickhouse.database });
    expect(ch.jsonData.traces).toMatchObject({ defaultDatabase: config.clickhouse.database, defaultTable: 'otel_traces', otelEnabled: true });
    expect(ch.jsonData.logs).toMatchObject({ defaultDatabase: config.clickhouse.database, defaultTable: 'otel_logs', otelEnabled: true });
    expect(ch.secureJsonData.password).toBe(config.clickhouse.password);
  });

  it('builds the image in stages and runs it as a non-root user exposing the config ports', async () => {
    const dockerfile = readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    const config = await configOf(services['collector']!);
    const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)![1]!.split(/\s+/).map(Number).sort();
    expect(exposed).toEqual([config.collector.http.port, config.collector.grpc.port, config.admin.port].sort());
  });
});
