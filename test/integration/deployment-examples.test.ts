import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { requireBinary } from '../helpers/require-binary.js';
import { lockdBin } from '../helpers/lockd-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

/** The parts of the manifests this test reads. */
interface Manifest {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    template: {
      spec: {
        terminationGracePeriodSeconds?: number;
        containers: Array<{
          name: string;
          env?: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
          livenessProbe?: { httpGet: { path: string; port: number } };
          readinessProbe?: { httpGet: { path: string; port: number } };
        }>;
        volumes: Array<{ name: string; configMap?: { name: string } }>;
      };
    };
  };
}

describe('deployment examples', () => {
  it('examples/lockd.service passes systemd-analyze verify with no warning', async () => {
    requireBinary('/usr/bin/systemd-analyze', 'systemd');
    const unit = readFileSync(path.join(root, 'examples/lockd.service'), 'utf8');
    assert.match(unit, /^KillMode=mixed$/m, 'only the main process gets SIGTERM, so lockd can drain its jobs');
    assert.match(unit, /^Restart=on-failure$/m);
    const stopTimeout = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    assert.ok(stopTimeout > 30, 'stop timeout longer than the default shutdown_grace (30s)');
    // verify checks that ExecStart exists: point it at this checkout's launcher, nothing else changes.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockd-unit-'));
    try {
      const file = path.join(dir, 'lockd.service');
      writeFileSync(file, unit.replaceAll('/usr/bin/lockd', lockdBin));
      const { stdout, stderr } = await run('systemd-analyze', ['verify', file]);
      assert.equal(`${stdout}${stderr}`.trim(), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Kubernetes manifests parse and wire the probes, the ConfigMap and the pod name', () => {
    const docs = ['deployment.yaml', 'configmap.yaml'].flatMap((f) =>
      parseAllDocuments(readFileSync(path.join(root, 'examples/kubernetes', f), 'utf8')).map((d) => {
        assert.deepEqual(d.errors, []);
        return d.toJS() as Manifest;
      }),
    );
    const deployment = docs.find((d) => d.kind === 'Deployment');
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    const pod = deployment?.spec?.template.spec;
    const sidecar = pod?.containers.find((c) => c.name === 'lockd');
    assert.deepEqual(sidecar?.livenessProbe?.httpGet, { path: '/healthz', port: 9464 });
    assert.deepEqual(sidecar?.readinessProbe?.httpGet, { path: '/readyz', port: 9464 });
    assert.deepEqual(sidecar?.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef, { fieldPath: 'metadata.name' });
    const volume = pod?.volumes.find((v) => v.configMap?.name === configMap?.metadata.name);
    assert.ok(volume, 'the config volume comes from the ConfigMap');
    const config = parseConfig(configMap?.data?.['lockd.yaml'] ?? '', 'lockd.yaml', { POD_NAME: 'billing-0', ETCD_PASSWORD: 'x' });
    assert.equal(config.node, 'billing-0');
    assert.equal(config.http?.listen, '0.0.0.0:9464');
    assert.ok((pod?.terminationGracePeriodSeconds ?? 0) * 1000 > config.shutdownGraceMs);
  });
});
