/**
 * `npm run bench`: the end-to-end benchmark harness. Each scenario starts chainwatch in a child
 * process (bench/system-under-test.ts) and drives it with the load generator in another
 * (bench/load-generator.ts), replaying pre-encoded realistic OTLP protobuf payloads, so CPU time
 * and peak RSS are the system's own. Figures are printed as a table and written as JSON under
 * bench/results/, with each performance target and whether this run met it.
 *
 * Scenarios:
 *   e2e-embedded            OTLP/HTTP → redaction → in-process bus → embedded ClickHouse, max load
 *   e2e-embedded-no-redaction  the same with redaction off
 *   e2e-embedded-all-roles  the same with every role of `npm start` (inventory, sla, anomaly, alerting too)
 *   at-rest                 every payload once (no repeats), OPTIMIZE FINAL: bytes per span on disk
 *   collector-kafka         collector role → real Kafka broker, max load (and -no-redaction)
 *   kafka-storage           storage role draining what collector-kafka published → ClickHouse
 *   latency-at-50pct        collector on Kafka, open loop at half its maximum: ingest p50/p99
 *   overload-2x             collector on Kafka, open loop at twice its maximum over 256
 *                           connections: 429/503 + Retry-After, peak RSS, then drained to storage
 * The load generator stamps every send with fresh trace ids, so every scenario that stores checks
 * loss (acknowledged spans vs distinct stored spans) and duplicates exactly.
 *
 *   npm run bench -- [--quick] [--only a,b] [--seconds N] [--concurrency N]
 *   npm run bench -- --target http://host:4318 [--seconds N] [--rate R]   load only, any OTLP receiver
 *
 * Kafka scenarios use KAFKA_BROKERS when set, else start a broker from the Maven jars
 * (test/harness/kafka); they are skipped, and say so, when neither is possible.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LoadResult, Payload } from './load-generator.js';
import { encodePayloadFile } from './load-generator.js';
import type { AtRest, ProcessStats, Request, StoredCounts } from './system-under-test.js';
import { benchPayloads } from './payloads.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const HMAC_KEY = 'bench-key-0123456789abcdef0123456789';

export interface Target {
  name: string;
  goal: string;
  measured: string;
  met: boolean;
}

export interface ScenarioResult {
  name: string;
  description: string;
  figures: Record<string, number | string | boolean | Record<string, number>>;
}

export interface BenchReport {
  when: string;
  mode: 'quick' | 'full' | 'target';
  machine: { node: string; cpus: number; cpuModel: string; memoryGiB: number };
  payloads: { requests: number; spans: number; spansPerRequest: number; bytesPerSpan: number; source: string };
  scenarios: ScenarioResult[];
  targets: Target[];
  resultFile: string;
}

/** A child chainwatch with a request/answer IPC channel. */
class SystemUnderTest {
  #seq = 0;
  #pending = new Map<number, (m: { result?: unknown; error?: string }) => void>();
  private constructor(
    readonly child: ChildProcess,
    readonly url: string | null,
  ) {
    child.on('message', (m: { id?: number; result?: unknown; error?: string }) => {
      if (m.id !== undefined) this.#pending.get(m.id)?.(m);
    });
  }

  /** With --profile DIR: each chainwatch under test writes a CPU profile, DIR/<scenario>-<roles>.cpuprofile. */
  static profileDir: string | null = null;

