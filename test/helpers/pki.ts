import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { requireBinary } from './require-binary.js';

const run = promisify(execFile);

/**
 * A throwaway CA (`ca.pem`), a server certificate for 127.0.0.1 and localhost (`server.pem`,
 * `server-key.pem`) and a client certificate (`client.pem`, `client-key.pem`), made with openssl
 * in `dir` (created if missing), valid two days.
 */
export async function makePki(dir: string): Promise<void> {
  requireBinary('/usr/bin/openssl', 'openssl');
  mkdirSync(dir, { recursive: true });
  const ssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  await ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=lockd-test-ca', '-keyout', 'ca-key.pem', '-out', 'ca.pem');
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    await ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}-key.pem`, '-out', `${who}.csr`);
    await ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', `${who}.ext`, '-out', `${who}.pem`);
  }
}
