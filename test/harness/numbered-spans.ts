/**
 * Requests of numbered spans for delivery tests: request `n` holds `spans` spans whose ids are
 * unique across a run (n * spans + i + 1) and carry the attribute `request = n`, in one trace
 * whose id ends with n (its last hex digits pick the trace bucket, so requests spread over the
 * partitions). What is stored can then be checked against what was acknowledged, exactly.
 * With `edges`, span k calls peer `peer-<k mod edges>` (`peer.service`): that many call edges.
 */
import { encodeExportTraceServiceRequest } from '../../collector/otlp-protobuf.js';
import { createSpan, createTracesData } from '../../schemas/otlp-traces.js';

export function numberedSpanRequest(service: string, n: number, spans: number, edges?: number): Uint8Array {
  const list = Array.from({ length: spans }, (_, i) =>
    createSpan({
      traceId: `${'e'.repeat(16)}${n.toString(16).padStart(16, '0')}`,
      spanId: (n * spans + i + 1).toString(16).padStart(16, '0'),
      name: `op ${i % 7}`,
      kind: 3,
      startTimeUnixNano: 1_767_225_600_000_000_000n + BigInt(i),
      endTimeUnixNano: 1_767_225_600_001_000_000n + BigInt(i),
      attributes: [{ key: 'request', value: n }, ...(edges ? [{ key: 'peer.service', value: `peer-${(n * spans + i) % edges}` }] : [])],
    }),
  );
  return encodeExportTraceServiceRequest(createTracesData(service, list, { name: 'numbered' }));
}

const post = async (url: string, body: Uint8Array): Promise<number> => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  await res.arrayBuffer();
  return res.status;
};
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface StreamOptions {
  /** The OTLP/HTTP traces URL (…/v1/traces). */
  url: string;
  service: string;
  spansPerRequest: number;
  senders: number;
  /** Each sender waits this long before each request. */
  pauseMs?: number;
  /** Spread the spans over this many call edges (see numberedSpanRequest). */
  edges?: number;
}

/** POSTs an OTLP/HTTP protobuf request until it is answered 200; a refusal (`onRefused` sees its status) is sent again after 100 ms. */
export async function postUntilAcknowledged(url: string, body: Uint8Array, onRefused?: (status: number) => void): Promise<void> {
  for (;;) {
    const status = await post(url, body);
    if (status === 200) return;
    onRefused?.(status);
    await pause(100);
  }
}

/**
 * Requests 0 … requests-1, each sent until it is acknowledged (postUntilAcknowledged). `acked()`
 * counts the requests answered 200 so far.
 */
export function sendEachUntilAcknowledged(options: StreamOptions & { requests: number; onRefused?: (status: number) => void }): { done: Promise<void>; acked: () => number } {
  let taken = 0;
  let acked = 0;
  const sender = async (): Promise<void> => {
    for (let n = taken; n < options.requests; n = taken) {
      taken++;
      await pause(options.pauseMs ?? 0);
      await postUntilAcknowledged(options.url, numberedSpanRequest(options.service, n, options.spansPerRequest, options.edges), options.onRefused);
      acked++;
    }
  };
  return { done: Promise.all(Array.from({ length: options.senders }, sender)).then(() => {}), acked: () => acked };
}

/**
 * Requests 0, 1, 2, … until the collector is gone (more than `maxFailures` requests could not be
 * sent at all); `acked` holds the numbers of those answered 200, `onRefused` sees the other statuses.
 */
export function sendUntilGone(options: StreamOptions & { maxFailures: number; onRefused?: (status: number) => void }): { done: Promise<void>; acked: number[] } {
  const acked: number[] = [];
  let next = 0;
  let failures = 0;
  const sender = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      try {
        const status = await post(options.url, numberedSpanRequest(options.service, n, options.spansPerRequest, options.edges));
        if (status === 200) acked.push(n);
        else options.onRefused?.(status);
      } catch {
        // The collector is gone: this request was never acknowledged.
        if (++failures > options.maxFailures) return;
      }
      await pause(options.pauseMs ?? 0);
    }
  };
  return { done: Promise.all(Array.from({ length: options.senders }, sender)).then(() => {}), acked };
}
