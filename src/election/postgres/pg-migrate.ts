import { BackendStorageError } from '../../errors.js';
import type { PgLink } from './pg-link.js';
import { PG_SCHEMA_VERSION, schemaDdl, upgradeFrom1Ddl, upgradeFrom2Ddl } from './pg-schema.js';

/** Serializes concurrent first starts: a transaction-level advisory lock in lockd's own key space. */
const MIGRATION_LOCK = { namespace: 0x6c6f636b, key: 1 };

/**
 * Creates lockd's schema `schema` in one transaction when it has no lockd tables yet (several
 * replicas starting at once take turns on an advisory lock, and the later ones find it made),
 * checks its format and version otherwise (a version 1 or 2 schema is upgraded in the same
 * transaction: `upgradeFrom1Ddl`, `upgradeFrom2Ddl`), and adds the counter row of `cluster`. Throws
 * `BackendStorageError` when the schema holds another version or tables that are not lockd's, or
 * the role may not create them.
 */
export async function migrate(link: PgLink, schema: string, cluster: string, deadlineMs: number): Promise<void> {
  const s = `"${schema}"`;
  const q = <R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> =>
    link.query<R>(text, values, deadlineMs * 4, 'schema setup');
  await q('BEGIN');
  try {
    // Replicas starting together queue on the lock below while the first creates the schema: the
    // session's lock timeout (a fraction of the margin, for contract calls) is far too short here.
    await q("SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $1, true)", [`${deadlineMs * 4}ms`]);
    await q('SELECT pg_advisory_xact_lock($1, $2)', [MIGRATION_LOCK.namespace, MIGRATION_LOCK.key]);
    const [found] = await q<{ meta: string | null }>('SELECT to_regclass($1)::text AS meta', [`${s}.meta`]);
    if (found?.meta === null) {
      // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists: a
      // role given only an empty schema of its own must not need it.
      const [namespace] = await q<{ oid: string | null }>('SELECT to_regnamespace($1)::text AS oid', [`"${schema}"`]);
      if (namespace?.oid === null) await q(`CREATE SCHEMA ${s}`);
      await q(schemaDdl(schema));
    }
    const meta = new Map(
      (await q<{ key: string; value: string }>(`SELECT key, value FROM ${s}.meta WHERE key IN ('format', 'schema_version')`)).map((r) => [r.key, r.value]),
    );
    if (meta.get('format') !== 'lockd') throw new BackendStorageError(`postgres backend: schema ${schema} has a meta table without the lockd marker`);
    if (meta.get('schema_version') === '1') {
      await q(upgradeFrom1Ddl(schema));
      meta.set('schema_version', '2');
    }
    if (meta.get('schema_version') === '2') {
      await q(upgradeFrom2Ddl(schema));
      meta.set('schema_version', '3');
    }
    if (meta.get('schema_version') !== String(PG_SCHEMA_VERSION)) {
      throw new BackendStorageError(
        `postgres backend: schema ${schema} has lockd schema version ${meta.get('schema_version')}; this lockd reads version ${PG_SCHEMA_VERSION}`,
      );
    }
    await q(`INSERT INTO ${s}.counters (cluster, value) VALUES ($1, 0) ON CONFLICT (cluster) DO NOTHING`, [cluster]);
    await q('COMMIT');
  } catch (err) {
    await q('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