  static async start(scenario: string, config: Record<string, unknown>, roles: string[]): Promise<SystemUnderTest> {
    const dir = SystemUnderTest.profileDir;
    const execArgv = dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${scenario}-${roles.join('+')}.cpuprofile`] : [];
    const child = fork(join(HERE, 'system-under-test.js'), [JSON.stringify(config), roles.join(',')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    const ready = await new Promise<{ ready: boolean; url?: string; error?: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { ready: boolean; url?: string; error?: string }));
      child.once('exit', (code) => reject(new Error(`chainwatch under test exited with ${code} before it was ready`)));
    });
    if (!ready.ready) throw new Error(`chainwatch under test failed to start: ${ready.error}`);
    return new SystemUnderTest(child, ready.url ?? null);
  }

  ask<T>(op: Request['op']): Promise<T> {
    const id = this.#seq++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, (m) => {
        this.#pending.delete(id);
        if (m.error) reject(new Error(m.error));
        else resolve(m.result as T);
      });
      this.child.send({ id, op });
    });
  }

  /** Polls until the stored count stops changing for `quietMs` (storage has caught up). */
  async storedWhenSettled(expected: number, timeoutMs = 120_000, quietMs = 1500): Promise<StoredCounts> {
    const deadline = Date.now() + timeoutMs;
    let last = await this.ask<StoredCounts>('stored');
    let since = Date.now();
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const now = await this.ask<StoredCounts>('stored');
      if (now.rows !== last.rows) since = Date.now();
      last = now;
      if (now.rows >= expected && Date.now() - since >= quietMs) break;
      if (now.rows < expected && Date.now() - since >= Math.max(quietMs, 10_000)) break;
    }
    return last;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.exitCode !== null) return;
    await this.ask('stop').catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

interface Options {
  seconds: number;
  concurrency: number;
  quick: boolean;
  only: Set<string> | null;
  payloadFile: string;
  workDir: string;
}

function runLoadChild(options: { target: string; payloadFile: string; concurrency: number; seconds: number; rate?: number; once?: boolean }): Promise<LoadResult> {
  const args = ['--target', options.target, '--payloads', options.payloadFile, '--concurrency', String(options.concurrency), '--duration', String(options.seconds)];
  if (options.once) args.push('--once');
  if (options.rate !== undefined) args.push('--rate', String(Math.max(1, Math.round(options.rate))));
  const child = fork(join(HERE, 'load-generator.js'), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited with ${code}`)));
  });
}

function embeddedConfig(o: Options, name: string, redaction: boolean, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    collector: { http: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 } },
    admin: { port: 0 },
    clickhouse: { kind: 'embedded', path: join(o.workDir, `chdb-${name}`), database: 'bench' },
    stages: { redaction: { enabled: redaction, hmac_key: HMAC_KEY } },
    ...extra,
  };
}

const spansPerCore = (spans: number, cpuSeconds: number): number => (cpuSeconds > 0 ? Math.round(spans / cpuSeconds) : 0);

/** Max load against a fresh embedded chainwatch; returns figures and the acknowledged spans per second. */
async function e2eEmbedded(o: Options, name: string, redaction: boolean, roles: string[] = ['collector', 'storage']): Promise<ScenarioResult & { max: number }> {
  const sut = await SystemUnderTest.start(name, embeddedConfig(o, name, redaction), roles);
  try {
    const before = await sut.ask<ProcessStats>('stats');
    const load = await runLoadChild({ target: sut.url!, payloadFile: o.payloadFile, concurrency: o.concurrency, seconds: o.seconds });
    const stored = await sut.storedWhenSettled(load.acceptedSpans);
    const after = await sut.ask<ProcessStats>('stats');
    const cpu = after.cpuSeconds - before.cpuSeconds;
    return {
      name,
      description: `OTLP/HTTP protobuf → ${redaction ? 'redaction → ' : ''}in-process bus → embedded ClickHouse (${roles.join(', ')}), ${o.concurrency} connections, closed loop`,
      max: load.acceptedSpansPerSecond,
      figures: {
        spansPerSecond: load.acceptedSpansPerSecond,
        cpuSeconds: round(cpu),
        busyCores: round(cpu / load.seconds),
        spansPerCore: spansPerCore(load.acceptedSpans, cpu),
        latencyP50Ms: load.latencyMs.p50,
        latencyP99Ms: load.latencyMs.p99,
        ...stalls(after),
        peakRssMiB: Math.round(after.peakRssMiB),
        spansPerInsert: stored.spanBatches > 0 ? Math.round(stored.rows / stored.spanBatches) : 0,
        acknowledgedSpans: load.acceptedSpans,
        storedSpans: stored.distinctSpans,
        duplicateRows: stored.rows - stored.distinctSpans,
        lostSpans: Math.max(0, load.acceptedSpans - stored.distinctSpans),
        statuses: load.statuses,
      },
    };
  } finally {
    await sut.stop();
  }
}

