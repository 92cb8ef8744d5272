// Certificates made with openssl as the README tells an operator to: one CA, and a certificate per
// host naming its addresses (subjectAltName IP entries), good for both server and client use.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TlsFiles } from '../../../platform/bus';

export interface TestCa {
  caFile: string;
  /** A certificate and key for these addresses, signed by the CA. */
  issue(name: string, ips: string[]): Required<TlsFiles>;
}

export function makeCa(dir: string, cn = 'pocket-ca'): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  const f = (n: string): string => path.join(dir, n);
  const run = (args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }); };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', f(`${cn}.key`), '-out', f(`${cn}.pem`)]);
  return {
    caFile: f(`${cn}.pem`),
    issue(name, ips) {
      run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`)]);
      fs.writeFileSync(f(`${name}.ext`), `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
      run(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${cn}.pem`), '-CAkey', f(`${cn}.key`), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`)]);
      return { certFile: f(`${name}.pem`), keyFile: f(`${name}.key`), caFile: f(`${cn}.pem`) };
    },
  };
}
