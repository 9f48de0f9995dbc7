/**
 * Test harness: `telemetrygen`, the OpenTelemetry Collector's load generator, as a real client
 * written in Go (the Go SDK's OTLP exporters over HTTP and gRPC) that chainwatch must accept
 * unchanged.
 *
 * ensureTelemetrygen() returns the path of the binary: the one TELEMETRYGEN names, else the one
 * cached in test/harness/telemetrygen/<version>/ (git-ignored), else it installs it there with
 * `go install` from the Go module proxy (about a minute on two cores, once per clone). Concurrent
 * callers, in this process or others, wait for one install: the binary is built into a private
 * directory and renamed into place.
 *
 * runTelemetrygen() runs it to its exit (killing it after a timeout) and returns what it printed.
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runToExit, type ProcessResult } from './child-processes.js';

/** The version the tests were written against (its span shapes are asserted exactly). */
export const TELEMETRYGEN_VERSION = 'v0.161.0';
const MODULE = 'github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen';

/** test/harness/telemetrygen in the source tree, also when this module runs compiled from dist/. */
const CACHE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)).replace(/([\\/])dist([\\/]test[\\/]harness)$/, '$2'), 'telemetrygen');
const INSTALL_TIMEOUT_MS = 8 * 60_000;

let installing: Promise<string> | null = null;

export function ensureTelemetrygen(): Promise<string> {
  const given = process.env['TELEMETRYGEN'];
  if (given) {
    if (!existsSync(given)) return Promise.reject(new Error(`TELEMETRYGEN=${given}: no such file`));
    return Promise.resolve(given);
  }
  installing ??= install().finally(() => (installing = null));
  return installing;
}

async function install(): Promise<string> {
  const versionDir = path.join(CACHE_DIR, TELEMETRYGEN_VERSION);
  const binary = path.join(versionDir, 'telemetrygen');
  if (existsSync(binary)) return binary;
  mkdirSync(versionDir, { recursive: true });
  const gobin = mkdtempSync(path.join(versionDir, 'install-'));
  try {
    let result: ProcessResult;
    try {
      result = await runToExit('go', ['install', `${MODULE}@${TELEMETRYGEN_VERSION}`], { env: { ...process.env, GOBIN: gobin, GOTOOLCHAIN: 'local', CGO_ENABLED: '0' }, timeoutMs: INSTALL_TIMEOUT_MS });
    } catch (err) {
      throw new Error(`cannot run go to install telemetrygen (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); install Go, or set TELEMETRYGEN to a telemetrygen binary`);
    }
    if (result.code !== 0) {
      throw new Error(`go install ${MODULE}@${TELEMETRYGEN_VERSION} failed (exit ${result.code}):\n${result.stderr.slice(-4000)}`);
    }
    // Another process may have finished first: renaming over its identical binary is harmless.
    renameSync(path.join(gobin, 'telemetrygen'), binary);
    return binary;
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
}

/** Runs telemetrygen with `args` (e.g. `['traces', '--traces', '3', …]`) to its exit. */
export function runTelemetrygen(binary: string, args: string[], timeoutMs = 60_000): Promise<ProcessResult> {
  return runToExit(binary, args, { timeoutMs });
}
