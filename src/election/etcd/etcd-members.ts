import { readFileSync } from 'node:fs';
import { ExponentialBackoff, noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import type { BackendConfig } from '../../config/types.js';
import { BackendStorageError } from '../../errors.js';

type EtcdConfig = Extract<BackendConfig, { type: 'etcd' }>;

/** One configured endpoint and the client that talks to it alone. */
export interface EtcdMember {
  readonly endpoint: string;
  readonly client: Etcd3;
}

/**
 * The etcd clients of one `EtcdRpc`: one per configured endpoint, so lockd itself decides which
 * member a unary call or a keep-alive goes to (etcd3's pool picks a random host per call and,
 * with its policies off, never tries another), plus one over every endpoint for watches (etcd3's
 * watch manager moves to another member when its stream breaks).
 *
 * Members are kept in order of preference: a member that answers moves to the front, one that
 * fails moves to the back. So calls stick to a member that works, like etcd's own client pins
 * an endpoint, and a dead or frozen member costs one failed attempt, not one per call.
 */
export class EtcdMembers {
  readonly watchClient: Etcd3;
  private readonly preferred: EtcdMember[];

  /**
   * `authTimeoutMs` bounds the token exchange with a member (with `username`), which etcd3 makes
   * before a call. Throws `BackendStorageError` when a TLS file cannot be read.
   */
  constructor(config: EtcdConfig, authTimeoutMs: number) {
    const base = clientOptions(config, authTimeoutMs);
    this.preferred = config.endpoints.map((endpoint) => ({ endpoint, client: new Etcd3({ ...base, hosts: [endpoint] }) }));
    this.watchClient = new Etcd3({
      ...base,
      hosts: config.endpoints,
      // etcd3 types this as a backoff state but calls next() on it: a state serves both.
      faultHandling: { ...base.faultHandling, watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }).next() },
    });
  }

  /** Every member, the preferred first. A snapshot: later successes and failures do not reorder it. */
  ordered(): EtcdMember[] {
    return [...this.preferred];
  }

  /** `member` answered: try it first from now on. */
  answered(member: EtcdMember): void {
    this.moveTo(member, 0);
  }

  /** `member` failed (unreachable, frozen, without a leader): try it last from now on. */
  failed(member: EtcdMember): void {
    this.moveTo(member, this.preferred.length - 1);
  }

  close(): void {
    for (const member of this.preferred) member.client.close();
    this.watchClient.close();
  }

  private moveTo(member: EtcdMember, index: number): void {
    const at = this.preferred.indexOf(member);
    if (at === -1 || at === index) return;
    this.preferred.splice(at, 1);
    this.preferred.splice(index, 0, member);
  }
}

function clientOptions(config: EtcdConfig, authTimeoutMs: number): IOptions {
  const options: IOptions = {
    hosts: config.endpoints,
    // lockd bounds, retries and routes calls itself (etcd-failover.ts). etcd3's default circuit
    // breaker would refuse every call for 5 s after three failures, and its retry would re-send
    // on a random member without regard for the call's deadline.
    faultHandling: { host: () => noop, global: noop },
    // Reconnect within a second of a member coming back, not grpc's default of up to two minutes.
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
  };
  if (config.username !== undefined) {
    options.auth = {
      username: config.username,
      password: config.password ?? '',
      // Stamped by etcd3 right before it sends the exchange; without it a frozen member holds it forever.
      callOptions: () => ({ deadline: Date.now() + authTimeoutMs }),
    };
  }
  if (config.tls) {
    const read = (path: string | undefined): Buffer | undefined => {
      if (path === undefined) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new BackendStorageError(`cannot read etcd TLS file ${path}: ${(err as Error).message}`, err);
      }
    };
    options.credentials = {
      // grpc accepts a missing root certificate (it then uses the system's CAs).
      rootCertificate: read(config.tls.ca) as Buffer,
      privateKey: read(config.tls.key),
      certChain: read(config.tls.cert),
    };
  }
  return options;
}
