/**
 * The benchmark harness's quick mode runs end to end — every scenario, chainwatch and the load
 * generator in their own processes, the Kafka scenarios on the test broker — prints its figures
 * and writes its JSON report, and no scenario lost or duplicated a span it acknowledged. The
 * figures themselves are not judged here (timed assertions belong to `npm run bench`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { BenchReport } from '../../bench/harness.js';

const resultsDir = mkdtempSync(join(tmpdir(), 'chainwatch-bench-results-'));
afterAll(() => rmSync(resultsDir, { recursive: true, force: true }));

function runHarness(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['dist/bench/harness.js', ...args], {
    env: { ...process.env, KAFKA_BROKERS: inject('kafkaBrokers').join(',') },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('npm run bench -- --quick', () => {
  it('runs every scenario, prints the figures and the targets, and writes the JSON report', async () => {
    const { code, stdout, stderr } = await runHarness(['--quick', '--seconds', '1', '--results-dir', resultsDir]);
    expect(code, stderr).toBe(0);
    const files = readdirSync(resultsDir).filter((f) => f.endsWith('-quick.json'));
    expect(files).toHaveLength(1);
    const report = JSON.parse(readFileSync(join(resultsDir, files[0]!), 'utf8')) as BenchReport;

    const names = report.scenarios.map((s) => s.name);
    expect(names).toEqual(['e2e-embedded', 'e2e-embedded-no-redaction', 'e2e-embedded-all-roles', 'at-rest', 'collector-kafka', 'kafka-storage', 'collector-kafka-no-redaction', 'latency-at-50pct', 'overload-2x']);
    for (const s of report.scenarios) {
      expect(stdout).toContain(`${s.name} — `);
      const figures = s.figures;
      if ('spansPerSecond' in figures) expect(figures.spansPerSecond, s.name).toBeGreaterThan(0);
      if ('spansPerCore' in figures) expect(figures.spansPerCore, s.name).toBeGreaterThan(0);
      if ('latencyP99Ms' in figures) expect(figures.latencyP99Ms, s.name).toBeGreaterThanOrEqual(figures.latencyP50Ms as number);
      if ('lostSpans' in figures) {
        expect(figures.lostSpans, `${s.name} lost acknowledged spans`).toBe(0);
        expect(figures.duplicateRows, `${s.name} stored duplicates`).toBe(0);
        expect(figures.storedSpans, s.name).toBeGreaterThan(0);
      }
    }
    const atRest = report.scenarios.find((s) => s.name === 'at-rest')!.figures;
    expect(atRest.bytesPerSpanAtRest).toBeGreaterThan(0);
    // Every payload once, every span acknowledged and stored exactly once (spansPerRequest is a rounded mean).
    expect(atRest.acknowledgedSpans).toBe(report.payloads.spans);
    expect(atRest.storedSpans).toBe(report.payloads.spans);
    expect(atRest.spans).toBe(report.payloads.spans);

    // Every target is reported with its measured figure, met or not.
    expect(report.targets.map((t) => t.name)).toEqual(
      expect.arrayContaining(['collector path, OTLP/HTTP protobuf → redaction → bus', 'storage path, bus → ClickHouse', 'at rest', 'ingest latency at 50% of maximum', '2× overload']),
    );
    expect(stdout).toMatch(/Targets\n/);
    expect(stdout).toContain(`results written to ${join(resultsDir, files[0]!)}`);
    expect(report.machine.cpus).toBeGreaterThan(0);
  }, 300_000);

  it('prints its options with --help, and refuses a bad command line naming the problem, without a stack', async () => {
    const reports = (): string[] => readdirSync(resultsDir).filter((f) => f.endsWith('.json'));
    const before = reports();
    const help = await runHarness(['--help', '--results-dir', resultsDir]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--only a,b');
    expect(help.stdout).toContain('overload-2x');
    const cases: [string[], string][] = [
      [['--only', 'e2e-embedded,nope'], '--only: unknown scenario "nope"; scenarios are e2e-embedded,'],
      [['--seconds', 'soon'], '--seconds must be a positive number, got "soon"'],
      [['--concurrency', '0'], '--concurrency must be a positive number, got "0"'],
      [['--target', 'localhost:4318'], '--target must be an http(s) URL, got "localhost:4318"'],
      [['--rate', '10'], '--rate applies to --target runs only'],
      [['--fast'], "Unknown option '--fast'"],
    ];
    for (const [args, message] of cases) {
      const r = await runHarness([...args, '--results-dir', resultsDir]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(`bench: ${message}`);
      expect(r.stderr).toContain('usage: npm run bench');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    // Nothing ran, so no report was written.
    expect(reports()).toEqual(before);
  }, 60_000);
});
