/**
 * Drives the real OpenTelemetry JS SDK the way a user's service does: spans are created through
 * `@opentelemetry/sdk-node`'s NodeSDK and exported by the real OTLP exporters (protobuf from
 * `exporter-trace-otlp-proto`, JSON from `exporter-trace-otlp-http`, gRPC from
 * `exporter-trace-otlp-grpc`); log records are emitted through `@opentelemetry/sdk-logs`'
 * LoggerProvider and exported by `exporter-logs-otlp-proto`, `exporter-logs-otlp-http` and
 * `exporter-logs-otlp-grpc`. What the SDK produced is also kept in memory, so a test can compare
 * what ClickHouse stored with it.
 */
import { Metadata } from '@grpc/grpc-js';
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, hrTimeToNanoseconds, type ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as OTLPLogExporterGrpc } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as OTLPLogExporterJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPLogExporterProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter as OTLPTraceExporterGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type LogRecordLimits, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { expect } from 'vitest';

/** The OTLP exporters' protocols (`grpc+gzip`: the gRPC exporter with gzip compression). */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc' | 'grpc+gzip';

/** Where an exporter of `protocol` sends to a chainwatch: its OTLP/HTTP URL, or http://<gRPC address>. */
export function otlpEndpoint(app: { otlpHttpUrl: string | null; otlpGrpcAddress: string | null }, protocol: OtlpProtocol): string {
  return protocol.startsWith('grpc') ? `http://${app.otlpGrpcAddress!}` : app.otlpHttpUrl!;
}

function grpcOptions(baseUrl: string, protocol: OtlpProtocol, headers: Record<string, string> = {}): { url: string; compression?: CompressionAlgorithm; metadata: Metadata } {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return { url: baseUrl, metadata, ...(protocol === 'grpc+gzip' ? { compression: CompressionAlgorithm.GZIP } : {}) };
}

export interface SdkExportResult {
  spans: ReadableSpan[];
  /** The exporter's result code for the single export of all spans. */
  code: ExportResultCode;
  error?: Error;
}

/**
 * Runs `emit` with a tracer of a fresh NodeSDK for `serviceName`, then exports every finished span
 * in one request to `${baseUrl}/v1/traces` with the real exporter for `protocol`.
 */
export async function emitAndExport(options: {
  baseUrl: string;
  protocol: OtlpProtocol;
  /** Sent with the export (gRPC: as metadata), e.g. an Authorization header. */
  headers?: Record<string, string>;
  resourceAttributes: Record<string, string | number | boolean | string[]>;
  emit(tracer: Tracer): void | Promise<void>;
}): Promise<SdkExportResult> {
  // The API keeps one global provider per process: clear the previous test's before registering.
  trace.disable();
  context.disable();
  propagation.disable();
  const memory = new InMemorySpanExporter();
  const sdk = new NodeSDK({
    resource: resourceFromAttributes(options.resourceAttributes),
    autoDetectResources: false,
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
    instrumentations: [],
  });
  sdk.start();
  let spans: ReadableSpan[];
  try {
    await options.emit(trace.getTracer('chainwatch-test', '1.2.3'));
    // SimpleSpanProcessor hands each span over as it ends; take them before shutdown clears them.
    spans = [...memory.getFinishedSpans()];
  } finally {
    await sdk.shutdown();
  }
  const url = `${options.baseUrl}/v1/traces`;
  const headers = options.headers ?? {};
  const exporter = options.protocol.startsWith('grpc')
    ? new OTLPTraceExporterGrpc(grpcOptions(options.baseUrl, options.protocol, headers))
    : options.protocol === 'http/protobuf'
      ? new OTLPTraceExporterProto({ url, headers })
      : new OTLPTraceExporterJson({ url, headers });
  const result = await new Promise<{ code: ExportResultCode; error?: Error }>((resolve) => exporter.export(spans, resolve));
  await exporter.shutdown();
  return { spans, code: result.code, ...(result.error ? { error: result.error } : {}) };
}

/**
 * Runs `emit` with a LoggerProvider for `resource` and returns the log records as the SDK hands
 * them to an exporter.
 */
export function recordLogs(resource: Resource, emit: (provider: LoggerProvider) => void, limits: LogRecordLimits = {}): ReadableLogRecord[] {
  const memory = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: memory })], logRecordLimits: limits });
  emit(provider);
  return [...memory.getFinishedLogRecords()];
}

export interface SdkLogExportResult {
  records: ReadableLogRecord[];
  /** The exporter's result code for the single export of all records. */
  code: ExportResultCode;
  error?: Error;
}

/**
 * Runs `emit` with a LoggerProvider for `resourceAttributes`, then exports every record in one
 * request to `${baseUrl}/v1/logs` with the real OTLP log exporter for `protocol`.
 */
export async function emitAndExportLogs(options: {
  baseUrl: string;
  protocol: OtlpProtocol;
  resourceAttributes: Record<string, string | number | boolean | string[]>;
  emit(provider: LoggerProvider): void;
}): Promise<SdkLogExportResult> {
  const records = recordLogs(resourceFromAttributes(options.resourceAttributes), options.emit);
  const url = `${options.baseUrl}/v1/logs`;
  const exporter = options.protocol.startsWith('grpc')
    ? new OTLPLogExporterGrpc(grpcOptions(options.baseUrl, options.protocol))
    : options.protocol === 'http/protobuf'
      ? new OTLPLogExporterProto({ url })
      : new OTLPLogExporterJson({ url });
  const result = await new Promise<ExportResult>((resolve) => exporter.export(records, resolve));
  await exporter.shutdown();
  return { records, code: result.code, ...(result.error ? { error: result.error } : {}) };
}

/** Expects an export to have succeeded, showing the exporter's error when it did not. */
export function expectExported(result: { code: ExportResultCode; error?: Error }): void {
  expect(result.error?.message).toBeUndefined();
  expect(result.code).toBe(ExportResultCode.SUCCESS);
}

/** An SDK time ([seconds, nanoseconds]) as exact integer nanoseconds. */
export function hrTimeToNs(t: [number, number]): bigint {
  return BigInt(t[0]) * 1_000_000_000n + BigInt(t[1]);
}

export { ExportResultCode, hrTimeToNanoseconds };
