/**
 * The called side of an outgoing call: which sub-processor a client or producer span talks to,
 * read from the span's semantic-convention attributes. Shared by the inventory (call edges) and
 * redaction (the edge a finding belongs to), so both name a peer the same way.
 *
 * Order: `peer.service` (what the instrumentation or the service owner calls it), then
 * `server.address` (the host), then the system of a database, broker or RPC framework, then the
 * host of `url.full`. The kind says which attribute named it, so `postgresql` the database system
 * and a service that happens to be called `postgresql` stay two edges.
 */
import type { KeyValue } from '../../schemas/otlp-common.js';

export const PEER_KINDS = ['service', 'host', 'database', 'messaging', 'rpc'] as const;
export type PeerKind = (typeof PEER_KINDS)[number];

const PEER_ATTRIBUTES: readonly (readonly [string, PeerKind])[] = [
  ['peer.service', 'service'],
  ['server.address', 'host'],
  ['db.system.name', 'database'],
  ['db.system', 'database'],
  ['messaging.system', 'messaging'],
  ['rpc.service', 'rpc'],
];

/** The first string value under `key`, or ''. Tolerates attributes of any shape (nothing here throws). */
export function stringAttribute(attributes: readonly KeyValue[], key: string): string {
  if (!Array.isArray(attributes)) return '';
  for (const kv of attributes) if (kv?.key === key && typeof kv.value === 'string') return kv.value;
  return '';
}

export interface CallPeer {
  peer: string;
  kind: PeerKind;
}

/** The peer a span's attributes name, or null when none does. */
export function callPeer(attributes: readonly KeyValue[]): CallPeer | null {
  for (const [key, kind] of PEER_ATTRIBUTES) {
    const value = stringAttribute(attributes, key);
    if (value !== '') return { peer: value, kind };
  }
  const url = stringAttribute(attributes, 'url.full');
  if (url !== '') {
    const host = urlHost(url);
    if (host !== '') return { peer: host, kind: 'host' };
  }
  return null;
}

function urlHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}
