/**
 * The two kinds of failure every part of the pipeline distinguishes (as the OpenTelemetry
 * Collector's consumererror does): a retryable error may succeed later and says when to try again;
 * a permanent error will fail the same way every time, so retrying it only blocks the stream.
 * Both always carry the underlying `cause`.
 */

export class RetryableError extends Error {
  override readonly name: string = 'RetryableError';
  constructor(
    message: string,
    /** A hint for the caller (for example the Retry-After of a 503). */
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The bus cannot take more messages right now: the caller should back off. */
export class BusFullError extends RetryableError {
  override readonly name = 'BusFullError';
}

/** The bus (Kafka) is unreachable or did not confirm the write in time. */
export class BusUnavailableError extends RetryableError {
  override readonly name = 'BusUnavailableError';
}

export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The process is shutting down; whatever was in flight was not acknowledged. */
export class ShutdownError extends Error {
  override readonly name = 'ShutdownError';
  constructor(message = 'shutting down') {
    super(message);
  }
}

/**
 * Sleeps with full jitter: a random delay in [0, min(cap, initial·2^attempt)], so many workers
 * retrying after the same outage do not hit the recovering system in lockstep. Resolves early
 * (returning false) when the signal aborts.
 */
export function backoffDelay(attempt: number, initialMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(Math.random() * ceiling);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The name and message of an error, for logs: never a record, never a stack of user data. */
export function errorSummary(err: unknown): { type: string; message: string } {
  if (err instanceof Error) return { type: err.name, message: err.message.slice(0, 500) };
  return { type: typeof err, message: String(err).slice(0, 500) };
}
