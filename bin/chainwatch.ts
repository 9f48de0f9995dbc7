#!/usr/bin/env node
/**
 * The `chainwatch` command. The only place that prints for people and exits the process.
 *
 *   chainwatch [--config FILE] start     all stages in one process
 *   chainwatch [--config FILE] migrate   ClickHouse schema (and Kafka topics), idempotent
 *   chainwatch --help
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../pipeline/config-loader.js';
import { migrateAll, startChainwatch } from '../pipeline/chainwatch.js';
import { createLogger } from '../pipeline/logger.js';
import { errorSummary } from '../pipeline/stage-runner.js';
import type { Config } from '../schemas/config.js';

const HELP = `chainwatch — observability for machine-to-machine traffic

Usage:
  chainwatch [--config FILE] <command>

Commands:
  start      run every stage in one process: the OTLP receiver (traces and logs), the bus
             and storage
             (embedded by default: in-process bus, ClickHouse engine in-process)
  migrate    create or upgrade the ClickHouse schema, and the Kafka topics when the bus
             is Kafka; safe to run again
  help       show this text

Options:
  -c, --config FILE   YAML configuration file (default: embedded defaults, no file)
  -h, --help          show this text

Environment:
  CHAINWATCH_LOG_LEVEL   trace|debug|info|warn|error|silent (default info); logs are JSON on stderr
`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    process.stderr.write(`chainwatch: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const [command = 'help', ...rest] = parsed.positionals;
  if (parsed.values.help || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (rest.length > 0) {
    process.stderr.write(`chainwatch: unexpected argument ${JSON.stringify(rest[0])}\n\n${HELP}`);
    return 2;
  }
  if (command !== 'start' && command !== 'migrate') {
    process.stderr.write(`chainwatch: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }

  let config: Config;
  try {
    config = await loadConfig(parsed.values.config);
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

  const app = await startChainwatch(config, logger);
  const where =
    config.clickhouse.kind === 'embedded' ? `ClickHouse engine in-process, data in ${config.clickhouse.path}` : `ClickHouse at ${config.clickhouse.url}`;
  const bus =
    config.bus.kind === 'memory' ? 'in-process bus' : `Kafka ${config.bus.kafka!.brokers.join(',')} topics ${config.bus.topics.spans}, ${config.bus.topics.logs}`;
  process.stdout.write(
    `chainwatch is running (${bus}; ${where})\n` +
      `  OTLP/HTTP traces:  POST ${app.otlpHttpUrl}/v1/traces  (application/x-protobuf or application/json)\n` +
      `  OTLP/HTTP logs:    POST ${app.otlpHttpUrl}/v1/logs\n` +
      `  point a service at it:  OTEL_EXPORTER_OTLP_ENDPOINT=${app.otlpHttpUrl}\n` +
      `  spans are stored in ${config.clickhouse.database}.otel_traces, log records in ${config.clickhouse.database}.otel_logs\n` +
      `Press Ctrl-C to stop.\n`,
  );

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
      app.stop().then(resolve, (err: unknown) => {
        logger.error({ err: errorSummary(err) }, 'error while stopping');
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
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