/** Every payload once into a fresh embedded chainwatch: the stored data has no repeats, so its size at rest is real. */
async function atRest(o: Options): Promise<ScenarioResult> {
  const sut = await SystemUnderTest.start('at-rest', embeddedConfig(o, 'at-rest', true), ['collector', 'storage']);
  try {
    const load = await runLoadChild({ target: sut.url!, payloadFile: o.payloadFile, concurrency: o.concurrency, seconds: 0, once: true });
    const stored = await sut.storedWhenSettled(load.acceptedSpans);
    const rest = await sut.ask<AtRest>('at-rest');
    return {
      name: 'at-rest',
      description: 'every payload sent once (no repeated spans), then OPTIMIZE FINAL: bytes per span on disk (system.parts, system.parts_columns)',
      figures: {
        spans: rest.rows,
        bytesPerSpanAtRest: round(rest.bytesPerSpan),
        uncompressedBytesPerSpan: round(rest.uncompressedBytesPerSpan),
        compressionRatio: round(rest.uncompressedBytesPerSpan / Math.max(rest.bytesPerSpan, 1e-9)),
        skipIndexBytesPerSpan: round(rest.skipIndexBytesPerSpan),
        marksBytesPerSpan: round(rest.marksBytesPerSpan),
        heaviestColumnsBytesPerSpan: rest.columns,
        acknowledgedSpans: load.acceptedSpans,
        storedSpans: stored.distinctSpans,
        duplicateRows: stored.rows - stored.distinctSpans,
        lostSpans: Math.max(0, load.acceptedSpans - stored.distinctSpans),
      },
    };
  } finally {
    await sut.stop();
  }
}

async function kafkaBrokers(): Promise<{ brokers: string[]; stop(): Promise<void> } | null> {
  if (process.env.KAFKA_BROKERS) return { brokers: process.env.KAFKA_BROKERS.split(','), stop: async () => {} };
  try {
    const { startKafkaBroker } = await import('../test/harness/kafka-broker.js');
    return await startKafkaBroker();
  } catch (err) {
    console.log(`(Kafka scenarios skipped: no broker — ${(err as Error).message.split('\n')[0]})`);
    return null;
  }
}

interface CollectorRun {
  result: ScenarioResult;
  bus: Record<string, unknown>;
  acceptedSpans: number;
  maxSpansPerSecond: number;
}

