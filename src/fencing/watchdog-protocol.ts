/**
 * The line protocol from lockd to its watchdog process (src/fencing/watchdog-main.ts): one message
 * per line, fields separated by single spaces. Times are CLOCK_MONOTONIC ms (`monotonicMs()`),
 * which every process on a Linux host reads alike.
 *
 * ```
 * deadline <session> <killBy>                    every process of the session must be dead by killBy
 * watch <session> <pgid> <startTime> <graceMs>   a run's process group; SIGTERM graceMs before killBy
 * forget <pgid>                                  the group is gone (or no longer lockd's to kill)
 * end <session>                                  the session is given up; nothing runs under it
 * ```
 *
 * `startTime` is field 22 of `/proc/<pgid>/stat` when the group was registered (`-` if the leader
 * had already exited): the watchdog signals a group only while that identity still holds, so a
 * reused process id is never killed. Session ids are backend ids without spaces.
 */
export type WatchdogMessage =
  | { kind: 'deadline'; session: string; killBy: number }
  | { kind: 'watch'; session: string; pgid: number; startTime: string | undefined; graceMs: number }
  | { kind: 'forget'; pgid: number }
  | { kind: 'end'; session: string };

/** One message as a line, newline included. */
export function encodeMessage(message: WatchdogMessage): string {
  switch (message.kind) {
    case 'deadline':
      return `deadline ${message.session} ${message.killBy.toFixed(3)}\n`;
    case 'watch':
      return `watch ${message.session} ${message.pgid} ${message.startTime ?? '-'} ${Math.round(message.graceMs)}\n`;
    case 'forget':
      return `forget ${message.pgid}\n`;
    case 'end':
      return `end ${message.session}\n`;
  }
}

/** Parses one line (without its newline); undefined for anything malformed, which is ignored. */
export function parseMessage(line: string): WatchdogMessage | undefined {
  const [kind, ...f] = line.trim().split(' ');
  const num = (text: string | undefined): number | undefined => {
    const n = Number(text);
    return text !== undefined && text !== '' && Number.isFinite(n) ? n : undefined;
  };
  const pgid = (text: string | undefined): number | undefined => {
    const n = num(text);
    return n !== undefined && Number.isInteger(n) && n > 1 ? n : undefined;
  };
  if (kind === 'deadline' && f.length === 2) {
    const killBy = num(f[1]);
    return killBy === undefined ? undefined : { kind, session: f[0]!, killBy };
  }
  if (kind === 'watch' && f.length === 4) {
    const id = pgid(f[1]);
    const graceMs = num(f[3]);
    if (id === undefined || graceMs === undefined || graceMs < 0) return undefined;
    return { kind, session: f[0]!, pgid: id, startTime: f[2] === '-' ? undefined : f[2], graceMs };
  }
  if (kind === 'forget' && f.length === 1) {
    const id = pgid(f[0]);
    return id === undefined ? undefined : { kind, pgid: id };
  }
  if (kind === 'end' && f.length === 1) return { kind, session: f[0]! };
  return undefined;
}
