import pg from 'pg';
import type { Logger } from 'pino';
import { BackendStorageError, BackendUnavailableError } from '../../errors.js';
import { translatePgError } from './pg-errors.js';

/** Server-side limits each connection sets for its session (ms). */
export interface PgSessionTimeouts {
  statementMs: number;
  lockMs: number;
  idleInTransactionMs: number;
}

/** How every connection of the backend is opened. */
export interface PgConnectOptions {
  /** `pg` client settings: connection string, TLS, application_name. */
  client: pg.ClientConfig;
  /**
   * Set with `set_config` once connected rather than as startup parameters, which a pooler such
   * as PgBouncer refuses unless configured to ignore them.
   */
  timeouts: PgSessionTimeouts;
  /** Runs on each new connection before its first query (checks, LISTEN); may throw lockd errors. */
  onConnect?: (client: pg.Client) => Promise<void>;
  /** Called when the current connection is closed or lost (what was held in it is gone). */
  onDisconnect?: () => void;
  logger: Logger;
}

/**
 * One PostgreSQL connection that lockd's own deadlines govern: it connects on first use (and
 * refuses a hot standby with `BackendStorageError`), every
 * call races a deadline (covering the connect and the wait behind earlier calls on the same
 * connection), and a connection whose call timed out or failed at the transport is destroyed and
 * replaced on the next call, since a timed-out query wedges a `pg` client and a blackholed socket
 * would otherwise wait for TCP's own timeouts. `generation` counts connections made, so a caller
 * can tell that a reconnect happened (a NOTIFY may have been lost, a failover may have happened).
 */
export class PgLink {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private closed = false;
  /** Calls started and not yet settled, to spread calls over several links. */
  inFlight = 0;
  generation = 0;
  /** The server process of the current connection (`pg_backend_pid()` when it was made). */
  backendPid: number | undefined;

  constructor(
    private readonly options: PgConnectOptions,
    private readonly label: string,
  ) {}

  /**
   * Runs one statement. Rejects with `BackendUnavailableError` when it does not complete within
   * `deadlineMs` (the outcome of a write is then unknown) or the connection fails, and with the
   * translated server error otherwise; `what` names the call in messages. With `prepared`, the
   * statement (one, with no session state of its own) is parsed and planned once per connection
   * and then only bound and executed: the contract calls, a round trip each, save the server's
   * parse and plan on every call. Setup statements stay unnamed: a pooler in transaction mode,
   * which loses prepared statements between transactions, must meet the session check first.
   */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[], deadlineMs: number, what: string, prepared = false): Promise<R[]> {
    if (this.closed) throw new BackendUnavailableError(`postgres backend: ${what}: closed`);
    this.inFlight++;
    let timer: NodeJS.Timeout | undefined;
    let used: pg.Client | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // The connection may hold the late answer of this call: never reuse it.
        this.drop(used);
        reject(new BackendUnavailableError(`postgres backend: ${what}: no answer within ${deadlineMs} ms`));
      }, deadlineMs);
    });
    try {
      const run = async (): Promise<R[]> => {
        used = await this.connected();
        return (await used.query<R>(prepared ? { name: statementName(text), text, values } : { text, values })).rows;
      };
      return await Promise.race([run(), deadline]);
    } catch (err) {
      const translated = translatePgError(err, what);
      // A server error with an SQLSTATE leaves the connection usable; anything else does not.
      if (typeof (err as { code?: unknown }).code !== 'string' || translated.retryable) this.drop(used);
      throw translated;
    } finally {
      clearTimeout(timer);
      this.inFlight--;
    }
  }

  /** Destroys the connection now (no goodbye: the socket may be blackholed). Idempotent. */
  close(): void {
    this.closed = true;
    this.drop(this.client);
  }

  private connected(): Promise<pg.Client> {
    if (this.client !== undefined) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client(this.options.client);
    // Without a listener a transport error would crash the process; the next call reconnects.
    client.on('error', (err) => {
      this.options.logger.debug({ link: this.label, err: err.message }, 'connection failed');
      this.drop(client);
    });
    client.on('end', () => this.drop(client));
    try {
      await client.connect();
      const { statementMs, lockMs, idleInTransactionMs } = this.options.timeouts;
      const { rows } = await client.query<{ standby: boolean; pid: number }>(
        `SELECT pg_is_in_recovery() AS standby, pg_backend_pid() AS pid, set_config('statement_timeout', $1, false),
           set_config('lock_timeout', $2, false), set_config('idle_in_transaction_session_timeout', $3, false)`,
        [`${statementMs}ms`, `${lockMs}ms`, `${idleInTransactionMs}ms`],
      );
      if (rows[0]?.standby) {
        throw new BackendStorageError('postgres backend: the server is a hot standby (pg_is_in_recovery()); point backend.url at the primary');
      }
      this.backendPid = rows[0]?.pid;
      await this.options.onConnect?.(client);
    } catch (err) {
      destroy(client);
      throw err;
    }
    if (this.closed) {
      destroy(client);
      throw new BackendUnavailableError('postgres backend: closed');
    }
    this.client = client;
    this.generation++;
    return client;
  }

  private drop(client: pg.Client | undefined): void {
    if (client === undefined) return;
    destroy(client);
    if (this.client !== client) return;
    this.client = undefined;
    this.options.onDisconnect?.();
  }
}

/** Prepared statement names by text: a name always stands for one text, in every connection. */
const statementNames = new Map<string, string>();

/** The name `text` is prepared under (`lockd_<n>`); the texts are the stores' fixed statements, so the map stays small. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `lockd_${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name;
}

/** Closes a client's socket at once, without the protocol's goodbye. */
function destroy(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  client.end().catch(() => undefined);
}
