/**
 * Ingest authentication, the same for OTLP/HTTP and OTLP/gRPC: API keys, kept in the config only
 * as SHA-256 digests, presented as `Authorization: Bearer <key>` (or the raw key in a configured
 * header or gRPC metadata entry); each key optionally bound to a tenant label that is stamped on
 * the data it sends. A request is judged on its headers alone, before its body is read or
 * decoded: missing or unknown key → 401 / UNAUTHENTICATED, revoked key → 403 / PERMISSION_DENIED.
 * A presented key is hashed and looked up by digest, never compared as text, never logged and
 * never echoed.
 *
 * TLS (and mTLS: a client certificate signed by the configured CA, required) is set up from the
 * same config for both receivers.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ServerCredentials } from '@grpc/grpc-js';
import type { KeyValue, ResourceGroup, ScopeGroup, SignalLayout } from '../schemas/otlp-common.js';
import type { Config } from '../schemas/config.js';

/** The resource attribute carrying the tenant label of the key that sent the data. */
export const TENANT_ATTRIBUTE = 'chainwatch.tenant';

export interface ApiKeyConfig {
  name: string;
  sha256: string;
  tenant?: string | undefined;
  revoked?: boolean | undefined;
}

export interface AuthConfig {
  enabled: boolean;
  /** `authorization` (value `Bearer <key>`), or another header carrying the raw key. */
  header: string;
  keys: readonly ApiKeyConfig[];
}

/** Who sent a request, once authenticated. */
export interface Caller {
  keyName: string;
  tenant?: string;
}

export type AuthResult = { ok: true; caller: Caller | null } | { ok: false; status: 401 | 403; message: string };

export function sha256Hex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export class ApiKeyAuth {
  readonly header: string;
  readonly #byDigest: Map<string, ApiKeyConfig>;
  readonly #enabled: boolean;

  constructor(config: AuthConfig) {
    this.#enabled = config.enabled;
    this.header = config.header.toLowerCase();
    this.#byDigest = new Map(config.keys.map((k) => [k.sha256.toLowerCase(), k]));
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Judges the value of the configured header (undefined when absent). */
  authenticate(value: string | undefined): AuthResult {
    if (!this.#enabled) return { ok: true, caller: null };
    const key = this.#presentedKey(value);
    if (key === null) {
      return {
        ok: false,
        status: 401,
        message: this.header === 'authorization' ? 'missing API key: send Authorization: Bearer <key>' : `missing API key: send it in the ${this.header} header`,
      };
    }
    const entry = this.#byDigest.get(sha256Hex(key));
    if (!entry) return { ok: false, status: 401, message: 'invalid API key' };
    if (entry.revoked) return { ok: false, status: 403, message: `API key "${entry.name}" has been revoked` };
    return { ok: true, caller: { keyName: entry.name, ...(entry.tenant !== undefined ? { tenant: entry.tenant } : {}) } };
  }

  #presentedKey(value: string | undefined): string | null {
    if (value === undefined) return null;
    if (this.header !== 'authorization') return value.trim() === '' ? null : value.trim();
    const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(value);
    return m ? m[1]! : null;
  }
}

/**
 * Stamps the caller's tenant on every resource of a request, replacing whatever a client sent
 * under that name (so a client cannot forge another tenant's label).
 */
export function stampTenant<D, R extends ResourceGroup, S extends ScopeGroup, I>(layout: SignalLayout<D, R, S, I>, data: D, tenant: string | undefined): void {
  for (const rg of layout.resourceGroups(data)) {
    const attrs = rg.resource.attributes;
    const kept: KeyValue[] = attrs.filter((kv) => kv.key !== TENANT_ATTRIBUTE);
    if (tenant !== undefined) kept.push({ key: TENANT_ATTRIBUTE, value: tenant });
    if (kept.length !== attrs.length || tenant !== undefined) rg.resource.attributes = kept;
  }
}

/** The `collector.tls` section (its schema requires client_ca_file with client_auth "require"). */
export type TlsConfig = NonNullable<Config['collector']['tls']>;

/** The certificate, key and client CA, read from their files (errors name the config key and the file). */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requireClientCert: boolean;
}

export function loadTls(config: TlsConfig): TlsMaterial {
  const where = 'collector.tls';
  const read = (key: 'cert_file' | 'key_file' | 'client_ca_file', file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`${where}.${key}: cannot read ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const requireClientCert = config.client_auth === 'require';
  return {
    cert: read('cert_file', config.cert_file),
    key: read('key_file', config.key_file),
    ...(config.client_ca_file ? { ca: read('client_ca_file', config.client_ca_file) } : {}),
    requireClientCert,
  };
}

/** gRPC server credentials: insecure without TLS, else TLS (mTLS when a client certificate is required). */
export function grpcServerCredentials(tls: TlsMaterial | null): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.requireClientCert);
}