/** A collector (role collector only) on a topic of its own, under closed-loop or open-loop load. */
async function collectorOnKafka(
  o: Options,
  brokers: string[],
  run: { name: string; description: string; redaction: boolean; spansPerSecond?: number; spansPerRequest: number; concurrency?: number },
): Promise<CollectorRun> {
  const suffix = `${process.pid}-${Date.now().toString(36)}-${run.name}`;
  const bus = {
    kind: 'kafka',
    topics: { spans: `bench.spans.${suffix}`, findings: `bench.findings.${suffix}` },
    group_prefix: `bench-${suffix}`,
    kafka: { brokers, client_id: 'chainwatch-bench', partitions: 6 },
  };
  const collector = await SystemUnderTest.start(run.name, { ...embeddedConfig(o, run.name, run.redaction), bus }, ['collector']);
  try {
    const before = await collector.ask<ProcessStats>('stats');
    const load = await runLoadChild({
      target: collector.url!,
      payloadFile: o.payloadFile,
      concurrency: run.concurrency ?? o.concurrency,
      seconds: o.seconds,
      ...(run.spansPerSecond !== undefined ? { rate: run.spansPerSecond / run.spansPerRequest } : {}),
    });
    const after = await collector.ask<ProcessStats>('stats');
    const cpu = after.cpuSeconds - before.cpuSeconds;
    const refused = (load.statuses['429'] ?? 0) + (load.statuses['503'] ?? 0);
    return {
      bus,
      acceptedSpans: load.acceptedSpans,
      maxSpansPerSecond: load.acceptedSpansPerSecond,
      result: {
        name: run.name,
        description: run.description,
        figures: {
          ...(run.spansPerSecond !== undefined ? { offeredSpansPerSecond: Math.round(run.spansPerSecond) } : {}),
          spansPerSecond: load.acceptedSpansPerSecond,
          cpuSeconds: round(cpu),
          busyCores: round(cpu / load.seconds),
          spansPerCore: spansPerCore(load.acceptedSpans, cpu),
          latencyP50Ms: load.latencyMs.p50,
          latencyP90Ms: load.latencyMs.p90,
          latencyP99Ms: load.latencyMs.p99,
          ...stalls(after),
          refusedRequests: refused,
          refusedWithRetryAfter: load.refusedWithRetryAfter,
          peakRssMiB: Math.round(after.peakRssMiB),
          acknowledgedSpans: load.acceptedSpans,
          statuses: load.statuses,
        },
      },
    };
  } finally {
    await collector.stop();
  }
}

/** A storage worker drains a collector run's topic; adds loss/duplicate figures to that run and returns its own. */
async function drainToStorage(o: Options, run: CollectorRun, name: string): Promise<ScenarioResult> {
  const storage = await SystemUnderTest.start(name, { ...embeddedConfig(o, name, true), bus: run.bus }, ['storage']);
  try {
    const before = await storage.ask<ProcessStats>('stats');
    const storedAtReady = await storage.ask<StoredCounts>('stored');
    const started = performance.now();
    let stored = storedAtReady;
    let changedAt = started;
    while (stored.distinctSpans < run.acceptedSpans && performance.now() - changedAt < 15_000) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await storage.ask<StoredCounts>('stored');
      if (now.rows !== stored.rows) changedAt = performance.now();
      stored = now;
    }
    const seconds = (changedAt - started) / 1000;
    const after = await storage.ask<ProcessStats>('stats');
    const cpu = after.cpuSeconds - before.cpuSeconds;
    const drained = stored.rows - storedAtReady.rows;
    const loss = { storedSpans: stored.distinctSpans, duplicateRows: stored.rows - stored.distinctSpans, lostSpans: Math.max(0, run.acceptedSpans - stored.distinctSpans) };
    Object.assign(run.result.figures, loss);
    return {
      name,
      description: `Kafka → storage role → embedded ClickHouse, draining ${run.result.name}'s topic (the embedded engine runs in the worker, so its CPU is counted)`,
      figures: {
        spansPerSecond: seconds > 0 ? Math.round(drained / seconds) : 0,
        cpuSeconds: round(cpu),
        spansPerCore: spansPerCore(drained, cpu),
        spansPerInsert: stored.spanBatches > 0 ? Math.round(drained / stored.spanBatches) : 0,
        peakRssMiB: Math.round(after.peakRssMiB),
        acknowledgedByCollector: run.acceptedSpans,
        ...loss,
      },
    };
  } finally {
    await storage.stop();
  }
}

/** What stalled the process under load: event-loop delay and GC pauses during the load. */
function stalls(s: ProcessStats): Record<string, number> {
  return {
    eventLoopDelayP99Ms: round(s.eventLoopDelayP99Ms),
    eventLoopDelayMaxMs: round(s.eventLoopDelayMaxMs),
    gcPauseMaxMs: round(s.gcPauseMaxMs),
    gcPauseTotalMs: Math.round(s.gcPauseTotalMs),
    ...(s.kafkaSendP99Ms !== undefined ? { kafkaSendP99UnderMs: s.kafkaSendP99Ms, kafkaSendMaxUnderMs: s.kafkaSendMaxMs! } : {}),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2);
  if (v && typeof v === 'object') return Object.entries(v).map(([k, n]) => `${k}:${fmt(n)}`).join(' ');
  return String(v);
}

