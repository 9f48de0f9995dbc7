/**
 * Runs the demo estate against a collector: one OpenTelemetry SDK per service exporting OTLP/HTTP
 * protobuf to `<target>/v1/traces` and `<target>/v1/logs`, traffic paced to the wall clock, the
 * incident schedule announced as it unfolds, and everything flushed on stop.
 *
 *   const demo = runDemo({ target: 'http://127.0.0.1:4318', rate: 50, seed: 7, durationS: 60 });
 *   console.log(demo.timeline);
 *   await demo.done;            // or: await demo.stop()
 *
 * Pacing: every tick emits the traces whose arrival offset has passed, in slices, yielding to the
 * event loop between slices so the exporters keep sending. A generator that falls behind (a rate
 * too high for the machine) keeps every trace and its scheduled timestamps and says so once;
 * it never skips, so a seed always gives the same traces. Export failures are counted and
 * reported once per kind (service-telemetry.ts); nothing here throws after start.
 */
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IncidentSelection } from '../schemas/demo-config.js';
import { silentLogger, type Logger } from '../pipeline/logger.js';
import type { ServiceDefinition, ServiceName } from './estate.js';
import { formatTimeline, type IncidentTransition, type ScheduledIncident } from './incidents.js';
import { derivedRandom } from './seeded-random.js';
import {
  createServiceTelemetry,
  ExportMonitor,
  otlpHttpExporters,
  SeededIdGenerator,
  type BatchTuning,
  type ExportCounts,
  type ServiceExporters,
  type ServiceTelemetry,
} from './service-telemetry.js';
import { createDemoEstate, instanceId, TrafficGenerator, type DemoEstate, type EstateTelemetry } from './trace-generator.js';

export const DEFAULT_DEMO_TARGET = 'http://127.0.0.1:4318';
export const DEFAULT_DEMO_RATE = 20;

/** Pause between ticks once the generator has caught up. */
const TICK_MS = 20;
/** Longest stretch of generation before yielding to the event loop. */
const SLICE_MS = 30;
/** Traces emitted between two looks at the clock. */
const TRACES_PER_CHECK = 32;
/** Falling this far behind schedule is worth one warning. */
const LAG_WARNING_MS = 2000;

export interface DemoOptions {
  /** OTLP/HTTP base URL of the collector. @default "http://127.0.0.1:4318" */
  target?: string;
  /** Traces per second. @default 20 */
  rate?: number;
  /** Seconds to run; the incident cycle is compressed into shorter runs. @default until stop() */
  durationS?: number;
  /** @default a random seed (see RunningDemo.seed) */
  seed?: number;
  /** @default "all" */
  incidents?: IncidentSelection;
  /** @default 600 */
  cycleS?: number;
  /** Wall-clock ms of offset 0 (span timestamps are relative to it). @default Date.now() */
  startTimeMs?: number;
  /** Where export failures and a lagging generator are reported. @default silent */
  logger?: Logger;
  /** Called as each incident starts and ends. */
  onIncident?: (transition: IncidentTransition, wallTimeMs: number) => void;
  /** Exporters per service instead of OTLP/HTTP to `target` (tests, capture). */
  exporters?: (service: ServiceDefinition) => ServiceExporters;
  /** Batch processor tuning; defaults grow with the rate. */
  batch?: Partial<BatchTuning>;
  /** How long stop() may spend flushing what is buffered. @default 10000 */
  flushTimeoutMs?: number;
}

export interface DemoStats {
  /** Traces emitted (arrivals a traffic cliff dropped are not traces). */
  traces: number;
  spans: number;
  logRecords: number;
  exported: Record<'traces' | 'logs', ExportCounts>;
  /** Failed exports by kind (`traces: HTTP 503`). */
  failures: Record<string, number>;
  /** How far the generator fell behind schedule at worst, in ms. */
  maxLagMs: number;
}

export interface RunningDemo {
  readonly estate: DemoEstate;
  readonly seed: number;
  readonly target: string;
  readonly startTimeMs: number;
  /** The run's incidents (the first cycle's when the run is open-ended), offsets from startTimeMs. */
  readonly incidents: readonly ScheduledIncident[];
  /** The incident timeline, formatted for people. */
  readonly timeline: string;
  stats(): DemoStats;
  /** Settles when a bounded run has emitted everything and flushed (or after stop()). Never rejects. */
  readonly done: Promise<DemoStats>;
  /** Stops generating, flushes and shuts the SDKs down; safe to call twice and after done. */
  stop(): Promise<DemoStats>;
}

/** Batch processor settings for a rate: a queue holding a few seconds of a busy service's spans. */
export function defaultBatchTuning(rate: number): BatchTuning {
  return {
    maxQueueSize: Math.max(2048, Math.ceil(rate * 16)),
    maxExportBatchSize: rate > 500 ? 2048 : 512,
    scheduledDelayMs: 1000,
    exportTimeoutMs: 10_000,
  };
}

