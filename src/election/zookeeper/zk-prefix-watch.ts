import type { Logger } from 'pino';
import type { ZkSession } from './zk-session.js';

/**
 * One `watchPrefix` subscription: child watches on the prefix's node and every node below it (an
 * existence watch while it does not exist) and a data watch on each node below, re-armed
 * whenever one fires. ZooKeeper
 * watches fire once and belong to a session, so the backend re-attaches the subscription to every
 * new session and after every resume, reporting a change each time so the caller re-reads.
 */
export class PrefixWatch {
  private active = true;
  private session: ZkSession | undefined;
  // One function for every watch, so the client library keeps at most one per node.
  private readonly watcher = (): void => {
    if (!this.active) return;
    this.notify();
    if (this.session) void this.arm(this.session);
  };

  constructor(
    private readonly target: { dir: string; childPrefix: string },
    private readonly onChange: () => void,
    private readonly logger: Logger,
  ) {}

  /** Arms the watches on `session`; with `fire`, reports a change once (something may have been missed). */
  attach(session: ZkSession, fire: boolean): void {
    if (!this.active) return;
    this.session = session;
    void this.arm(session);
    if (fire) this.notify();
  }

  /** Stops reporting. Watches already set fire once more into nothing. */
  stop(): void {
    this.active = false;
  }

  private notify(): void {
    if (!this.active) return;
    try {
      this.onChange();
    } catch (error) {
      this.logger.warn({ err: error, dir: this.target.dir }, 'watchPrefix callback threw');
    }
  }

  // A failure leaves the subscription unarmed until the next resume or new session re-attaches it.
  private async arm(session: ZkSession): Promise<void> {
    if (!this.active || session !== this.session || session.state === 'lost') return;
    try {
      await this.armDir(session, this.target.dir, this.target.childPrefix);
    } catch (error) {
      this.logger.debug({ err: error, dir: this.target.dir }, 'could not arm zookeeper watches; will retry after the next resume');
    }
  }

  // Keys live at any depth below the prefix (as `list` returns them), so every level is watched.
  private async armDir(session: ZkSession, dir: string, childPrefix: string): Promise<void> {
    const client = session.client;
    const children = await client.getChildren(dir, this.watcher);
    if (children === null) {
      // Not there yet: an existence watch fires when it is created.
      if ((await client.exists(dir, { watcher: this.watcher })) !== null) await this.armDir(session, dir, childPrefix);
      return;
    }
    const matching = children.filter((c) => c.startsWith(childPrefix));
    await Promise.all(
      matching.map(async (child) => {
        const stat = await client.exists(`${dir}/${child}`, { watcher: this.watcher });
        if (stat !== null && stat.numChildren > 0) await this.armDir(session, `${dir}/${child}`, '');
      }),
    );
  }
}
