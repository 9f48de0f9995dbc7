/**
 * Call-edge partial aggregates: what the inventory's first step learns about one call edge
 * (service → peer) in one minute of one input batch, published on the edges topic keyed by edge
 * id, so every partial of an edge reaches the one worker that owns the edge (the repartition
 * pattern). JSON lines, like findings: few messages (one per edge per batch), read by tools too.
 *
 * `source` names the input batch the partial came from; with the edge and the minute it is
 * unique, so a partial published twice (the inventory step replayed after a crash) is stored
 * once (`chainwatch_edge_minutes` is a ReplacingMergeTree over it).
 */
import { z } from 'zod';
import { decodeJsonLines, encodeJsonLines } from './json-lines.js';
import { PEER_KINDS } from '../processors/inventory/call-peer.js';

/** Upper bounds (ms) of the latency histogram's buckets; one more bucket holds everything slower. */
export const LATENCY_BUCKET_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

const count = z.number().int().nonnegative();

/** Posture signals a partial keeps an example span of. */
const EXAMPLE_SIGNALS = ['plaintext', 'unauthenticated', 'static_credential', 'longest_credential'] as const;
export type ExampleSignal = (typeof EXAMPLE_SIGNALS)[number];

export const edgePartialSchema = z.strictObject({
  /** 16 hex digits: a hash of tenant, service, peer kind and peer (edgeId in call-edges.ts). */
  edge_id: z.string().regex(/^[0-9a-f]{16}$/),
  tenant: z.string(),
  service: z.string(),
  peer: z.string().min(1),
  peer_kind: z.enum(PEER_KINDS),
  /** Start of the minute, unix seconds. */
  minute: count,
  /** The input batch (topic/partition/first-last offsets) this partial was computed from. */
  source: z.string().min(1),
  calls: count,
  /** Calls whose span status is ERROR. */
  errors: count,
  /** Calls made over http:// (url.scheme or url.full). */
  plaintext: count,
  /** Calls whose recorded request headers carried no credential (auth scheme `None`). */
  unauthenticated: count,
  duration_sum_ms: z.number().nonnegative(),
  duration_max_ms: z.number().nonnegative(),
  /** Calls per latency bucket (LATENCY_BUCKET_BOUNDS_MS, then the overflow bucket). */
  latency_buckets: z.array(count).length(LATENCY_BUCKET_BOUNDS_MS.length + 1),
  /** Auth schemes seen (`Bearer`, `Basic`, `ApiKey`, `None`, …), sorted. */
  auth_schemes: z.array(z.string()),
  /** The longest credential lifetime seen (exp − iat, seconds), 0 when none was known. */
  max_credential_lifetime_s: count,
  /** The earliest and latest span start in the partial, ns since the epoch (decimal strings). */
  first_ns: z.string().regex(/^\d+$/),
  last_ns: z.string().regex(/^\d+$/),
  /** The earliest span of the partial, as an example for findings. */
  trace_id: z.string(),
  span_id: z.string(),
  /**
   * The earliest span showing each posture signal (`longest_credential`: the span with the
   * longest credential lifetime), so a finding names the call that showed it and when.
   */
  examples: z.partialRecord(z.enum(EXAMPLE_SIGNALS), z.strictObject({ ns: z.string().regex(/^\d+$/), trace_id: z.string(), span_id: z.string() })).default({}),
});

export type EdgePartial = z.infer<typeof edgePartialSchema>;

/** A partial as consumed: with the offset of its message on the edges topic (the partition is the batch's). */
export interface PlacedEdgePartial {
  partial: EdgePartial;
  offset: string;
}

export function encodeEdgePartials(partials: readonly EdgePartial[]): Uint8Array {
  return encodeJsonLines(partials);
}

/** Throws an Error naming the first bad line. */
export function decodeEdgePartials(bytes: Uint8Array): EdgePartial[] {
  return decodeJsonLines(bytes, edgePartialSchema, 'edge partials');
}
