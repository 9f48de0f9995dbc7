/**
 * Structured JSON logs (pino) on stderr, so stdout stays free for what the command prints for
 * people. Log lines describe the pipeline (counts, stages, errors by kind), never record contents.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export function createLogger(level: string = process.env['CHAINWATCH_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { app: 'chainwatch' } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything, for tests and tools that do not want pipeline logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
