/**
 * lockd's tables and functions in its own schema (`backend.schema`, default `lockd`). Every
 * contract operation is one statement or one function call, so no transaction stays open across
 * round trips and a paused client never sits on row locks. Times are always `clock_timestamp()`
 * (the server's clock at the statement), never `now()`; no decision rests on them alone (see
 * src/election/rows/silence-watch.ts).
 *
 * - `counters`: one row per cluster; its row lock serializes a cluster's queue mutations, and its
 *   value is the fencing token of the next holder row.
 * - `sessions`: one row per open Backend; `renewals` counts its renewals (the reaper's proof of
 *   life), `renewed_at` and `expires_at` are the server's view of its last renewal and its TTL.
 * - `holders`: one row per candidate, lock or seat waiter (`hold` tells apart the several seats of
 *   one set a session may hold: `''` for a lock or the election); the holder of (cluster, name) is its
 *   row with the lowest token (the holders of a seat set of k seats: its rows with fewer than k
 *   rows of lower token; k is the callers', not stored); the foreign key makes a reap of a session take its rows with it, and makes
 *   a row in a session being reaped impossible.
 * - `kv`: data keys; `rev` from a sequence, so a watcher can tell a prefix changed.
 *
 * Each change someone may wait for calls `pg_notify('<schema>_changes', cluster)` (delivered at
 * commit): a release with waiters (`releaseStatement`), a reap, a session's end, a data write.
 */

/** The schema this code reads and writes; a database with another version is refused. */
export const PG_SCHEMA_VERSION = 3;

/** The NOTIFY channel of a schema. */
export function changeChannel(schema: string): string {
  return `${schema}_changes`;
}

