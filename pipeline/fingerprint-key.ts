/**
 * The key of the redaction fingerprints (HMAC-SHA256). Fingerprints let security correlate one
 * credential across services without storing it, so the key must be stable and shared by every
 * collector: `stages.redaction.hmac_key` in production. Without it, embedded mode keeps a random
 * key beside its data (`<data dir>/../fingerprint.key`, mode 0600) so fingerprints survive
 * restarts; elsewhere a random per-process key is used, with a warning, since collectors would
 * otherwise disagree silently.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../schemas/config.js';
import type { Logger } from './logger.js';

export async function fingerprintKey(config: Config, logger: Logger): Promise<string> {
  const configured = config.stages.redaction.hmac_key;
  if (configured) return configured;
  if (config.clickhouse.kind === 'embedded') {
    const file = join(dirname(resolve(config.clickhouse.path)), 'fingerprint.key');
    try {
      const key = (await readFile(file, 'utf8')).trim();
      if (key.length >= 32) return key;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const key = randomBytes(32).toString('hex');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'w' });
    return key;
  }
  logger.warn('stages.redaction.hmac_key is not set: using a random key, so fingerprints differ between collectors and restarts');
  return randomBytes(32).toString('hex');
}
