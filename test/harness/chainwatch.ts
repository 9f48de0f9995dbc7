/**
 * Starts chainwatch in a test: a config with its own embedded ClickHouse directory (one per test
 * process, as chdb binds one per process), a database of its own per test, and port 0 so tests
 * never collide on 4318.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../pipeline/config-loader.js';
import { startChainwatch, type Chainwatch, type Role } from '../../pipeline/chainwatch.js';
import { silentLogger } from '../../pipeline/logger.js';
import type { Config } from '../../schemas/config.js';
import { uniqueName } from './unique-name.js';

let engineDir: string | null = null;

/** The embedded engine's directory for this test process. */
export function testEngineDir(): string {
  engineDir ??= mkdtempSync(join(tmpdir(), 'chainwatch-chdb-'));
  return engineDir;
}

export { uniqueName } from './unique-name.js';

/** A validated config: embedded defaults plus `overrides` (raw YAML-shaped values). */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  const base = {
    collector: { http: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 } },
    admin: { port: 0 },
    clickhouse: { kind: 'embedded', path: testEngineDir(), database: uniqueName('cw') },
    stages: { storage: { max_wait_ms: 20 } },
  };
  return parseConfig(merge(base, overrides), '(test)');
}

export async function startTestChainwatch(config: Config, roles?: Role[]): Promise<Chainwatch> {
  return startChainwatch(config, silentLogger(), roles);
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' && !Array.isArray(prev)
        ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}
