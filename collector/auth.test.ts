/**
 * API keys: the verdicts (missing, malformed, unknown, revoked, good; custom header), keys kept
 * and matched only as SHA-256 digests (either case of hex), the tenant stamp replacing a forged
 * one, and the config checks that name the key path of each problem.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../pipeline/config-loader.js';
import { createTracesData, TRACES_LAYOUT } from '../schemas/otlp-traces.js';
import { ApiKeyAuth, sha256Hex, stampTenant, TENANT_ATTRIBUTE } from './auth.js';

const auth = new ApiKeyAuth({
  enabled: true,
  header: 'authorization',
  keys: [
    { name: 'good', sha256: sha256Hex('k-good'), tenant: 'prod' },
    { name: 'upper', sha256: sha256Hex('k-upper').toUpperCase() },
    { name: 'old', sha256: sha256Hex('k-old'), revoked: true },
  ],
});

describe('ApiKeyAuth', () => {
  it('judges bearer keys', () => {
    expect(auth.authenticate('Bearer k-good')).toEqual({ ok: true, caller: { keyName: 'good', tenant: 'prod' } });
    expect(auth.authenticate('bearer   k-upper ')).toEqual({ ok: true, caller: { keyName: 'upper' } });
    expect(auth.authenticate(undefined)).toEqual({ ok: false, status: 401, message: 'missing API key: send Authorization: Bearer <key>' });
    expect(auth.authenticate('Basic k-good')).toMatchObject({ ok: false, status: 401 });
    expect(auth.authenticate('Bearer ')).toMatchObject({ ok: false, status: 401 });
    expect(auth.authenticate('Bearer k-good extra')).toMatchObject({ ok: false, status: 401 });
    expect(auth.authenticate('Bearer k-bad')).toEqual({ ok: false, status: 401, message: 'invalid API key' });
    expect(auth.authenticate('Bearer k-old')).toEqual({ ok: false, status: 403, message: 'API key "old" has been revoked' });
  });

  it('reads the raw key from a custom header, and lets everything through when off', () => {
    const custom = new ApiKeyAuth({ enabled: true, header: 'X-Api-Key', keys: [{ name: 'a', sha256: sha256Hex('raw-key') }] });
    expect(custom.header).toBe('x-api-key');
    expect(custom.authenticate('raw-key')).toEqual({ ok: true, caller: { keyName: 'a' } });
    expect(custom.authenticate('Bearer raw-key')).toMatchObject({ ok: false, status: 401 });
    expect(custom.authenticate('  ')).toEqual({ ok: false, status: 401, message: 'missing API key: send it in the x-api-key header' });
    expect(new ApiKeyAuth({ enabled: false, header: 'authorization', keys: [] }).authenticate(undefined)).toEqual({ ok: true, caller: null });
  });

  it('stamps the tenant on every resource, replacing a forged one, and removes a forged one when there is no tenant', () => {
    const data = createTracesData('svc', []);
    data.resourceSpans[0]!.resource.attributes.push({ key: TENANT_ATTRIBUTE, value: 'forged' });
    stampTenant(TRACES_LAYOUT, data, 'prod');
    expect(data.resourceSpans[0]!.resource.attributes.filter((a) => a.key === TENANT_ATTRIBUTE)).toEqual([{ key: TENANT_ATTRIBUTE, value: 'prod' }]);
    stampTenant(TRACES_LAYOUT, data, undefined);
    expect(data.resourceSpans[0]!.resource.attributes.some((a) => a.key === TENANT_ATTRIBUTE)).toBe(false);
  });
});

/** The problems parseConfig lists for a collector section, none when it is valid. */
function configProblems(collector: unknown): string[] {
  try {
    parseConfig({ collector }, 'c.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('collector.auth and collector.tls config', () => {
  const problems = (auth: unknown): string[] => configProblems({ auth });

  it('names each problem by its path', () => {
    expect(problems({ enabled: true })).toEqual([expect.stringContaining('collector.auth.keys: auth is enabled but no keys are configured')]);
    expect(problems({ keys: [{ name: 'a', sha256: 'abc' }] })).toEqual([expect.stringMatching(/collector\.auth\.keys\.0\.sha256: expected 64 hex digits/)]);
    const digest = sha256Hex('x');
    expect(problems({ keys: [{ name: 'a', sha256: digest }, { name: 'a', sha256: digest.toUpperCase() }] })).toEqual([
      expect.stringContaining('collector.auth.keys.1.name: duplicate name'),
      expect.stringContaining('collector.auth.keys.1.sha256: duplicate sha256'),
    ]);
    expect(problems({ header: 'x api key', keys: [] })).toEqual([expect.stringContaining('collector.auth.header: expected a header name')]);
    expect(problems({ enabled: true, keys: [{ name: 'a', sha256: digest }] })).toEqual([]);
  });

  it('asks for the client CA when client certificates are required', () => {
    const tlsProblems = (tls: unknown): string[] => configProblems({ tls });
    expect(tlsProblems({ cert_file: 'c.pem', key_file: 'k.pem', client_auth: 'require' })).toEqual([
      expect.stringContaining('collector.tls.client_ca_file: required when client_auth is "require"'),
    ]);
    expect(tlsProblems({ cert_file: 'c.pem', key_file: 'k.pem', client_auth: 'always' })).toEqual([expect.stringContaining('collector.tls.client_auth: expected "none" or "require", got "always"')]);
    expect(tlsProblems({ cert_file: 'c.pem', key_file: 'k.pem' })).toEqual([]);
  });
});
