import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { holdsSqliteWriteLock } from './freeze.js';
import { LockdProcess } from './lockd-process.js';
import { processesWorkingIn } from './process-alive.js';
import { waitFor } from './wait-for.js';

/** How a process test reaches its backend: the YAML of the `backend:` section, indented 2. */
export interface ProcessBackendTarget {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** `type: …` and its settings, for the config of replica `node` written in `dir`. */
  backendYaml(dir: string, node: string): string;
  /**
   * Whether process `pid` (just SIGSTOPped, its config in `dir`) holds a lock that blocks every
   * other replica until it resumes. Only embedded has one: SQLite's write lock, held for the
   * milliseconds of a write transaction. Freeze tests freeze at another moment. Default: never.
   */
  blocksOthersWhileFrozen?(pid: number, dir: string): boolean;
}

export interface ClusterOptions {
  ttl: string;
  shutdownGrace?: string;
  extraYaml?: string;
  /** More top-level YAML for replica `node` only (e.g. its own `http.listen`). */
  extraYamlFor?: (node: string) => string;
}

/**
 * Several real `lockd run` processes sharing one backend, one temp dir and one unique cluster name.
 * Each replica gets its own config file (same content but `node`).
 */
export class LockdCluster {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'lockd-cluster-'));
  readonly cluster = `c${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  readonly replicas: LockdProcess[] = [];

  constructor(
    private readonly target: ProcessBackendTarget,
    private readonly opts: ClusterOptions,
  ) {}

  /** Path of a file in the cluster's temp dir. */
  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** Writes the config for `node` with the `jobs:` body `jobsYaml` (indented 2) and returns its path. */
  writeConfig(node: string, jobsYaml: string): string {
    const file = this.file(`${node}.yaml`);
    writeFileSync(
      file,
      [
        `cluster: ${this.cluster}`,
        `node: ${node}`,
        'backend:',
        this.target.backendYaml(this.dir, node),
        'leader:',
        `  ttl: ${this.opts.ttl}`,
        `shutdown_grace: ${this.opts.shutdownGrace ?? '5s'}`,
        this.opts.extraYaml ?? '',
        this.opts.extraYamlFor?.(node) ?? '',
        'jobs:',
        jobsYaml,
        '',
      ].join('\n'),
    );
    return file;
  }

  /** Starts `lockd run` for `node` with its own config file. */
  start(node: string, jobsYaml: string, env: NodeJS.ProcessEnv = {}): LockdProcess {
    const replica = new LockdProcess(node, ['run', '-c', this.writeConfig(node, jobsYaml)], { cwd: this.dir, env });
    this.replicas.push(replica);
    return replica;
  }

  /** The replica whose last leadership log says it leads, if exactly one does. */
  leader(): LockdProcess | undefined {
    const leaders = this.replicas.filter((r) => r.child.exitCode === null && r.isLeaderNow());
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  /** Waits until any replica logs 'became leader' after the given log positions. */
  async nextLeader(timeoutMs: number, except?: LockdProcess): Promise<{ replica: LockdProcess; at: number }> {
    const candidates = this.replicas.filter((r) => r !== except && r.child.exitCode === null && r.child.signalCode === null);
    const marks = candidates.map((r) => r.logs.length);
    return Promise.any(
      candidates.map((r, i) => r.waitForLeadership(timeoutMs, marks[i]).then((line) => ({ replica: r, at: line.seenAt }))),
    );
  }

  /**
   * Kills every replica, waits for the jobs their watchdogs are still killing (their appends would
   * recreate files during the removal), and removes the temp dir. Throws when a job outlives its
   * killed lockd by 15 s: the watchdog failed.
   */
  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.stop()));
    const survivors = await waitFor('the jobs of the killed replicas to end', () => processesWorkingIn(this.dir).length === 0, 15_000).then(
      () => [],
      () => processesWorkingIn(this.dir),
    );
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5 });
    if (survivors.length > 0) throw new Error(`processes still running in ${this.dir} 15 s after their lockd was killed: ${survivors.join(', ')}`);
  }
}

/** The embedded backend: each cluster's replicas share one database file in its temp dir. */
export const embeddedTarget: ProcessBackendTarget = {
  name: 'embedded',
  setup: async () => undefined,
  teardown: async () => undefined,
  backendYaml: (dir) => `  type: embedded\n  path: ${path.join(dir, 'lockd.db')}`,
  blocksOthersWhileFrozen: (pid, dir) => holdsSqliteWriteLock(pid, path.join(dir, 'lockd.db')),
};
