/**
 * Requests of numbered spans for delivery tests: request `n` holds `spans` spans whose ids are
 * unique across a run (n * spans + i + 1) and carry the attribute `request = n`, in one trace
 * whose id ends with n (its last hex digits pick the trace bucket, so requests spread over the
 * partitions). What is stored can then be checked against what was acknowledged, exactly.
 */
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';

export function numberedSpanRequest(service: string, n: number, spans: number): Uint8Array {
  const list = Array.from({ length: spans }, (_, i) =>
    createSpan({
      traceId: `${'e'.repeat(16)}${n.toString(16).padStart(16, '0')}`,
      spanId: (n * spans + i + 1).toString(16).padStart(16, '0'),
      name: `op ${i % 7}`,
      kind: 3,
      startTimeUnixNano: 1_767_225_600_000_000_000n + BigInt(i),
      endTimeUnixNano: 1_767_225_600_001_000_000n + BigInt(i),
      attributes: [{ key: 'request', value: n }],
    }),
  );
  return encodeExportTraceServiceRequest(createTracesData(service, list, { name: 'numbered' }));
}
