import type { Logger } from 'pino';
import { monotonicMs } from '../clock.js';
import type { SessionWatch } from '../election/backend.js';
import type { GroupRegistry } from '../runner/types.js';
import type { Watchdog } from './watchdog.js';

/** How long after its kill deadline a lost session waits for its runs' groups before it is given up anyway. */
const REAP_TIMEOUT_MS = 2000;

/**
 * The rule of DESIGN §1.4 in one place: no process of a run is alive when another holder could be
 * granted its lock or the leadership. Backends report their sessions here (`SessionWatch`); the
 * runner reports each run's process group (`groups(session)`). Every kill deadline and group goes
 * to the watchdog process, which kills on time whatever lockd is doing; and a lost session is
 * given up by its backend only once every group that ran under it is gone (bounded: its kill
 * deadline + 2 s, after which the backend's own expiry is the remaining bound).
 *
 * `lossGraceMs` caps the SIGTERM → SIGKILL wait the watchdog allows before a kill deadline
 * (src/election/fencing-window.ts).
 */
export class RunFence implements SessionWatch {
  private readonly live = new Map<string, Set<number>>();
  private readonly drained = new Map<string, () => void>();

  constructor(
    private readonly watchdog: Watchdog,
    private readonly lossGraceMs: number,
    private readonly logger: Logger,
  ) {}

  renewed(sessionId: string, killBy: number): void {
    this.watchdog.deadline(sessionId, killBy);
  }

  async lost(sessionId: string, killBy: number): Promise<void> {
    this.watchdog.deadline(sessionId, killBy);
    const running = this.live.get(sessionId);
    if (running !== undefined && running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drained.set(sessionId, resolve);
        timer = setTimeout(resolve, Math.max(0, killBy - monotonicMs()) + REAP_TIMEOUT_MS);
      });
      clearTimeout(timer);
      this.drained.delete(sessionId);
      if (running.size > 0) this.logger.error({ session: sessionId, groups: [...running] }, 'giving a lost session up while processes of its runs survive SIGKILL');
    }
    this.live.delete(sessionId);
    this.watchdog.end(sessionId);
  }

  /** The registry for runs under `sessionId`. */
  groups(sessionId: string): GroupRegistry {
    return {
      add: (pgid, killGraceMs) => {
        let set = this.live.get(sessionId);
        if (set === undefined) this.live.set(sessionId, (set = new Set()));
        set.add(pgid);
        this.watchdog.watch(sessionId, pgid, Math.min(killGraceMs, this.lossGraceMs));
      },
      remove: (pgid) => {
        const set = this.live.get(sessionId);
        set?.delete(pgid);
        this.watchdog.forget(pgid);
        if (set?.size === 0) this.drained.get(sessionId)?.();
      },
    };
  }
}
