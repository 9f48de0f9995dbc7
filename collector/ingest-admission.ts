/**
 * What every OTLP receiver (HTTP and gRPC) decides the same way before and after handing a
 * request on: whether it may be taken in at all (the in-flight byte budget), and how a failure
 * of the pipeline behind it is told to the client (back off and retry, or not).
 */
import { BusFullError, RetryableError, ShutdownError } from '../pipeline/errors.js';

/**
 * Decompressed request bytes being decoded, processed or published at once. Beyond the budget a
 * request is refused (429 / RESOURCE_EXHAUSTED, with a retry delay) instead of being held, so
 * memory stays bounded whatever the number of connections; one request is always let through
 * alone, so a single request larger than the budget is not refused for ever.
 */
export class InflightBudget {
  #bytes = 0;
  constructor(readonly maxBytes: number) {}

  /** True (and the bytes are held) when the request may proceed; release() them when it is done. */
  tryAcquire(bytes: number): boolean {
    if (this.#bytes > 0 && this.#bytes + bytes > this.maxBytes) return false;
    this.#bytes += bytes;
    return true;
  }

  /** Whether a request of `bytes` would be refused right now (nothing is held). */
  wouldRefuse(bytes: number): boolean {
    return this.#bytes > 0 && this.#bytes + bytes > this.maxBytes;
  }

  release(bytes: number): void {
    this.#bytes -= bytes;
  }

  get refusal(): Refusal {
    return { kind: 'capacity', message: `the collector is at capacity (${this.maxBytes} bytes of requests in flight): retry later`, retryAfterS: 1 };
  }
}

/**
 * A request refused for now: `capacity` (the collector or the bus is full: 429 /
 * RESOURCE_EXHAUSTED) or `unavailable` (the bus is down or the process is stopping: 503 /
 * UNAVAILABLE). Either way the client should retry after `retryAfterS`.
 */
export interface Refusal {
  kind: 'capacity' | 'unavailable';
  message: string;
  retryAfterS: number;
}

export const SHUTTING_DOWN: Refusal = { kind: 'unavailable', message: 'the collector is shutting down', retryAfterS: 5 };

/** The refusal a pipeline error amounts to, or null when it is not one (a bug: answer 500 / INTERNAL). */
export function refusalOf(err: unknown): Refusal | null {
  if (err instanceof ShutdownError) return SHUTTING_DOWN;
  if (!(err instanceof RetryableError)) return null;
  const retryAfterS = Math.max(1, Math.ceil(err.retryAfterMs / 1000));
  return err instanceof BusFullError
    ? { kind: 'capacity', message: 'the pipeline is at capacity: retry later', retryAfterS }
    : { kind: 'unavailable', message: 'the pipeline is temporarily unavailable: retry later', retryAfterS };
}
