import { describe, expect, it } from 'vitest';
import { cutAtIntent } from './batch-intents.js';
import type { ConsumedBatch } from './bus.js';
import { RetryableError } from './errors.js';

const batch = (first: number, last: number): ConsumedBatch => ({
  topic: 't',
  partition: 2,
  messages: Array.from({ length: last - first + 1 }, (_, i) => ({ key: null, value: new Uint8Array(0), offset: String(first + i) })),
});
const offsets = (parts: ConsumedBatch[]): string[][] => parts.map((p) => p.messages.map((m) => m.offset));

describe('cutAtIntent', () => {
  it('leaves a batch whole without an intent, or when it does not start where the intent does', () => {
    expect(offsets(cutAtIntent(batch(10, 12), null))).toEqual([['10', '11', '12']]);
    expect(offsets(cutAtIntent(batch(10, 12), { first: '5', last: '9' }))).toEqual([['10', '11', '12']]);
  });

  it('keeps a redelivery that matches the intent whole (the same batch id)', () => {
    expect(offsets(cutAtIntent(batch(10, 12), { first: '10', last: '12' }))).toEqual([['10', '11', '12']]);
  });

  it('cuts a longer redelivery at the intent end', () => {
    expect(offsets(cutAtIntent(batch(10, 14), { first: '10', last: '11' }))).toEqual([['10', '11'], ['12', '13', '14']]);
  });

  it('hands back a redelivery that does not reach the intent end yet', () => {
    expect(() => cutAtIntent(batch(10, 11), { first: '10', last: '13' })).toThrow(RetryableError);
    expect(() => cutAtIntent(batch(10, 11), { first: '10', last: '13' })).toThrow('partition t/2 redelivered offsets 10-11 of a batch recorded up to 13: waiting for the rest');
  });

  it('compares offsets as 64-bit integers, not text', () => {
    expect(offsets(cutAtIntent(batch(9, 11), { first: '9', last: '10' }))).toEqual([['9', '10'], ['11']]);
  });
});
