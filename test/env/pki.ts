import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './process.ts';

/**
 * The credentials of the local control plane, made with the openssl CLI (on every Debian
 * machine): a CA, the API server's serving certificate, client certificates, and the
 * service-account signing key pair.
 */
export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  controllerManagerCert: string;
  controllerManagerKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** Extensions of a certificate that a client presents. */
export const client = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';

/** Extensions of a serving certificate for the given subject alternative names (`DNS:x`, `IP:y`). */
export function serving(names: string[]): string {
  return `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.join(',')}\n`;
}

export function pkiPaths(dir: string): Pki {
  const p = (name: string): string => join(dir, name);
  return {
    dir,
    caCert: p('ca.crt'), caKey: p('ca.key'),
    serverCert: p('apiserver.crt'), serverKey: p('apiserver.key'),
    adminCert: p('admin.crt'), adminKey: p('admin.key'),
    controllerManagerCert: p('controller-manager.crt'), controllerManagerKey: p('controller-manager.key'),
    kubeletClientCert: p('kubelet-client.crt'), kubeletClientKey: p('kubelet-client.key'),
    serviceAccountKey: p('sa.key'), serviceAccountPub: p('sa.pub'),
  };
}

async function openssl(args: string[]): Promise<void> {
  await run({ command: 'openssl', args, label: `openssl ${args[0]}` });
}

export async function issue(pki: Pki, name: string, subject: string, extensions: string, cert: string, key: string): Promise<void> {
  const csr = join(pki.dir, `${name}.csr`);
  const ext = join(pki.dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  await openssl(['req', '-new', '-nodes', '-newkey', 'rsa:2048', '-keyout', key, '-out', csr, '-subj', subject]);
  await openssl(['x509', '-req', '-in', csr, '-CA', pki.caCert, '-CAkey', pki.caKey, '-CAcreateserial',
    '-out', cert, '-days', '3650', '-sha256', '-extfile', ext]);
}

/** Creates what is missing; an existing PKI is kept, so kubeconfigs stay valid across restarts. */
export async function ensurePki(dir: string, serviceIp: string): Promise<Pki> {
  const pki = pkiPaths(dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(pki.caCert)) {
    await openssl(['req', '-x509', '-new', '-nodes', '-newkey', 'rsa:2048', '-keyout', pki.caKey, '-out', pki.caCert,
      '-days', '3650', '-sha256', '-subj', '/CN=bindery-test-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  }
  if (!existsSync(pki.serverCert)) {
    const names = ['DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local', 'IP:127.0.0.1', `IP:${serviceIp}`];
    await issue(pki, 'apiserver', '/CN=kube-apiserver', serving(names), pki.serverCert, pki.serverKey);
  }
  if (!existsSync(pki.adminCert)) {
    await issue(pki, 'admin', '/O=system:masters/CN=bindery-admin', client, pki.adminCert, pki.adminKey);
  }
  if (!existsSync(pki.controllerManagerCert)) {
    // RBAC's bootstrap policy grants the controller manager its rights by this user name.
    await issue(pki, 'controller-manager', '/CN=system:kube-controller-manager', client,
      pki.controllerManagerCert, pki.controllerManagerKey);
  }
  if (!existsSync(pki.kubeletClientCert)) {
    // The API server's identity towards kubelets (logs, exec, port-forward).
    await issue(pki, 'kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', client,
      pki.kubeletClientCert, pki.kubeletClientKey);
  }
  if (!existsSync(pki.serviceAccountPub)) {
    await openssl(['genrsa', '-out', pki.serviceAccountKey, '2048']);
    await openssl(['rsa', '-in', pki.serviceAccountKey, '-pubout', '-out', pki.serviceAccountPub]);
  }
  return pki;
}
