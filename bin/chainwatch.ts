#!/usr/bin/env node
/**
 * The `chainwatch` command. The only place that prints for people and exits the process.
 *
 *   chainwatch [--config FILE] start     all stages in one process (with the demo estate when no file is given)
 *   chainwatch [--config FILE] demo      the demo estate, sending OTLP to a collector
 *   chainwatch [--config FILE] migrate   ClickHouse schema (and Kafka topics), idempotent
 *   chainwatch --help
 */
import { parseArgs } from 'node:util';
import type { DemoStats, RunningDemo } from '../demo/demo-runner.js';
import { formatClock } from '../demo/incidents.js';
import { ConfigError, loadConfig } from '../pipeline/config-loader.js';
import { ALL_ROLES, migrateAll, startChainwatch, type Role } from '../pipeline/chainwatch.js';
import { createLogger, type Logger } from '../pipeline/logger.js';
import { errorSummary } from '../pipeline/errors.js';
import type { Config } from '../schemas/config.js';
import { sha256Hex } from '../collector/auth.js';
import { demoConfigSchema, INCIDENT_KINDS, parseIncidentList, type DemoConfig } from '../schemas/demo-config.js';

const HELP = `chainwatch — observability for machine-to-machine traffic

Usage:
  chainwatch [--config FILE] <command> [options]

Commands:
  start      run every stage in one process: the OTLP receiver (traces and logs), the bus,
             storage, inventory, sla, anomaly and alerting (embedded by default: in-process bus, ClickHouse engine
             in-process); without --config it also runs the demo estate against itself
  collector  the OTLP receivers and the inline stages (redaction), publishing to Kafka
  worker     consuming stages, one or several roles per process (--role), on Kafka
  demo       run the demo estate: 8 simulated services calling 11 sub-processors through
             the OpenTelemetry SDK, with scheduled incidents, sending OTLP to a collector
  migrate    create or upgrade the ClickHouse schema, and the Kafka topics when the bus
             is Kafka; safe to run again
  hash-key   read an API key on standard input and print its SHA-256, the form the config
             keeps it in (collector.auth.keys[].sha256)
  help       show this text

Options:
  -c, --config FILE   YAML configuration file (default: embedded defaults, no file)
  -h, --help          show this text

worker options:
  --role ROLE         a role this worker runs (repeat, or separate with commas):
                      storage    spans, log records and findings into ClickHouse
                      inventory  call edges: partials keyed by edge id on the edges topic,
                                 then the edge registry, per-minute edge statistics and
                                 posture findings (new edge, plaintext, unauthenticated,
                                 static or long-lived credential)
                      sla        burn rates of each edge's availability and latency SLOs
                                 (stages.sla), multiwindow burn-rate alerts on the alerts
                                 topic; needs the inventory running (it reads its rows)
                      anomaly    each edge's minutes judged against its last hour (robust
                                 z-scores of latency, error rate, volume); anomaly alerts on
                                 the alerts topic; needs the inventory running
                      alerting   alert events to webhooks (stages.alerting.receivers),
                                 Alertmanager-shaped, signed as Standard Webhooks, retried;
                                 every outcome in chainwatch_alert_log
                      Workers of one role share its topics' partitions through their
                      consumer group; an inventory worker owns the edges of its partitions.

start options:
  --demo              run the demo estate even though a config file is given
  --no-demo           do not run the demo estate (it runs by default without a config file)

demo options (defaults from the config file's demo: section):
  --target URL        OTLP/HTTP base URL to send to (default: the configured receiver,
                      http://127.0.0.1:4318)
  --rate N            traces per second, about a dozen spans each (default 20)
  --duration S        stop after S seconds, with the incident cycle compressed into them
                      (default: run until Ctrl-C)
  --seed N            seed of every random choice: one seed, one sequence of traces
                      (default: random, printed at start)
  --incidents LIST    all (default), none, or a comma-separated list of:
                      ${INCIDENT_KINDS.join(', ')}
  --cycle-s S         incidents repeat every S seconds (default 600)

Environment:
  CHAINWATCH_LOG_LEVEL   trace|debug|info|warn|error|silent (default info); logs are JSON on stderr
`;

