/**
 * The `chainwatch` command as a user runs it: help, config errors, migrate (idempotent),
 * start → SIGTERM → a clean exit, and the demo estate (inside start, and as its own command).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { killAndWait, PROJECT_ROOT, runCli, startCli } from '../harness/cli.js';
import { uniqueTopics } from '../harness/kafka-broker.js';
import { scrapeMetrics } from '../harness/metrics.js';

function tempConfig(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cw-cli-'));
  const file = join(dir, 'chainwatch.yaml');
  writeFileSync(file, body.replaceAll('$DIR', dir));
  return file;
}

describe('chainwatch command', () => {
  it('prints help with --help and with no command', async () => {
    for (const args of [['--help'], []]) {
      const r = await runCli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('chainwatch [--config FILE] <command>');
      expect(r.stdout).toMatch(/start\s+run every stage in one process/);
      expect(r.stdout).toMatch(/migrate\s+create or upgrade the ClickHouse schema/);
      expect(r.stdout).toMatch(/demo\s+run the demo estate/);
      expect(r.stdout).toContain('--no-demo');
      expect(r.stdout).toMatch(/hash-key\s+read an API key on standard input/);
    }
  });

  it('hashes an API key read on standard input into the form collector.auth.keys keeps', async () => {
    const key = 'cw_live_3f9a1c0d7e';
    const expected = createHash('sha256').update(key).digest('hex');
    for (const stdin of [`${key}\n`, key, `${key}\r\n`]) {
      const r = await runCli(['hash-key'], { stdin });
      expect(r).toEqual({ code: 0, stdout: `sha256: ${expected}\n`, stderr: '' });
    }
    for (const stdin of ['', '\n', 'two\nlines\n']) {
      const r = await runCli(['hash-key'], { stdin });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('chainwatch: hash-key reads one API key (a single line, not empty) on standard input\n');
      expect(r.stdout).toBe('');
    }
    const misplaced = await runCli(['hash-key', '--demo'], { stdin: key });
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('--demo is not an option of hash-key');
  });

  it('is reachable as npx chainwatch', async () => {
    const { stdout } = await promisify(execFile)('npx', ['--no-install', 'chainwatch', '--help'], { cwd: PROJECT_ROOT });
    expect(stdout).toContain('chainwatch [--config FILE] <command>');
  });

  it('refuses an unknown command and unknown options', async () => {
    const r = await runCli(['launch']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "launch"');
    const o = await runCli(['--colour', 'start']);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("Unknown option '--colour'");
  });

  it('exits non-zero listing every config problem by path', async () => {
    const file = tempConfig('stages:\n  storage:\n    batch_size: x\nbus:\n  kind: kafka\nextra: 1\n');
    const r = await runCli(['--config', file, 'start']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid config ${file}:`);
    expect(r.stderr).toContain('stages.storage.batch_size: expected a positive integer, got "x"');
    expect(r.stderr).toContain('extra: unknown key');
    expect(r.stdout).toBe('');
  });

  it('refuses a worker without roles, with an unknown role, and collector or worker on the in-process bus', async () => {
    const none = await runCli(['worker']);
    expect(none).toMatchObject({ code: 2, stderr: 'chainwatch: worker needs at least one --role (storage, inventory, sla, anomaly, alerting)\n' });
    const unknown = await runCli(['worker', '--role', 'storge']);
    expect(unknown).toMatchObject({ code: 2, stderr: 'chainwatch: unknown role "storge"; available: storage, inventory, sla, anomaly, alerting\n' });
    const misplaced = await runCli(['collector', '--role', 'storage']);
    expect(misplaced).toMatchObject({ code: 2, stderr: 'chainwatch: --role is not an option of collector (see chainwatch --help)\n' });
    for (const command of [['collector'], ['worker', '--role', 'storage']]) {
      const memory = await runCli(command);
      expect(memory.code).toBe(2);
      expect(memory.stderr).toBe(
        `chainwatch: ${command[0]} needs bus.kind: kafka (without a config file the bus is in-process, which joins stages only inside one process; run chainwatch start for that)\n`,
      );
    }
    const help = await runCli(['--help']);
    expect(help.stdout).toMatch(/collector\s+the OTLP receivers and the inline stages/);
    expect(help.stdout).toMatch(/worker\s+consuming stages, one or several roles per process \(--role\)/);
  });

  it('migrates idempotently', async () => {
    const file = tempConfig('clickhouse:\n  path: $DIR/engine\n  database: cli_migrate\n');
    const first = await runCli(['--config', file, 'migrate']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('ClickHouse database cli_migrate: 9 migration(s) applied (1 otel_traces, 2 chainwatch_findings, 3 otel_logs, 4 otel_traces without attribute bloom filters, 5 otel_traces attribute maps compressed with ZSTD(6), 6 call edges: registry, per-minute statistics, posture findings, 7 alert log, 8 SLO status per call edge, 9 anomalies), 0 already applied');
    const second = await runCli(['--config', file, 'migrate']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('ClickHouse database cli_migrate: 0 migration(s) applied, 9 already applied');
  });

  it('creates the Kafka topics with their partitions, replication and retention, once', async () => {
    const brokers = inject('kafkaBrokers');
    const topics = uniqueTopics('cli');
    const file = tempConfig(
      `bus:\n  kind: kafka\n  topics: ${JSON.stringify(topics)}\n  kafka:\n    brokers: ${JSON.stringify(brokers)}\n    partitions: 4\n    retention_ms: 3600000\nclickhouse:\n  path: $DIR/engine\n  database: cli_topics\n`,
    );
    const first = await runCli(['--config', file, 'migrate']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`Kafka topics created: ${topics.spans}, ${topics.logs}, ${topics.findings}, ${topics.edges}, ${topics.alerts}\n`);
    const second = await runCli(['--config', file, 'migrate']);
    expect(second.stdout).toContain('Kafka topics created: none (all exist)');
    const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const { topics: described } = await admin.fetchTopicMetadata({ topics: Object.values(topics) });
      expect(described.map((t) => t.partitions.length)).toEqual([4, 4, 4, 4, 4]);
      const configs = await admin.describeConfigs({ includeSynonyms: false, resources: Object.values(topics).map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })) });
      expect(configs.resources.map((r) => r.configEntries.find((e) => e.configName === 'retention.ms')?.configValue)).toEqual(['3600000', '3600000', '3600000', '3600000', '3600000']);
      await admin.deleteTopics({ topics: Object.values(topics) });
    } finally {
      await admin.disconnect();
    }
  });

  it('starts, prints where to send OTLP, and exits cleanly on SIGTERM', async () => {
    const file = tempConfig('collector:\n  http:\n    port: 0\n  grpc:\n    port: 0\nadmin:\n  port: 0\nclickhouse:\n  path: $DIR/engine\n');
    const app = await startCli(['--config', file]);
    expect(app.output()).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/127\.0\.0\.1:\d+/);
    expect(app.output()).toContain(`OTLP/HTTP logs:    POST ${app.otlpUrl}/v1/logs`);
    const admin = /health and metrics: (http:\/\/127\.0\.0\.1:\d+)\/healthz/.exec(app.output())?.[1];
    expect(admin).toBeDefined();
    expect(await (await fetch(`${admin}/readyz`)).json()).toEqual({ status: 'ready', checks: { bus: 'ok', clickhouse: 'ok' } });
    // Every role runs in the one process: a consumer group each.
    const groups = [...(await scrapeMetrics(admin!)).keys()].flatMap((name) => (name.startsWith('chainwatch_consumer_lag{') ? [/group="chainwatch-([^"]+)"/.exec(name)![1]!] : []));
    expect(groups.sort()).toEqual(['alerting', 'anomaly', 'findings-storage', 'inventory', 'inventory-edges', 'logs-storage', 'sla', 'storage']);
    for (const signal of ['traces', 'logs']) {
      const res = await fetch(`${app.otlpUrl}/v1/${signal}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(200);
    }
    const code = await killAndWait(app.child, 'SIGTERM');
    expect(code).toBe(0);
    expect(app.output()).toContain('SIGTERM, draining and stopping');
  });

  it('refuses bad demo options and options of another command, naming each', async () => {
    const r = await runCli(['demo', '--rate', 'fast', '--incidents', 'latency-spike,meteor', '--duration', '0', '--cycle-s', '5', '--target', 'ftp://x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid demo options:');
    expect(r.stderr).toContain('--rate: expected a number of traces per second');
    expect(r.stderr).toContain('--incidents: expected one of latency-spike, error-burst, token-leak, new-vendor, auth-downgrade, traffic-cliff, got "meteor"');
    expect(r.stderr).toContain('--duration: expected a positive number of seconds, got "0"');
    expect(r.stderr).toContain('--cycle-s: expected at least 10 seconds');
    expect(r.stderr).toContain('--target: expected an http:// or https:// URL, got "ftp://x"');
    const misplaced = await runCli(['migrate', '--rate', '5']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('--rate is not an option of migrate');
    const contradiction = await runCli(['start', '--demo', '--no-demo']);
    expect(contradiction.code).toBe(2);
  });

  it('runs the demo estate inside start (--demo) and as its own command against a running collector', async () => {
    const file = tempConfig('collector:\n  http:\n    port: 0\n  grpc:\n    port: 0\nadmin:\n  port: 0\nclickhouse:\n  path: $DIR/engine\ndemo:\n  rate: 10\n  seed: 3\n');
    const app = await startCli(['--config', file, '--demo']);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(app.output()).toContain(`demo traffic is on: 8 services calling 11 sub-processors at 10 traces/s, seed 3, sent to this collector; to turn it off, run without --demo`);
      expect(app.output()).toMatch(/incident timeline \(cycle 10:00, repeating; first cycle shown\):\n {2}\+1:00 +\d\d:\d\d:\d\d {2}latency-spike/);

      const demo = await runCli(['demo', '--target', app.otlpUrl, '--duration', '3', '--rate', '20', '--seed', '11', '--incidents', 'latency-spike,new-vendor']);
      expect(demo.code).toBe(0);
      expect(demo.stdout).toContain('chainwatch demo: 8 services calling 11 sub-processors at 20 traces/s, seed 11 (--seed 11 repeats this run)');
      expect(demo.stdout).toContain(`sending OTLP/HTTP protobuf to ${app.otlpUrl}/v1/traces and ${app.otlpUrl}/v1/logs`);
      expect(demo.stdout).toMatch(/incident timeline \(all compressed into the 0:03 run\):\n {2}\+0:00\.3 .* latency-spike .*\n {2}\+0:01\.5 .* new-vendor /);
      expect(demo.stdout).toMatch(/incident latency-spike begins: Stripe/);
      expect(demo.stdout).toMatch(/incident new-vendor begins: catalog starts calling Anthropic/);
      // Every span generated was accepted; logs are refused with 404 until the collector takes them.
      const summary = /demo stopped: (\d+) traces, (\d+) spans, (\d+) log records generated; collector accepted (\d+) spans/.exec(demo.stdout);
      expect(summary).not.toBeNull();
      expect(Number(summary![1])).toBeGreaterThan(20);
      expect(summary![4]).toBe(summary![2]);
    } finally {
      const code = await killAndWait(app.child, 'SIGTERM');
      expect(code).toBe(0);
    }
  });
});
