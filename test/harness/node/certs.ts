import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface NodeCerts {
  /** CA the kubelet trusts for client certificates. */
  readonly caCert: string;
  /** kube-apiserver's client certificate for the kubelet (group system:masters): logs, exec, port-forward. */
  readonly apiserverKubeletClientCert: string;
  readonly apiserverKubeletClientKey: string;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
}

/**
 * The node's one piece of PKI: a CA the kubelet trusts, and the certificate kube-apiserver presents to the
 * kubelet. (The apiserver's serving certificate is its own self-signed one; the kubelet's is self-signed too,
 * and the apiserver does not check it, as in a default cluster.)
 */
export function makeNodeCerts(dir: string): NodeCerts {
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.crt');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '7',
    '-subj',
    '/CN=novapos-node-ca',
  ]);
  const key = path.join(dir, 'apiserver-kubelet-client.key');
  const csr = path.join(dir, 'apiserver-kubelet-client.csr');
  const cert = path.join(dir, 'apiserver-kubelet-client.crt');
  const ext = path.join(dir, 'client.ext');
  writeFileSync(ext, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    '/O=system:masters/CN=kube-apiserver-kubelet-client',
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caCert,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '7',
    '-extfile',
    ext,
  ]);
  return { caCert, apiserverKubeletClientCert: cert, apiserverKubeletClientKey: key };
}
