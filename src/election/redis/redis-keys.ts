/**
 * The names of a cluster's keys and channel (see redis-scripts.ts for what each holds): all start
 * with `lockd:{<cluster>}:`, so the hash tag puts them in one slot and a script may touch them all
 * (Redis Cluster), and clusters sharing a server never meet.
 */
export class RedisKeys {
  readonly prefix: string;
  readonly meta: string;
  readonly rev: string;
  readonly sess: string;
  readonly ren: string;
  readonly exp: string;
  readonly rtime: string;
  readonly kv: string;
  readonly kvrev: string;
  readonly kvidx: string;
  /**
   * Redlock: the server's boot marker (`id`, `born`), for the delayed-restart rule
   * (redlock-member.ts). One per server (database), not per cluster, so outside the hash tag:
   * Redlock runs on independent primaries, never on Redis Cluster.
   */
  readonly boot: string;
  /** The pub/sub channel every change is published on. */
  readonly channel: string;
  /** A channel nobody subscribes to, for the marker before WAIT (redis-replica-ack.ts). */
  readonly ackChannel: string;

  constructor(cluster: string) {
    this.prefix = `lockd:{${cluster}}:`;
    this.meta = `${this.prefix}meta`;
    this.rev = `${this.prefix}rev`;
    this.sess = `${this.prefix}sess`;
    this.ren = `${this.prefix}ren`;
    this.exp = `${this.prefix}exp`;
    this.rtime = `${this.prefix}rtime`;
    this.kv = `${this.prefix}kv`;
    this.kvrev = `${this.prefix}kvrev`;
    this.kvidx = `${this.prefix}kvidx`;
    this.boot = 'lockd:boot';
    this.channel = `${this.prefix}ev`;
    this.ackChannel = `${this.prefix}ack`;
  }

  /** The queue (zset sid → token) of row name `name` (`leader`, `lock/<x>`). */
  queue(name: string): string {
    return `${this.prefix}q:${name}`;
  }

  /** The holder infos (hash sid → info) of row name `name`. */
  queueInfo(name: string): string {
    return `${this.prefix}qi:${name}`;
  }
}
