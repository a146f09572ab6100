import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requireBinary } from '../../helpers/require-binary.js';

const source = fileURLToPath(new URL('./CuratorPeer.java', import.meta.url));
// Debian's jars name their own dependencies (guava, slf4j-api, zookeeper-jute) in their manifests.
const curatorJars = ['curator-recipes', 'curator-framework', 'curator-client', 'zookeeper'].map((j) => `/usr/share/java/${j}.jar`);

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Compiles `CuratorPeer.java` against Debian's Curator 5 and ZooKeeper jars into a temp dir.
 * Throws naming the package to install when javac or the jars are missing.
 */
export async function compileCuratorPeer(): Promise<{ classDir: string; remove(): void }> {
  requireBinary('/usr/bin/javac', 'default-jdk-headless');
  for (const jar of curatorJars) {
    try {
      accessSync(jar, constants.R_OK);
    } catch {
      throw new Error(`${jar} is missing: apt-get install libcurator-recipes-java zookeeper, or run \`npm test\``);
    }
  }
  const classDir = mkdtempSync(join(tmpdir(), 'lockd-curator-'));
  await promisify(execFile)('/usr/bin/javac', ['-nowarn', '-d', classDir, '-cp', curatorJars.join(':'), source], { timeout: 60_000 });
  return { classDir, remove: () => rmSync(classDir, { recursive: true, force: true }) };
}

/**
 * A running `CuratorPeer`: send it commands, wait for its event lines (buffered, so a line that
 * arrives before the test waits for it is not lost). `leads` follows its `leader`/`not-leader` lines.
 */
export class CuratorPeer {
  /** True between a `leader` line and the next `not-leader` line. */
  leads = false;
  private readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'leader') this.leads = true;
      if (line === 'not-leader') this.leads = false;
      this.lines.push(line);
      for (const wake of [...this.waiters]) wake();
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    child.on('exit', () => {
      for (const wake of [...this.waiters]) wake();
    });
  }

  /** Starts the peer connected to `connect`; resolves once its session is up. */
  static async start(classDir: string, connect: string, sessionTimeoutMs: number): Promise<CuratorPeer> {
    const classpath = [classDir, ...curatorJars, '/usr/share/java/slf4j-simple.jar'].join(':');
    const child = spawn(
      '/usr/bin/java',
      ['-Xmx128m', '-XX:+UseSerialGC', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', classpath, 'CuratorPeer', connect, String(sessionTimeoutMs)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    running.add(child);
    child.once('exit', () => running.delete(child));
    const peer = new CuratorPeer(child);
    await peer.next('ready', 30_000);
    return peer;
  }

  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  /** Consumes and returns the first line equal to `line`; rejects on an `error` line, exit or timeout. */
  async next(line: string, timeoutMs: number): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const index = this.lines.findIndex((l) => l === line || l.startsWith('error '));
      if (index >= 0) {
        const [found] = this.lines.splice(index, 1);
        if (found !== line) throw new Error(`curator peer: ${found}\n${this.stderr}`);
        return found;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(`curator peer sent no '${line}' within ${timeoutMs} ms (exit ${this.child.exitCode}); stderr:\n${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** Closes the peer's session (its nodes vanish at once) and ends it; SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.send('quit');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
