/**
 * The `chainwatch` command as a user runs it: help, config errors, migrate (idempotent), and
 * start → SIGTERM → a clean exit.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { killAndWait, PROJECT_ROOT, runCli, startCli } from '../harness/cli.js';

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
    }
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

  it('migrates idempotently', async () => {
    const file = tempConfig('clickhouse:\n  path: $DIR/engine\n  database: cli_migrate\n');
    const first = await runCli(['--config', file, 'migrate']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('ClickHouse database cli_migrate: 3 migration(s) applied (1 otel_traces, 2 chainwatch_findings, 3 otel_logs), 0 already applied');
    const second = await runCli(['--config', file, 'migrate']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('ClickHouse database cli_migrate: 0 migration(s) applied, 3 already applied');
  });

  it('starts, prints where to send OTLP, and exits cleanly on SIGTERM', async () => {
    const file = tempConfig('collector:\n  http:\n    port: 0\nclickhouse:\n  path: $DIR/engine\n');
    const app = await startCli(['--config', file]);
    expect(app.output()).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/127\.0\.0\.1:\d+/);
    expect(app.output()).toContain(`OTLP/HTTP logs:    POST ${app.otlpUrl}/v1/logs`);
    for (const signal of ['traces', 'logs']) {
      const res = await fetch(`${app.otlpUrl}/v1/${signal}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(200);
    }
    const code = await killAndWait(app.child, 'SIGTERM');
    expect(code).toBe(0);
    expect(app.output()).toContain('SIGTERM, draining and stopping');
  });
});
