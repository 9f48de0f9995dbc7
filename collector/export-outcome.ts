/**
 * What accepting one export request came to, whatever the transport (OTLP/HTTP or OTLP/gRPC):
 * the records refused (for example a span whose trace id is not 16 bytes) and why. Receivers
 * answer with `partial_success` when `rejected > 0`, and with an empty success otherwise; the
 * records not rejected are durable by the time the outcome is returned.
 */
export interface ExportOutcome {
  /** Records (spans or log records) refused. */
  readonly rejected: number;
  /** Why, for the client (never echoes record contents). Empty when nothing was rejected. */
  readonly message: string;
  /** How many records were refused for each reason (for metrics). */
  readonly reasons?: Readonly<Record<string, number>>;
}

/** One answered export request, for metrics: the transport, the signal, and the HTTP status or gRPC code name. */
export interface AnsweredRequest {
  transport: 'http' | 'grpc';
  /** `traces`, `logs`, or `other` (unknown paths, metrics). */
  signal: string;
  status: string;
}

export type AnswerObserver = (answer: AnsweredRequest) => void;

export const FULLY_ACCEPTED: ExportOutcome = Object.freeze({ rejected: 0, message: '' });
