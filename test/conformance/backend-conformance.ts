import { after, afterEach, before, describe } from 'node:test';
import type { BackendConfig } from '../../src/config/types.js';
import { ConformanceContext } from './conformance-context.js';
import { registerDataTests } from './data-conformance.js';
import { registerElectionTests } from './election-conformance.js';
import { registerFailureTests } from './failure-conformance.js';
import { registerLockTests } from './lock-conformance.js';
import { registerSeatTests } from './seat-conformance.js';

/**
 * One backend under test. An entry file (`test/conformance/<backend>.test.ts`) builds one and
 * passes it to `backendConformance`.
 */
export interface ConformanceTarget {
  /** `'etcd' | 'embedded' | 'zookeeper'`; names the describe block and the cluster prefix. */
  name: string;
  /** Starts servers / creates temp dirs. Runs once before the suite. */
  setup(): Promise<void>;
  /** Stops servers / removes temp dirs. Runs once after the suite, also after failures. */
  teardown(): Promise<void>;
  /** How to reach the backend; called after `setup`, may be called many times. */
  config(): BackendConfig;
  /** SIGSTOPs the backend server; resolves to a thaw function. Omitted for serverless backends. */
  freezeServer?(): Promise<() => Promise<void>>;
  /** Lease TTL the suite uses, in ms; default 2000. Raise it only if the backend cannot go lower. */
  ttlMs?: number;
}

/**
 * Registers the conformance suite (node:test `describe`/`it`) for one backend. Every test opens
 * backends with `createBackend(target.config(), { cluster, ttlMs, logger })` under a cluster name
 * of its own, and closes them afterwards; each test fails if the property it names is false.
 */
export function backendConformance(target: ConformanceTarget): void {
  const ctx = new ConformanceContext(target);
  describe(`backend conformance: ${target.name}`, () => {
    before(() => target.setup());
    after(() => target.teardown());
    afterEach(() => ctx.closeAll());

    registerLockTests(ctx);
    registerSeatTests(ctx);
    registerElectionTests(ctx);
    registerDataTests(ctx);
    registerFailureTests(ctx);
  });
}