function printScenario(s: ScenarioResult): void {
  console.log(`\n${s.name} — ${s.description}`);
  for (const [k, v] of Object.entries(s.figures)) console.log(`  ${k.padEnd(30)} ${fmt(v)}`);
}

function targetsOf(scenarios: ScenarioResult[]): Target[] {
  const by = new Map(scenarios.map((s) => [s.name, s.figures] as const));
  const out: Target[] = [];
  const num = (name: string, key: string): number | undefined => {
    const v = by.get(name)?.[key];
    return typeof v === 'number' ? v : undefined;
  };
  const collector = num('collector-kafka', 'spansPerCore');
  if (collector !== undefined)
    out.push({ name: 'collector path, OTLP/HTTP protobuf → redaction → bus', goal: '≥ 100,000 spans/s per core', measured: `${fmt(collector)} spans/s per core`, met: collector >= 100_000 });
  const storage = num('kafka-storage', 'spansPerCore');
  if (storage !== undefined)
    out.push({ name: 'storage path, bus → ClickHouse', goal: '≥ 150,000 spans/s per core', measured: `${fmt(storage)} spans/s per core`, met: storage >= 150_000 });
  const atRest = num('at-rest', 'bytesPerSpanAtRest');
  if (atRest !== undefined) out.push({ name: 'at rest', goal: '≤ 60 bytes per span', measured: `${fmt(atRest)} bytes per span`, met: atRest <= 60 });
  const p99 = num('latency-at-50pct', 'latencyP99Ms');
  if (p99 !== undefined) out.push({ name: 'ingest latency at 50% of maximum', goal: 'p99 ≤ 20 ms', measured: `p99 ${fmt(p99)} ms`, met: p99 <= 20 });
  const over = by.get('overload-2x');
  if (over) {
    const refused = Number(over.refusedRequests);
    const ok = refused > 0 && over.refusedWithRetryAfter === refused && Number(over.peakRssMiB) <= 512 && over.lostSpans === 0;
    out.push({
      name: '2× overload',
      goal: '429/503 with Retry-After, peak RSS ≤ 512 MiB, nothing acknowledged lost',
      measured: `${refused} refused (${String(over.refusedWithRetryAfter)} with Retry-After), peak RSS ${fmt(over.peakRssMiB)} MiB, ${fmt(over.lostSpans)} lost`,
      met: ok,
    });
  }
  for (const s of scenarios) {
    if (s.figures.lostSpans !== undefined && s.figures.lostSpans !== 0) out.push({ name: `${s.name}: no loss`, goal: '0 acknowledged spans lost', measured: `${fmt(s.figures.lostSpans)} lost`, met: false });
    if (s.figures.duplicateRows !== undefined && s.figures.duplicateRows !== 0) out.push({ name: `${s.name}: no duplicates`, goal: '0 duplicate rows', measured: `${fmt(s.figures.duplicateRows)}`, met: false });
  }
  return out;
}

export const SCENARIOS = ['e2e-embedded', 'e2e-embedded-no-redaction', 'e2e-embedded-all-roles', 'at-rest', 'collector-kafka', 'kafka-storage', 'collector-kafka-no-redaction', 'latency-at-50pct', 'overload-2x'] as const;

const USAGE = `usage: npm run bench -- [--quick] [--only a,b] [--seconds N] [--concurrency N] [--results-dir DIR]
       npm run bench -- --target http://host:4318 [--seconds N] [--concurrency N] [--rate R]

  --quick          small payload set, short loads (what the test runs)
  --only a,b       run only these scenarios: ${SCENARIOS.join(', ')}
  --seconds N      length of each load (default 15, quick 2)
  --concurrency N  connections of the closed-loop loads (default 16)
  --target URL     load only, against any OTLP/HTTP receiver (its /v1/traces)
  --rate R         with --target: open loop at R requests/s instead of a closed loop
  --results-dir D  where the JSON report goes (default bench/results)
  --profile DIR    write a CPU profile of each chainwatch under test to DIR/<scenario>-<roles>.cpuprofile
                   (open in Chrome DevTools or speedscope)`;

