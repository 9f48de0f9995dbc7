/**
 * `npm run bench`: the micro-benchmarks (codec, redaction, collector in-process, storage transcoding), each in its own
 * process so none warms or pollutes the next, then the end-to-end harness (bench/harness.ts),
 * which prints the table, checks the targets and writes JSON under bench/results/.
 *
 *   npm run bench                      everything, full length
 *   npm run bench -- --quick           the harness's quick mode only (what the test runs)
 *   npm run bench -- --target URL      the load generator only, against any OTLP/HTTP receiver
 *   npm run bench -- --only a,b        harness scenarios by name (see bench/harness.ts)
 *   npm run bench -- --help            the harness's options
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MICRO = ['otlp-codec.bench.js', 'redaction.bench.js', 'collector.bench.js', 'storage-transcode.bench.js'];
const args = process.argv.slice(2);
const harnessOnly = args.some((a) => a === '--help' || a === '-h' || a === '--quick' || a === '--target' || a.startsWith('--target=') || a === '--only' || a.startsWith('--only='));

let failed = 0;
const run = (script: string, scriptArgs: string[]): void => {
  const result = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(new URL(`./${script}`, import.meta.url)), ...scriptArgs], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
};
if (!harnessOnly) {
  for (const bench of MICRO) {
    console.log(`\n== ${bench.replace('.bench.js', '')} ==`);
    run(bench, []);
  }
}
console.log('\n== end to end (bench/harness.ts) ==');
run('harness.js', args);
process.exitCode = failed > 0 ? 1 : 0;