/** Options that only `chainwatch demo` takes. */
const DEMO_FLAGS = ['target', 'rate', 'duration', 'seed', 'incidents', 'cycle-s'] as const;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        demo: { type: 'boolean' },
        'no-demo': { type: 'boolean' },
        target: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        seed: { type: 'string' },
        incidents: { type: 'string' },
        'cycle-s': { type: 'string' },
        role: { type: 'string', multiple: true },
      },
    });
  } catch (err) {
    process.stderr.write(`chainwatch: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const [command = 'help', ...rest] = parsed.positionals;
  const flags = parsed.values;
  if (flags.help || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (rest.length > 0) {
    process.stderr.write(`chainwatch: unexpected argument ${JSON.stringify(rest[0])}\n\n${HELP}`);
    return 2;
  }
  if (command === 'hash-key') {
    const misplacedFlag = (['config', ...DEMO_FLAGS, 'demo', 'no-demo', 'role'] as const).find((flag) => flags[flag] !== undefined);
    if (misplacedFlag) {
      process.stderr.write(`chainwatch: --${misplacedFlag} is not an option of hash-key (see chainwatch --help)\n`);
      return 2;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    // One key, as typed or piped: a trailing newline is not part of it.
    const key = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    if (key.trim() === '' || /[\r\n]/.test(key)) {
      process.stderr.write('chainwatch: hash-key reads one API key (a single line, not empty) on standard input\n');
      return 2;
    }
    process.stdout.write(`sha256: ${sha256Hex(key)}\n`);
    return 0;
  }
  if (!['start', 'collector', 'worker', 'migrate', 'demo'].includes(command)) {
    process.stderr.write(`chainwatch: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }
  const misplaced = [
    ...(command === 'demo' ? [] : DEMO_FLAGS.filter((flag) => flags[flag] !== undefined)),
    ...(command === 'start' ? [] : (['demo', 'no-demo'] as const).filter((flag) => flags[flag] !== undefined)),
    ...(command === 'worker' || flags.role === undefined ? [] : ['role']),
  ];
  if (misplaced.length > 0) {
    process.stderr.write(`chainwatch: --${misplaced[0]} is not an option of ${command} (see chainwatch --help)\n`);
    return 2;
  }
  if (flags.demo && flags['no-demo']) {
    process.stderr.write('chainwatch: --demo and --no-demo contradict each other\n');
    return 2;
  }
  let roles: Role[] = [...ALL_ROLES];
  if (command === 'collector') roles = ['collector'];
  if (command === 'worker') {
    const chosen = workerRoles(flags.role ?? []);
    if (typeof chosen === 'string') {
      process.stderr.write(`chainwatch: ${chosen}\n`);
      return 2;
    }
    roles = chosen;
  }

  let config: Config;
  try {
    config = await loadConfig(flags.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`chainwatch: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger();

  if (command === 'migrate') {
    const report = await migrateAll(config, logger);
    process.stdout.write(
      `ClickHouse database ${report.database}: ${report.applied.length} migration(s) applied${report.applied.length ? ` (${report.applied.join(', ')})` : ''}, ${report.alreadyApplied.length} already applied\n`,
    );
    if (config.bus.kind === 'kafka') {
      process.stdout.write(`Kafka topics created: ${report.topicsCreated.length ? report.topicsCreated.join(', ') : 'none (all exist)'}\n`);
    }
    return 0;
  }

  if (command === 'demo') {
    const settings = demoSettings(flags, config);
    if (typeof settings === 'string') {
      process.stderr.write(`chainwatch: ${settings}\n`);
      return 2;
    }
    return runDemoCommand(settings, logger);
  }

  if (command !== 'start' && config.bus.kind !== 'kafka') {
    const where = flags.config === undefined ? 'without a config file the bus is in-process' : `${flags.config} has bus.kind: ${config.bus.kind}`;
    process.stderr.write(`chainwatch: ${command} needs bus.kind: kafka (${where}, which joins stages only inside one process; run chainwatch start for that)\n`);
    return 2;
  }

  const app = await startChainwatch(config, logger, roles);
  // The quick start (no file) shows traffic; a deployment (a file) does not, unless asked.
  const demoOn = command === 'start' && (flags['no-demo'] ? false : (flags.demo ?? (flags.config === undefined || config.demo.enabled)));
  let demo: RunningDemo | null = null;
  if (demoOn) {
    const { runDemo } = await loadDemo();
    demo = runDemo({
      target: app.otlpHttpUrl!,
      rate: config.demo.rate,
      seed: config.demo.seed,
      incidents: config.demo.incidents,
      cycleS: config.demo.cycle_s,
      logger: logger.child({ component: 'demo' }),
      onIncident: printIncident,
    });
  }
  const where =
    config.clickhouse.kind === 'embedded' ? `ClickHouse engine in-process, data in ${config.clickhouse.path}` : `ClickHouse at ${config.clickhouse.url}`;
  const bus =
    config.bus.kind === 'memory' ? 'in-process bus' : `Kafka ${config.bus.kafka!.brokers.join(',')} topics ${config.bus.topics.spans}, ${config.bus.topics.logs}`;
  const howToTurnOff = flags.demo ? 'run without --demo' : flags.config === undefined ? 'start with --no-demo' : `set demo.enabled: false in ${flags.config}`;
  const adminLine = app.adminUrl ? `  health and metrics: ${app.adminUrl}/healthz, ${app.adminUrl}/readyz, ${app.adminUrl}/metrics\n` : '';
  const collectorLines = (): string =>
    `  OTLP/HTTP traces:  POST ${app.otlpHttpUrl}/v1/traces  (application/x-protobuf or application/json)\n` +
    `  OTLP/HTTP logs:    POST ${app.otlpHttpUrl}/v1/logs\n` +
    (app.otlpGrpcAddress ? `  OTLP/gRPC:         ${app.otlpGrpcAddress}  (TraceService/Export, LogsService/Export; ${config.collector.tls ? 'TLS' : 'insecure'})\n` : '') +
    `  point a service at it:  OTEL_EXPORTER_OTLP_ENDPOINT=${app.otlpHttpUrl}` +
    (app.otlpGrpcAddress ? `  (or OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=${config.collector.tls ? 'https' : 'http'}://${app.otlpGrpcAddress})` : '') +
    `\n` +
    (config.collector.auth.enabled ? `  API keys required (${config.collector.auth.header === 'authorization' ? 'Authorization: Bearer <key>' : `header ${config.collector.auth.header}`}); ${config.collector.auth.keys.filter((k) => !k.revoked).length} active\n` : '');
  const banners: Record<string, () => string> = {
    start: () =>
      `chainwatch is running (${bus}; ${where})\n` +
      collectorLines() +
      `  spans are stored in ${config.clickhouse.database}.otel_traces, log records in ${config.clickhouse.database}.otel_logs\n` +
      `  call edges in ${config.clickhouse.database}.chainwatch_edges (per minute: chainwatch_edge_minutes), posture findings in chainwatch_posture_findings\n` +
      adminLine +
      (demo ? `  demo traffic is on: ${demoHeadline(demo)}, sent to this collector; to turn it off, ${howToTurnOff}\n${demoAccessNote(config)}${demo.timeline}` : ''),
    collector: () => `chainwatch collector is running (${bus})\n${collectorLines()}${adminLine}`,
    worker: () => `chainwatch worker is running (roles: ${roles.join(', ')}; ${bus}; ${where})\n${app.stages.map((stage) => `  ${stage.name}: topic ${stage.topic}, consumer group ${stage.group}\n`).join('')}${adminLine}`,
  };
  process.stdout.write(`${banners[command]!()}Press Ctrl-C to stop.\n`);

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals > 1) {
        process.stderr.write(`chainwatch: ${signal} again, exiting now\n`);
        process.exit(130);
      }
      process.stdout.write(`chainwatch: ${signal}, draining and stopping (at most ${config.shutdown_timeout_s} s)\n`);
      const deadline = setTimeout(() => {
        process.stderr.write('chainwatch: shutdown timed out\n');
        process.exit(1);
      }, config.shutdown_timeout_s * 1000);
      deadline.unref();
      // The demo first: what it has buffered is exported to the receiver before that closes.
      (demo?.stop() ?? Promise.resolve())
        .then(() => app.stop())
        .then(resolve, (err: unknown) => {
          logger.error({ err: errorSummary(err) }, 'error while stopping');
          resolve();
        });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return 0;
}

/** Roles a worker can run. */
const WORKER_ROLES: readonly Role[] = ALL_ROLES.filter((r) => r !== 'collector');

/** The --role values of a worker (repeated or comma-separated), or what is wrong with them. */
function workerRoles(values: readonly string[]): Role[] | string {
  const names = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (names.length === 0) return `worker needs at least one --role (${WORKER_ROLES.join(', ')})`;
  for (const name of names) {
    if (!(WORKER_ROLES as readonly string[]).includes(name)) return `unknown role ${JSON.stringify(name)}; available: ${WORKER_ROLES.join(', ')}`;
  }
  return [...new Set(names)] as Role[];
}

/** The demo and the OpenTelemetry SDK load only when a demo runs: other commands start faster. */
function loadDemo(): Promise<typeof import('../demo/demo-runner.js')> {
  return import('../demo/demo-runner.js');
}

interface DemoSettings {
  target: string;
  durationS: number | undefined;
  demo: DemoConfig;
}

/** The demo command's settings: the config file's demo: section (or defaults), overridden by flags; a problem as text. */
function demoSettings(flags: Partial<Record<(typeof DEMO_FLAGS)[number], string>>, config: Config): DemoSettings | string {
  const problems: string[] = [];
  // A number when the text is one; else the text, which the schema then refuses by name.
  const number = (text: string): number | string => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text);
  const raw = {
    ...config.demo,
    ...(flags.rate !== undefined ? { rate: number(flags.rate) } : {}),
    ...(flags.seed !== undefined ? { seed: number(flags.seed) } : {}),
    ...(flags.incidents !== undefined ? { incidents: parseIncidentList(flags.incidents) } : {}),
    ...(flags['cycle-s'] !== undefined ? { cycle_s: number(flags['cycle-s']) } : {}),
  };
  const result = demoConfigSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) problems.push(`--${String(issue.path[0] ?? 'demo').replace('_', '-')}: ${issue.message}`);
  }
  let durationS: number | undefined;
  if (flags.duration !== undefined) {
    durationS = Number(flags.duration);
    if (flags.duration.trim() === '' || !Number.isFinite(durationS) || durationS <= 0) problems.push(`--duration: expected a positive number of seconds, got ${JSON.stringify(flags.duration)}`);
  }
  const http = config.collector.http;
  const host = http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host;
  const target = flags.target ?? `http://${host.includes(':') ? `[${host}]` : host}:${http.port || 4318}`;
  let url: URL | undefined;
  try {
    url = new URL(target);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) problems.push(`--target: expected an http:// or https:// URL, got ${JSON.stringify(target)}`);
  if (problems.length > 0 || !result.success) return `invalid demo options:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
  return { target: target.replace(/\/+$/, ''), durationS, demo: result.data };
}

function demoHeadline(demo: RunningDemo): string {
  const estate = demo.estate;
  return `${estate.services.length} services calling ${estate.subProcessors.length} sub-processors at ${estate.rate} traces/s, seed ${demo.seed}`;
}

/**
 * The demo exports like any service: with auth on it needs a key (the config holds only digests),
 * and with TLS it must trust the certificate. Says how, when the environment does not.
 */
function demoAccessNote(config: Config): string {
  const { auth, tls } = config.collector;
  let note = '';
  if (auth.enabled && process.env['OTEL_EXPORTER_OTLP_HEADERS'] === undefined && process.env['OTEL_EXPORTER_OTLP_TRACES_HEADERS'] === undefined) {
    const example = auth.header === 'authorization' ? 'authorization=Bearer <key>' : `${auth.header}=<key>`;
    note += `  the demo sends no API key, so the collector refuses it (401); give it one with OTEL_EXPORTER_OTLP_HEADERS='${example}'\n`;
  }
  if (tls && process.env['NODE_EXTRA_CA_CERTS'] === undefined) {
    note += `  the demo must trust the collector's certificate: set NODE_EXTRA_CA_CERTS to the CA that signed ${tls.cert_file}\n`;
  }
  return note;
}

