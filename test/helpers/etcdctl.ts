import { execFile } from 'node:child_process';

export const etcdBinary = '/usr/bin/etcd';
export const etcdctlBinary = '/usr/bin/etcdctl';

/**
 * Runs `etcdctl --endpoints=ENDPOINT ARGS` (API v3); resolves with its stdout, or undefined when
 * it fails or takes longer than `timeoutMs`. Never rejects.
 */
export function etcdctl(endpoint: string, args: string[], timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(etcdctlBinary, [`--endpoints=${endpoint}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: timeoutMs }, (err, stdout) =>
      resolve(err === null ? stdout : undefined),
    );
  });
}

/** Whether `etcdctl endpoint health` passes on `endpoint` (it serves linearizable reads). */
export async function endpointHealthy(endpoint: string): Promise<boolean> {
  return (await etcdctl(endpoint, ['--command-timeout=1s', 'endpoint', 'health'])) !== undefined;
}