/** The DDL that creates version `PG_SCHEMA_VERSION` in `schema` (a checked identifier). */
export function schemaDdl(schema: string): string {
  const s = `"${schema}"`;
  const notify = `PERFORM pg_notify('${changeChannel(schema)}', p_cluster)`;
  return `
CREATE TABLE ${s}.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE ${s}.counters (cluster text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE ${s}.sessions (
  id uuid PRIMARY KEY,
  cluster text NOT NULL,
  info jsonb NOT NULL,
  backend_pid int NOT NULL DEFAULT pg_backend_pid(),
  renewals bigint NOT NULL DEFAULT 0,
  renewed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_by_cluster ON ${s}.sessions (cluster);
CREATE TABLE ${s}.holders (
  cluster text NOT NULL,
  token bigint NOT NULL,
  name text NOT NULL,
  session uuid NOT NULL REFERENCES ${s}.sessions ON DELETE CASCADE,
  info text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  hold text NOT NULL DEFAULT '',
  PRIMARY KEY (cluster, token),
  CONSTRAINT holders_one_row_per_hold UNIQUE (cluster, name, session, hold)
);
CREATE INDEX holders_by_name ON ${s}.holders (cluster, name, token);
CREATE INDEX holders_by_session ON ${s}.holders (session);
CREATE SEQUENCE ${s}.revisions;
CREATE TABLE ${s}.kv (
  cluster text NOT NULL,
  key text COLLATE "C" NOT NULL,
  value text NOT NULL,
  rev bigint NOT NULL,
  PRIMARY KEY (cluster, key)
);

${enqueueDdl(s, 'CREATE')}

-- Extends a session and deletes its stale rows; false when it is gone (never revived).
CREATE FUNCTION ${s}.renew(p_cluster text, p_session uuid, p_ttl_ms int, p_stale bigint[])
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ${s}.sessions SET renewals = renewals + 1, renewed_at = clock_timestamp(),
      expires_at = clock_timestamp() + p_ttl_ms * interval '1 millisecond'
    WHERE id = p_session;
  IF NOT FOUND THEN RETURN false; END IF;
  IF cardinality(p_stale) > 0 THEN
    DELETE FROM ${s}.holders WHERE cluster = p_cluster AND session = p_session AND token = ANY (p_stale);
    ${notify};
  END IF;
  RETURN true;
END $$;

-- Deletes a session that stayed silent: only while its renewal count is still p_renewals, and
-- the server's clock also says it expired, or went back since its last renewal (then its expiry
-- would hold a dead session for as long as the step; the caller's observed silence decides).
-- True when it was reaped.
CREATE FUNCTION ${s}.reap(p_cluster text, p_session uuid, p_renewals bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ${s}.sessions WHERE id = p_session AND cluster = p_cluster AND renewals = p_renewals
    AND (expires_at < clock_timestamp() OR clock_timestamp() < renewed_at);
  IF NOT FOUND THEN RETURN false; END IF;
  ${notify};
  RETURN true;
END $$;

CREATE FUNCTION ${s}.end_session(p_cluster text, p_session uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ${s}.sessions WHERE id = p_session;
  IF FOUND THEN ${notify}; END IF;
END $$;

-- Writes p_key = p_value if every guard (p_sessions[i], p_names[i], p_tokens[i]) still holds:
-- its row exists (so its session was not reaped) and no row of its name is older. The guard rows
-- are locked FOR KEY SHARE: a concurrent reap waits for this commit, so the write precedes it or
-- is refused. Returns 'ok', 'exists' (p_if_absent and the key exists) or 'lost:<i>' (1-based).
CREATE FUNCTION ${s}.guarded_put(p_cluster text, p_sessions uuid[], p_names text[], p_tokens bigint[],
  p_key text, p_value text, p_if_absent boolean)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. cardinality(p_tokens) LOOP
    PERFORM 1 FROM ${s}.holders WHERE cluster = p_cluster AND token = p_tokens[i] AND session = p_sessions[i]
      AND name = p_names[i] FOR KEY SHARE;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM ${s}.holders WHERE cluster = p_cluster AND name = p_names[i]
        AND token < p_tokens[i]) THEN
      RETURN 'lost:' || i;
    END IF;
  END LOOP;
  IF p_if_absent THEN
    INSERT INTO ${s}.kv (cluster, key, value, rev) VALUES (p_cluster, p_key, p_value, nextval('${s}.revisions'))
      ON CONFLICT (cluster, key) DO NOTHING;
    IF NOT FOUND THEN RETURN 'exists'; END IF;
  ELSE
    INSERT INTO ${s}.kv (cluster, key, value, rev) VALUES (p_cluster, p_key, p_value, nextval('${s}.revisions'))
      ON CONFLICT (cluster, key) DO UPDATE SET value = excluded.value, rev = excluded.rev;
  END IF;
  ${notify};
  RETURN 'ok';
END $$;

CREATE FUNCTION ${s}.put_value(p_cluster text, p_key text, p_value text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ${s}.kv (cluster, key, value, rev) VALUES (p_cluster, p_key, p_value, nextval('${s}.revisions'))
    ON CONFLICT (cluster, key) DO UPDATE SET value = excluded.value, rev = excluded.rev;
  ${notify};
END $$;

CREATE FUNCTION ${s}.delete_value(p_cluster text, p_key text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM ${s}.kv WHERE cluster = p_cluster AND key = p_key;
  IF FOUND THEN ${notify}; END IF;
END $$;

INSERT INTO ${s}.meta (key, value) VALUES ('format', 'lockd'), ('schema_version', '${PG_SCHEMA_VERSION}');
`;
}

/**
 * The queueing function (see `RowStore.insertHolder`): idempotent per (session, name, hold), so a
 * retry after a lost reply finds the row it queued. A session reaped between its check and the
 * insert fails the insert on the foreign key (SQLSTATE 23503), which `PgStore` reads as "session
 * gone": no exception block, whose subtransaction every call would pay for.
 */
