/**
 * The OTLP signals chainwatch accepts, as every receiver needs them: how a request of each is
 * decoded (protobuf, JSON), counted, and answered (an Export…ServiceResponse carrying the
 * partial_success of the records refused).
 */
import { countLogRecords, type LogsData } from '../schemas/otlp-logs.js';
import { countSpans, type TracesData } from '../schemas/otlp-traces.js';
import { decodeExportLogsServiceRequestJson, encodeExportLogsServiceResponseJson } from './otlp-json-logs.js';
import { decodeExportTraceServiceRequestJson, encodeExportTraceServiceResponseJson } from './otlp-json.js';
import { decodeExportLogsServiceRequest, encodeExportLogsServiceResponse } from './otlp-protobuf-logs.js';
import { decodeExportTraceServiceRequest, encodeExportTraceServiceResponse } from './otlp-protobuf.js';

export interface OtlpSignal<D> {
  /** `traces` or `logs`: the signal's name in metrics. */
  readonly name: 'traces' | 'logs';
  /** The OTLP/HTTP path. */
  readonly path: string;
  /** The OTLP/gRPC method. */
  readonly grpcMethod: string;
  /** `ExportTraceServiceRequest`, for error messages. */
  readonly requestName: string;
  /** What its records are called in messages: `spans`. */
  readonly recordsName: string;
  decodeProtobuf(body: Uint8Array): D;
  decodeJson(body: Uint8Array): D;
  count(data: D): number;
  encodeResponse(rejected: number, errorMessage: string): Uint8Array;
  encodeResponseJson(rejected: number, errorMessage: string): string;
}

export const TRACES: OtlpSignal<TracesData> = {
  name: 'traces',
  path: '/v1/traces',
  grpcMethod: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  requestName: 'ExportTraceServiceRequest',
  recordsName: 'spans',
  decodeProtobuf: decodeExportTraceServiceRequest,
  decodeJson: decodeExportTraceServiceRequestJson,
  count: countSpans,
  encodeResponse: encodeExportTraceServiceResponse,
  encodeResponseJson: encodeExportTraceServiceResponseJson,
};

export const LOGS: OtlpSignal<LogsData> = {
  name: 'logs',
  path: '/v1/logs',
  grpcMethod: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  requestName: 'ExportLogsServiceRequest',
  recordsName: 'log records',
  decodeProtobuf: decodeExportLogsServiceRequest,
  decodeJson: decodeExportLogsServiceRequestJson,
  count: countLogRecords,
  encodeResponse: encodeExportLogsServiceResponse,
  encodeResponseJson: encodeExportLogsServiceResponseJson,
};

/** Metrics are not accepted: receivers answer them with "not supported" and this hint. */
export const METRICS_GRPC_METHOD = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
export const SUPPORTED_SIGNALS_HINT = 'chainwatch accepts traces and logs';

/** Why a request holding `count` records is refused, or null when it is within `max`. */
export function tooManyRecords(signal: OtlpSignal<unknown>, count: number, max: number): string | null {
  return count > max ? `request holds ${count} ${signal.recordsName}, more than the limit of ${max} per request` : null;
}