/** A bad command line: reported with the usage, never with a stack. */
export class UsageError extends Error {}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got "${value}"`);
  return n;
}

export async function runHarness(argv: string[]): Promise<BenchReport | null> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        seconds: { type: 'string' },
        concurrency: { type: 'string' },
        target: { type: 'string' },
        rate: { type: 'string' },
        'results-dir': { type: 'string', default: join(REPO, 'bench', 'results') },
        profile: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return null;
  }
  const quick = values.quick ?? false;
  const only = values.only ? values.only.split(',').filter((n) => n !== '') : null;
  const unknown = only?.filter((n) => !(SCENARIOS as readonly string[]).includes(n)) ?? [];
  if (unknown.length > 0) throw new UsageError(`--only: unknown scenario ${unknown.map((n) => `"${n}"`).join(', ')}; scenarios are ${SCENARIOS.join(', ')}`);
  if (values.target !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(values.target);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new UsageError(`--target must be an http(s) URL, got "${values.target}"`);
  } else if (values.rate !== undefined) throw new UsageError('--rate applies to --target runs only');
  if (values.profile !== undefined) {
    if (values.target !== undefined) throw new UsageError('--profile applies to chainwatch under test, not to --target runs');
    mkdirSync(values.profile, { recursive: true });
    SystemUnderTest.profileDir = values.profile;
  }
  const seconds = positive('seconds', values.seconds, quick ? 2 : 15);
  const concurrency = Math.round(positive('concurrency', values.concurrency, 16));
  const rate = values.rate === undefined ? undefined : positive('rate', values.rate, 0);
  const workDir = mkdtempSync(join(os.tmpdir(), 'chainwatch-bench-'));
  const payloads: { payloads: Payload[]; source: string } = await benchPayloads({ quick });
  const payloadFile = join(workDir, 'payloads.bin');
  writeFileSync(payloadFile, encodePayloadFile(payloads.payloads));
  const spans = payloads.payloads.reduce((n, p) => n + p.spans, 0);
  const bytes = payloads.payloads.reduce((n, p) => n + p.body.length, 0);
  const o: Options = {
    seconds,
    concurrency,
    quick,
    only: only ? new Set(only) : null,
    payloadFile,
    workDir,
  };
  const wanted = (name: string): boolean => o.only === null || o.only.has(name);
  const cpus = os.cpus();
  console.log(
    `chainwatch bench (${quick ? 'quick' : values.target ? 'target' : 'full'}): node ${process.version}, ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}; ` +
      `payloads: ${payloads.payloads.length} requests from ${payloads.source}, ${Math.round(spans / payloads.payloads.length)} spans/request, ${Math.round(bytes / spans)} bytes/span; ${o.seconds} s per load`,
  );

  const scenarios: ScenarioResult[] = [];
  const record = (s: ScenarioResult): void => {
    scenarios.push(s);
    printScenario(s);
  };
  try {
    if (values.target) {
      const load = await runLoadChild({ target: values.target, payloadFile, concurrency: o.concurrency, seconds: o.seconds, ...(rate !== undefined ? { rate } : {}) });
      record({ name: 'target', description: `load only against ${values.target}${rate !== undefined ? ` at ${rate} requests/s` : ', closed loop'}`, figures: { ...load.latencyMs, spansPerSecond: load.acceptedSpansPerSecond, acknowledgedSpans: load.acceptedSpans, requests: load.requests, statuses: load.statuses } });
    } else {
      const perRequest = spans / payloads.payloads.length;
      if (wanted('e2e-embedded')) record(await e2eEmbedded(o, 'e2e-embedded', true));
      if (wanted('e2e-embedded-no-redaction')) record(await e2eEmbedded(o, 'e2e-embedded-no-redaction', false));
      // What `npm start` runs: the analysis roles on every span too (their cost against e2e-embedded).
      if (wanted('e2e-embedded-all-roles')) record(await e2eEmbedded(o, 'e2e-embedded-all-roles', true, ['collector', 'storage', 'inventory', 'sla', 'anomaly', 'alerting']));
      if (wanted('at-rest')) record(await atRest(o));
      const kafkaNames = ['collector-kafka', 'collector-kafka-no-redaction', 'kafka-storage', 'latency-at-50pct', 'overload-2x'];
      if (kafkaNames.some(wanted)) {
        const broker = await kafkaBrokers();
        if (broker) {
          try {
            const max = await collectorOnKafka(o, broker.brokers, {
              name: 'collector-kafka',
              description: 'OTLP/HTTP protobuf → redaction → Kafka (real broker, acks=all, idempotent), collector role only, closed loop',
              redaction: true,
              spansPerRequest: perRequest,
            });
            record(max.result);
            if (wanted('kafka-storage')) record(await drainToStorage(o, max, 'kafka-storage'));
            if (wanted('collector-kafka-no-redaction')) {
              const off = await collectorOnKafka(o, broker.brokers, { name: 'collector-kafka-no-redaction', description: 'the same with redaction off', redaction: false, spansPerRequest: perRequest });
              record(off.result);
            }
            if (wanted('latency-at-50pct')) {
              const half = await collectorOnKafka(o, broker.brokers, {
                name: 'latency-at-50pct',
                description: "open loop at 50% of collector-kafka's maximum: ingest latency, request sent → 200 (spans durable in Kafka)",
                redaction: true,
                spansPerSecond: max.maxSpansPerSecond * 0.5,
                spansPerRequest: perRequest,
                concurrency: 64,
              });
              record(half.result);
            }
            if (wanted('overload-2x')) {
              const over = await collectorOnKafka(o, broker.brokers, {
                name: 'overload-2x',
                description: "open loop at 2× collector-kafka's maximum over 256 connections: refusals with Retry-After, bounded memory, and (drained to storage) nothing acknowledged lost",
                redaction: true,
                spansPerSecond: max.maxSpansPerSecond * 2,
                spansPerRequest: perRequest,
                concurrency: 256,
              });
              await drainToStorage(o, over, 'overload-2x-drain');
              record(over.result);
            }
          } finally {
            await broker.stop();
          }
        }
      }
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }

  const targets = targetsOf(scenarios);
  if (targets.length > 0) {
    console.log('\nTargets');
    for (const t of targets) console.log(`  ${t.met ? 'met    ' : 'NOT MET'}  ${t.name.padEnd(55)} ${t.goal.padEnd(30)} measured ${t.measured}`);
  }
  const when = new Date().toISOString();
  mkdirSync(values['results-dir']!, { recursive: true });
  const resultFile = join(values['results-dir']!, `${when.replace(/[:.]/g, '-')}-${quick ? 'quick' : values.target ? 'target' : 'full'}.json`);
  const report: BenchReport = {
    when,
    mode: quick ? 'quick' : values.target ? 'target' : 'full',
    machine: { node: process.version, cpus: cpus.length, cpuModel: cpus[0]?.model ?? '', memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    payloads: { requests: payloads.payloads.length, spans, spansPerRequest: Math.round(spans / payloads.payloads.length), bytesPerSpan: Math.round(bytes / spans), source: payloads.source },
    scenarios,
    targets,
    resultFile,
  };
  writeFileSync(resultFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nresults written to ${resultFile}`);
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runHarness(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      if (err instanceof UsageError) console.error(`bench: ${err.message}\n\n${USAGE}`);
      else console.error(`bench: ${(err as Error).stack ?? String(err)}`);
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
}