function enqueueDdl(s: string, create: 'CREATE' | 'CREATE OR REPLACE'): string {
  return `-- Queues a row for p_name in p_session (hold p_hold); returns its token, the existing one on a
-- retry, NULL when p_only_if_free and the name has p_capacity rows or more (1 for a lock: any
-- row), -1 when the session is gone.
${create} FUNCTION ${s}.enqueue(p_cluster text, p_name text, p_session uuid, p_hold text, p_info text,
  p_only_if_free boolean, p_capacity int)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE fresh bigint; t bigint;
BEGIN
  -- Bumped first, which also takes the counter's row lock; a call that inserts nothing leaves a
  -- gap in the tokens, which stay strictly increasing.
  UPDATE ${s}.counters SET value = value + 1 WHERE cluster = p_cluster RETURNING value INTO fresh;
  SELECT h.token INTO t FROM ${s}.sessions se LEFT JOIN ${s}.holders h
    ON h.cluster = p_cluster AND h.name = p_name AND h.session = se.id AND h.hold = p_hold
    WHERE se.id = p_session;
  IF NOT FOUND THEN RETURN -1; END IF;
  IF t IS NOT NULL THEN RETURN t; END IF;
  IF p_only_if_free AND (SELECT count(*) FROM ${s}.holders WHERE cluster = p_cluster AND name = p_name) >= p_capacity THEN
    RETURN NULL;
  END IF;
  -- No NOTIFY: a row at the back of a queue changes nobody's turn.
  INSERT INTO ${s}.holders (cluster, token, name, session, hold, info) VALUES (p_cluster, fresh, p_name, p_session, p_hold, p_info);
  RETURN fresh;
END $$;`;
}

/**
 * Deletes holder row (`$3` = token) of session `$2` in cluster `$1`, in one statement, and
 * notifies only when rows of its name remain (a release nobody waits for wakes nobody). The
 * `EXISTS` reads the statement's snapshot, which still shows the deleted row: hence `token <> $3`.
 */
export function releaseStatement(schema: string): string {
  const s = `"${schema}"`;
  return `WITH gone AS (DELETE FROM ${s}.holders WHERE cluster = $1 AND token = $3 AND session = $2 RETURNING name)
SELECT pg_notify('${changeChannel(schema)}', $1) FROM gone
WHERE EXISTS (SELECT 1 FROM ${s}.holders h WHERE h.cluster = $1 AND h.name = gone.name AND h.token <> $3)`;
}

/**
 * Brings a version 1 schema to version 2 (the `hold` column: a session may hold several seats of
 * one set) in the caller's transaction; `upgradeFrom2Ddl` follows. A lockd of version 1 still
 * running fails its queueing calls from then on (the function it calls is gone): a failed write,
 * which never starts a job; one starting refuses the schema's version.
 */
export function upgradeFrom1Ddl(schema: string): string {
  const s = `"${schema}"`;
  return `
ALTER TABLE ${s}.holders ADD COLUMN hold text NOT NULL DEFAULT '';
ALTER TABLE ${s}.holders DROP CONSTRAINT holders_cluster_name_session_key;
ALTER TABLE ${s}.holders ADD CONSTRAINT holders_one_row_per_hold UNIQUE (cluster, name, session, hold);
DROP FUNCTION ${s}.enqueue(text, text, uuid, text, boolean, int);
${enqueueDdl(s, 'CREATE')}
UPDATE ${s}.meta SET value = '2' WHERE key = 'schema_version';
`;
}

/**
 * Brings a version 2 schema to version 3 (fewer statements per call: `enqueue` bumps the counter
 * first and has no exception block; release is one statement, `releaseStatement`) in the caller's transaction. A
 * lockd of version 2 still running fails its releases from then on (the function is gone); its
 * renewals delete the rows a failed release leaves, so a lock it held is free within one renewal.
 */
export function upgradeFrom2Ddl(schema: string): string {
  const s = `"${schema}"`;
  return `
${enqueueDdl(s, 'CREATE OR REPLACE')}
DROP FUNCTION ${s}.release(text, uuid, bigint);
UPDATE ${s}.meta SET value = '3' WHERE key = 'schema_version';
`;
}
