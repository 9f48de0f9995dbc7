/**
 * Test certificates, made at test time with the `openssl` CLI in a temporary directory (no private
 * key is ever committed): a CA, a server certificate for 127.0.0.1/localhost signed by it, a client
 * certificate signed by it, and a client certificate from another CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  ca: Buffer;
  client: { cert: Buffer; key: Buffer };
  strangerClient: { cert: Buffer; key: Buffer };
  remove(): void;
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'chainwatch-certs-'));
  const at = (f: string): string => join(dir, f);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ca = (name: string): void => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
  };
  const signed = (name: string, caName: string, ext: string): void => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(at(`${name}.ext`), ext);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  ca('test-ca');
  ca('stranger-ca');
  signed('server', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed('client', 'test-ca', 'extendedKeyUsage=clientAuth\n');
  signed('stranger', 'stranger-ca', 'extendedKeyUsage=clientAuth\n');
  const read = (f: string): Buffer => readFileSync(at(f));
  return {
    dir,
    caFile: at('test-ca.crt'),
    serverCertFile: at('server.crt'),
    serverKeyFile: at('server.key'),
    ca: read('test-ca.crt'),
    client: { cert: read('client.crt'), key: read('client.key') },
    strangerClient: { cert: read('stranger.crt'), key: read('stranger.key') },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
