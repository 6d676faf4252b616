/**
 * Test PKI made with the real openssl: a CA, a server certificate for localhost and
 * 127.0.0.1, and client certificates for mTLS, in a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Paths of a generated PKI. */
export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Make a client certificate with this CN (and optional SAN DNS names). */
  client(cn: string, sans?: string[]): { cert: string; key: string };
}

function ssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Create a CA and a server certificate (SANs localhost, 127.0.0.1) under `dir`. */
export function makePki(dir: string, extraIps: readonly string[] = []): TestPki {
  fs.mkdirSync(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=QuickCMD Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const issue = (name: string, subj: string, ext: string): { cert: string; key: string } => {
    ssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
    fs.chmodSync(path.join(dir, `${name}.key`), 0o600);
    return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  };
  const server = issue('server', '/CN=localhost', `subjectAltName=DNS:localhost,IP:127.0.0.1${extraIps.map((ip) => `,IP:${ip}`).join('')}\nextendedKeyUsage=serverAuth\n`);
  let n = 0;
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    serverCert: server.cert,
    serverKey: server.key,
    client(cn, sans = []) {
      const san = sans.length > 0 ? `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}\n` : '';
      return issue(`client${++n}`, `/CN=${cn}`, `${san}extendedKeyUsage=clientAuth\n`);
    },
  };
}
