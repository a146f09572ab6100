import type { BackendConfig } from '../config/types.js';
import type { Backend, BackendCommonOptions } from './backend.js';

/**
 * Opens the backend a config names. Each backend module is loaded only when used, so the
 * embedded default never loads the etcd, ZooKeeper, PostgreSQL or Redis clients. Fails with `BackendUnavailableError`
 * or `BackendStorageError` (never a driver error) when the backend cannot be opened.
 */
export async function createBackend(config: BackendConfig, common: BackendCommonOptions): Promise<Backend> {
  switch (config.type) {
    case 'embedded': {
      const { createEmbeddedBackend } = await import('./embedded/embedded-backend.js');
      return createEmbeddedBackend(config, common);
    }
    case 'etcd': {
      const { createEtcdBackend } = await import('./etcd/etcd-backend.js');
      return createEtcdBackend(config, common);
    }
    case 'zookeeper': {
      const { createZooKeeperBackend } = await import('./zookeeper/zookeeper-backend.js');
      return createZooKeeperBackend(config, common);
    }
    case 'postgres': {
      const { createPostgresBackend } = await import('./postgres/postgres-backend.js');
      return createPostgresBackend(config, common);
    }
    case 'redis': {
      const { createRedisBackend } = await import('./redis/redis-backend.js');
      return createRedisBackend(config, common);
    }
  }
}
