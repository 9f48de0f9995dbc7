/**
 * `npm run bench`: every benchmark in turn, each in its own process so none warms or pollutes the
 * next, printing its figures. Quick by default; pass seconds per case to run longer.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = ['otlp-codec.bench.js', 'redaction.bench.js', 'collector.bench.js', 'storage-transcode.bench.js'];
const seconds = process.argv[2];

let failed = 0;
for (const bench of BENCHES) {
  console.log(`\n== ${bench.replace('.bench.js', '')} ==`);
  const script = fileURLToPath(new URL(`./${bench}`, import.meta.url));
  const result = spawnSync(process.execPath, ['--expose-gc', script, ...(seconds ? [seconds] : [])], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