function printIncident(transition: { phase: 'start' | 'end'; incident: { kind: string; description: string } }, wallTimeMs: number): void {
  const what = transition.phase === 'start' ? `incident ${transition.incident.kind} begins: ${transition.incident.description}` : `incident ${transition.incident.kind} is over`;
  process.stdout.write(`  ${formatClock(wallTimeMs)}  ${what}\n`);
}

function demoSummary(stats: DemoStats): string {
  const failures = Object.entries(stats.failures).map(([kind, n]) => `${kind} ×${n}`);
  return (
    `demo stopped: ${stats.traces} traces, ${stats.spans} spans, ${stats.logRecords} log records generated; ` +
    `collector accepted ${stats.exported.traces.exported} spans and ${stats.exported.logs.exported} log records` +
    (failures.length > 0 ? ` (failed exports: ${failures.join(', ')})` : '') +
    '\n'
  );
}

/** `chainwatch demo`: runs until --duration elapses or a signal, then flushes and prints what was sent. */
async function runDemoCommand(settings: DemoSettings, logger: Logger): Promise<number> {
  const { runDemo } = await loadDemo();
  const demo = runDemo({
    target: settings.target,
    rate: settings.demo.rate,
    seed: settings.demo.seed,
    incidents: settings.demo.incidents,
    cycleS: settings.demo.cycle_s,
    durationS: settings.durationS,
    logger: logger.child({ component: 'demo' }),
    onIncident: printIncident,
  });
  const subProcessors = demo.estate.subProcessors.map((p) => p.vendor).join(', ');
  process.stdout.write(
    `chainwatch demo: ${demoHeadline(demo)} (--seed ${demo.seed} repeats this run)\n` +
      `  sending OTLP/HTTP protobuf to ${demo.target}/v1/traces and ${demo.target}/v1/logs\n` +
      `  services: ${demo.estate.services.map((s) => s.name).join(', ')}\n` +
      `  sub-processors: ${subProcessors}\n` +
      demo.timeline +
      (settings.durationS === undefined ? 'Press Ctrl-C to stop.\n' : `Running for ${settings.durationS} s (Ctrl-C stops earlier).\n`),
  );
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stderr.write(`chainwatch demo: ${signal} again, exiting now\n`);
      process.exit(130);
    }
    process.stdout.write(`chainwatch demo: ${signal}, flushing and stopping\n`);
    void demo.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stats = await demo.done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.stdout.write(demoSummary(stats));
  return 0;
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(`chainwatch: unhandled rejection: ${errorSummary(reason).message}\n`);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { type, message } = errorSummary(err);
    process.stderr.write(`chainwatch: ${type}: ${message}\n`);
    process.exitCode = 1;
  },
);