/** Every service's SDK for one run, with the run's seeded id generator. */
export function createEstateTelemetry(
  estate: DemoEstate,
  options: { exporters: (service: ServiceDefinition) => ServiceExporters; batch: BatchTuning; monitor: ExportMonitor },
): EstateTelemetry {
  const idGenerator = new SeededIdGenerator(derivedRandom(estate.seed, 'ids'));
  const out = {} as Record<ServiceName, ServiceTelemetry>;
  for (const service of estate.services) {
    out[service.name] = createServiceTelemetry({
      service,
      instanceId: instanceId(estate.seed, service.name),
      idGenerator,
      exporters: options.exporters(service),
      batch: options.batch,
      monitor: options.monitor,
    });
  }
  return out;
}

export function runDemo(options: DemoOptions = {}): RunningDemo {
  const target = options.target ?? DEFAULT_DEMO_TARGET;
  const seed = options.seed ?? randomInt(0, 0x1_0000_0000);
  const rate = options.rate ?? DEFAULT_DEMO_RATE;
  const durationMs = options.durationS === undefined ? null : options.durationS * 1000;
  if (durationMs !== null && !(durationMs > 0)) throw new RangeError(`durationS must be positive, got ${options.durationS}`);
  const estate = createDemoEstate({ seed, rate, incidents: options.incidents ?? 'all', cycleS: options.cycleS ?? 600, durationS: options.durationS });
  const logger = options.logger ?? silentLogger();
  const monitor = new ExportMonitor(logger);
  const batch = { ...defaultBatchTuning(rate), ...options.batch };
  const exporters = options.exporters ?? (() => otlpHttpExporters(target, batch.exportTimeoutMs));
  const telemetry = createEstateTelemetry(estate, { exporters, batch, monitor });
  const startTimeMs = options.startTimeMs ?? Date.now();
  const generator = new TrafficGenerator(estate, telemetry, startTimeMs);
  const clockStart = performance.now();

  let maxLagMs = 0;
  let lagReported = false;
  let announcedUntil = 0;
  let timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  let stopping: Promise<DemoStats> | null = null;
  let settle: (stats: DemoStats) => void = () => {};
  const done = new Promise<DemoStats>((resolve) => (settle = resolve));

  const stats = (): DemoStats => ({
    traces: generator.traces,
    spans: generator.spans,
    logRecords: generator.logRecords,
    exported: { traces: { ...monitor.counts.traces }, logs: { ...monitor.counts.logs } },
    failures: Object.fromEntries(monitor.failures),
    maxLagMs,
  });

  const announce = (untilMs: number): void => {
    if (!options.onIncident || untilMs <= announcedUntil) return;
    for (const transition of estate.schedule.transitions(announcedUntil, untilMs)) {
      try {
        options.onIncident(transition, startTimeMs + transition.atMs);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'demo onIncident callback threw');
      }
    }
    announcedUntil = untilMs;
  };

  const shutdown = (): Promise<DemoStats> =>
    (stopping ??= (async () => {
      if (timer !== undefined) {
        clearTimeout(timer as NodeJS.Timeout);
        clearImmediate(timer as NodeJS.Immediate);
        timer = undefined;
      }
      const flushTimeoutMs = options.flushTimeoutMs ?? 10_000;
      let deadline: NodeJS.Timeout | undefined;
      const flushed = await Promise.race([
        Promise.all(Object.values(telemetry).map((t) => t.shutdown())).then(() => true),
        new Promise<boolean>((resolve) => {
          deadline = setTimeout(() => resolve(false), flushTimeoutMs);
          deadline.unref();
        }),
      ]);
      clearTimeout(deadline);
      if (!flushed) logger.warn({ flushTimeoutMs }, 'demo stopped before everything buffered was exported');
      const final = stats();
      settle(final);
      return final;
    })());

  const tick = (): void => {
    timer = undefined;
    if (stopping) return;
    const elapsed = performance.now() - clockStart;
    const horizon = durationMs === null ? elapsed : Math.min(elapsed, durationMs);
    const sliceEnd = performance.now() + SLICE_MS;
    while (generator.nextArrivalMs < horizon && performance.now() < sliceEnd) generator.emitUntil(horizon, TRACES_PER_CHECK);
    const lag = Math.max(0, horizon - generator.nextArrivalMs);
    maxLagMs = Math.max(maxLagMs, lag);
    if (lag > LAG_WARNING_MS && !lagReported) {
      lagReported = true;
      logger.warn({ rate, lagMs: Math.round(lag) }, 'demo traffic is behind schedule: this machine cannot generate the rate asked for; traces keep their scheduled timestamps');
    }
    announce(Math.min(horizon, generator.nextArrivalMs));
    if (durationMs !== null && generator.nextArrivalMs >= durationMs) {
      announce(durationMs + 1);
      void shutdown();
      return;
    }
    timer = lag > 0 ? setImmediate(tick) : setTimeout(tick, TICK_MS);
  };
  timer = setImmediate(tick);

  return {
    estate,
    seed,
    target,
    startTimeMs,
    incidents: estate.schedule.incidents(),
    timeline: formatTimeline(estate.schedule, startTimeMs),
    stats,
    done,
    stop: shutdown,
  };
}
