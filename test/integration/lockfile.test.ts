/**
 * `npm ci` refuses a lock file that lacks any optional dependency of a package, even one for
 * another platform. chdb lists a native library per platform, and the registry reachable from the
 * build machines does not serve the ones for other platforms, so `npm install` cannot record
 * them: package-lock.json carries entries for them by hand (os/cpu set, so npm never fetches them
 * here). This test fails if a lock regeneration dropped them, before `npm ci` fails for a new user.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../harness/cli.js';

describe('package-lock.json', () => {
  it('has an entry for every optional dependency of every locked package', () => {
    const lock = JSON.parse(readFileSync(`${PROJECT_ROOT}/package-lock.json`, 'utf8')) as {
      packages: Record<string, { optionalDependencies?: Record<string, string>; version?: string }>;
    };
    const missing: string[] = [];
    let checked = 0;
    for (const [path, pkg] of Object.entries(lock.packages)) {
      for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
        checked++;
        // npm resolves a dependency next to its dependant first, then at the top level.
        if (!lock.packages[`${path}/node_modules/${dep}`] && !lock.packages[`node_modules/${dep}`]) missing.push(`${path} → ${dep}`);
      }
    }
    expect(checked).toBeGreaterThanOrEqual(4); // chdb's four platform libraries at least
    expect(missing).toEqual([]);
  });
});
