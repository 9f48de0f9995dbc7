/**
 * `npm run fuzz [-- --runs N] [-- --seed S]`: the decoder properties of the test suite with a
 * million inputs (default), in batches, reporting inputs per second, the slowest single decode,
 * how many inputs were accepted and rejected, and the heap after each batch (after a full GC: it
 * must not grow batch over batch). On a failure, the counterexample is written to
 * fuzz-failure-<seed>.json and the exit code is 1.
 */
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeStats, FUZZ_PROPERTIES } from './decoder-properties.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1000000' }, seed: { type: 'string' } } });
const runs = Number(values.runs);
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
if (!Number.isInteger(runs) || runs <= 0) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

const BATCHES = 5;
console.log(`fuzzing the OTLP decoders: ${runs.toLocaleString('en-US')} inputs, seed ${seed}, ${BATCHES} batches${gc ? '' : ' (run with --expose-gc for heap figures)'}`);
const heaps: number[] = [heapMiB()];
const started = performance.now();
let failed = false;
for (let batch = 0; batch < BATCHES && !failed; batch++) {
  for (const p of FUZZ_PROPERTIES) {
    const numRuns = Math.max(1, Math.round((runs * p.share) / 100 / BATCHES));
    const t0 = performance.now();
    const details = fc.check(p.property, { numRuns, seed: seed + batch, endOnFailure: true });
    if (details.failed) {
      failed = true;
      const file = `fuzz-failure-${seed}.json`;
      writeFileSync(
        file,
        JSON.stringify({ property: p.name, seed: seed + batch, path: details.counterexamplePath, error: String(details.errorInstance), counterexample: details.counterexample }, (_k, v) =>
          typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
        2),
      );
      console.error(`FAILED: ${p.name}\n${fc.defaultReportMessage(details)}\ncounterexample written to ${file}`);
      break;
    }
    if (batch === 0) console.log(`  ${p.name}: ${Math.round(numRuns / ((performance.now() - t0) / 1000)).toLocaleString('en-US')} inputs/s`);
  }
  heaps.push(heapMiB());
  console.log(`batch ${batch + 1}/${BATCHES}: heap ${heaps.at(-1)!.toFixed(1)} MiB`);
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${failed ? 'stopped at a failure' : 'all properties held'}: ${(decodeStats.accepted + decodeStats.rejected).toLocaleString('en-US')} decodes ` +
    `(${decodeStats.accepted.toLocaleString('en-US')} accepted, ${decodeStats.rejected.toLocaleString('en-US')} rejected) in ${seconds.toFixed(1)} s; ` +
    `slowest decode ${decodeStats.slowestMs.toFixed(2)} ms (${decodeStats.slowestBytes} bytes); heap ${heaps.map((h) => h.toFixed(1)).join(' → ')} MiB`,
);
// Heap after GC may wobble, but must not climb with the number of inputs.
const growth = heaps.at(-1)! - heaps[1]!;
if (gc && !failed && growth > 32) {
  console.error(`FAILED: the heap grew by ${growth.toFixed(1)} MiB from the first batch to the last`);
  failed = true;
}
process.exitCode = failed ? 1 : 0;
