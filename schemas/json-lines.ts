/**
 * JSON lines on the bus: findings and call-edge partials travel as one JSON object per line,
 * validated by their zod schema when read. Unlike spans they are few and read by people and
 * tools, so readability wins over protobuf.
 */
import type { z } from 'zod';
import type { ConsumedMessage } from '../pipeline/bus.js';
import type { BatchDecoder } from '../pipeline/stage-runner.js';

export function encodeJsonLines(items: readonly unknown[]): Uint8Array {
  return Buffer.from(items.map((item) => JSON.stringify(item)).join('\n'), 'utf8');
}

/** Parses and validates a message; throws an Error naming `what`, the first bad line and the problem. */
export function decodeJsonLines<T>(bytes: Uint8Array, schema: z.ZodType<T>, what: string): T[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const out: T[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new Error(`${what} line ${i + 1}: not JSON`);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new Error(`${what} line ${i + 1}: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
    out.push(parsed.data);
  }
  return out;
}

/**
 * A stage's decoder for a topic of JSON-lines messages: every item of every message (through
 * `place`, which may attach the message's offset), and a message with any bad line dropped whole
 * with `reason` (the runner counts it).
 */
export function jsonLinesDecoder<T, U = T>(decode: (bytes: Uint8Array) => T[], reason: string, place?: (item: T, message: ConsumedMessage) => U): BatchDecoder<U[]> {
  return (messages, reject) => {
    const out: U[] = [];
    for (const m of messages) {
      try {
        for (const item of decode(m.value)) out.push(place ? place(item, m) : (item as unknown as U));
      } catch {
        reject(m, reason);
      }
    }
    return out;
  };
}
