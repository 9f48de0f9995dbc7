import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig, parseConfigText, parseWithEnv } from './config-loader.js';

const testdata = new URL('./testdata/', import.meta.url).pathname;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config loading', () => {
  it('gives the embedded defaults with no file', async () => {
    const config = await loadConfig();
    expect(config.bus.kind).toBe('memory');
    expect(config.clickhouse.kind).toBe('embedded');
    expect(config.clickhouse.database).toBe('chainwatch');
    expect(config.collector.http.port).toBe(4318);
    expect(config.bus.topics).toEqual({ spans: 'chainwatch.spans', logs: 'chainwatch.logs', findings: 'chainwatch.findings', edges: 'chainwatch.edges', alerts: 'chainwatch.alerts' });
    expect(config.stages.storage.batch_size).toBeGreaterThan(0);
    expect(Object.isFrozen(config.stages.storage)).toBe(true);
  });

  it('reads a complete file and keeps its values', async () => {
    const config = await loadConfig(join(testdata, 'valid-kafka.yaml'));
    expect(config.bus.kafka?.brokers).toEqual(['kafka-1:9092', 'kafka-2:9092']);
    expect(config.bus.kafka?.partitions).toBe(12);
    expect(config.bus.group_prefix).toBe('chainwatch');
    expect(config.bus.topics.logs).toBe('chainwatch.logs.v2');
    expect(config.clickhouse.url).toBe('http://clickhouse:8123');
    expect(config.stages.storage.max_wait_ms).toBe(250);
  });

  it('reads the config docker-compose.yml mounts', async () => {
    const config = await loadConfig(new URL('../deploy/chainwatch.compose.yaml', import.meta.url).pathname);
    expect(config.bus.kind).toBe('kafka');
    expect(config.bus.topics.findings).toBe('chainwatch.findings');
    expect(config.bus.topics.logs).toBe('chainwatch.logs');
    expect(config.clickhouse.url).toBe('http://clickhouse:8123');
  });

  it('sets config keys from CHAINWATCH__ environment variables, over the file, naming the variable in problems', async () => {
    const fromEnv = await loadConfig(undefined, {
      CHAINWATCH__BUS__KIND: 'kafka',
      CHAINWATCH__BUS__KAFKA__BROKERS: '[a:9092, b:9092]',
      chainwatch__clickhouse__password: '"123"',
      CHAINWATCH__ADMIN__PORT: '9999',
      CHAINWATCH_LOG_LEVEL: 'debug', // not a config key: ignored here
      PATH: '/usr/bin',
    });
    expect(fromEnv.bus.kind).toBe('kafka');
    expect(fromEnv.bus.kafka?.brokers).toEqual(['a:9092', 'b:9092']);
    expect(fromEnv.clickhouse.password).toBe('123');
    expect(fromEnv.admin.port).toBe(9999);

    const overFile = await loadConfig(join(testdata, 'valid-kafka.yaml'), { CHAINWATCH__CLICKHOUSE__DATABASE: 'other' });
    expect(overFile.clickhouse.database).toBe('other');
    expect(overFile.bus.kafka?.partitions).toBe(12);

    const problems = problemsOf(() => parseWithEnv({}, 'c.yaml', { CHAINWATCH__CLICKHOUSE__PASWORD: 'x', CHAINWATCH__ADMIN__PORT: 'abc' }));
    expect(problems).toEqual([
      'admin.port: expected a port number (1-65535), got "abc" (set by CHAINWATCH__ADMIN__PORT)',
      'clickhouse.pasword: unknown key (set by CHAINWATCH__CLICKHOUSE__PASWORD)',
    ]);
    expect(problemsOf(() => parseWithEnv({}, 'c.yaml', { CHAINWATCH__BUS____KIND: 'kafka' }))).toEqual([
      'CHAINWATCH__BUS____KIND: expected CHAINWATCH__<key>__<key>…, with one "__" between keys',
    ]);
  });

  it('reads the README redaction example', async () => {
    const config = await loadConfig(join(testdata, 'redaction.yaml'));
    expect(config.stages.redaction.families.email.action).toBe('hash');
    expect(config.stages.redaction.families.ip_address.enabled).toBe(true);
    expect(config.stages.redaction.custom_rules[0]?.id).toBe('acme_token');
  });

  it('names the rule of a custom pattern that could backtrack catastrophically', () => {
    const problems = problemsOf(() =>
      parseConfig({ stages: { redaction: { custom_rules: [{ id: 'slow_rule', pattern: '(a+)+b', keywords: ['ab'] }] } } }, 'x.yaml'),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^stages\.redaction\.custom_rules\.0\.pattern: rule "slow_rule" may backtrack catastrophically/);
  });

  it('lists every problem of an invalid file with its path', async () => {
    const err = await loadConfig(join(testdata, 'invalid.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const { problems, file, message } = err as ConfigError;
    expect(file).toBe(join(testdata, 'invalid.yaml'));
    expect(problems).toEqual(
      expect.arrayContaining([
        'collector.http.port: expected a port number (1-65535), got 70000',
        'bus.kind: expected "memory" or "kafka", got "rabbit"',
        `clickhouse.database: expected an identifier (letters, digits, '_'; not starting with a digit), got "drop table"`,
        'stages.storage.batch_size: expected a positive integer, got "x"',
        'stages.storage.max_wait_ms: expected a positive integer, got -5',
        'stages.storag: unknown key',
      ]),
    );
    expect(problems).toHaveLength(6);
    expect(message).toContain('stages.storage.batch_size: expected a positive integer, got "x"');
  });

  it('requires the settings a chosen kind needs', () => {
    expect(problemsOf(() => parseConfig({ bus: { kind: 'kafka' }, clickhouse: { kind: 'server' } }, 'x.yaml'))).toEqual([
      'bus.kafka: required when bus.kind is "kafka" (give at least bus.kafka.brokers)',
      'clickhouse.url: required when clickhouse.kind is "server"',
    ]);
    expect(problemsOf(() => parseConfig({ bus: { kind: 'kafka', kafka: { brokers: ['nohost'] } } }, 'x.yaml'))).toEqual([
      'bus.kafka.brokers.0: expected host:port, got "nohost"',
    ]);
  });

  it('reports YAML syntax errors and non-map documents', () => {
    expect(problemsOf(() => parseConfigText('bus: [unclosed', 'bad.yaml'))[0]).toMatch(/^YAML syntax error at line 1/);
    expect(problemsOf(() => parseConfigText('- a\n- b\n', 'list.yaml'))).toEqual([
      'the document must be a map of settings (for example "bus:" and "clickhouse:")',
    ]);
    expect(problemsOf(() => parseConfigText('a: 1\na: 2\n', 'dup.yaml'))[0]).toMatch(/YAML syntax error.*unique/i);
  });

  it('gives the demo section its defaults, reads it, and names what is wrong in it', async () => {
    expect((await loadConfig()).demo).toEqual({ enabled: false, rate: 20, incidents: 'all', cycle_s: 600 });
    const config = await loadConfig(join(testdata, 'valid-kafka.yaml'));
    expect(config.demo).toEqual({ enabled: false, rate: 50, seed: 7, incidents: ['latency-spike', 'token-leak'], cycle_s: 900 });
    expect(parseConfig({ demo: { enabled: true, incidents: 'none' } }, 'x.yaml').demo).toMatchObject({ enabled: true, incidents: 'none' });
    expect(problemsOf(() => parseConfig({ demo: { rate: 0, seed: -1, incidents: ['latency-spike', 'meteor'], cycle_s: 5, colour: 'red' } }, 'x.yaml'))).toEqual([
      'demo.rate: expected a positive number of traces per second',
      'demo.seed: expected a seed from 0 to 4294967295',
      'demo.incidents: expected one of latency-spike, error-burst, token-leak, new-vendor, auth-downgrade, traffic-cliff, got "meteor"',
      'demo.cycle_s: expected at least 10 seconds',
      'demo.colour: unknown key',
    ]);
    expect(problemsOf(() => parseConfig({ demo: { incidents: 'sometimes', enabled: 'yes' } }, 'x.yaml'))).toEqual([
      'demo.enabled: expected true or false',
      'demo.incidents: expected "all", "none" or a list of: latency-spike, error-burst, token-leak, new-vendor, auth-downgrade, traffic-cliff',
    ]);
  });

  it('names a missing file', async () => {
    const err = (await loadConfig('/nonexistent/chainwatch.yaml').catch((e: unknown) => e)) as ConfigError;
    expect(err.problems).toEqual(['file not found']);
    expect(err.message).toContain('/nonexistent/chainwatch.yaml');
  });

  it('treats an empty file as all defaults', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-config-'));
    writeFileSync(join(dir, 'empty.yaml'), '# nothing set\n');
    expect((await loadConfig(join(dir, 'empty.yaml'))).bus.kind).toBe('memory');
  });
});
