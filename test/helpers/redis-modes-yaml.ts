/**
 * The `backend:` section of a process test's config (two-space indented, as the cluster helpers
 * expect) for Redis through Sentinel, with every write confirmed by one replica (`WAIT 1`).
 */
export function sentinelYaml(master: string, nodes: readonly string[]): string {
  return [`  type: redis`, `  sentinel:`, `    master: ${master}`, `    nodes: [${nodes.join(', ')}]`, `    min_replicas_ack: 1`].join('\n');
}

/** The `backend:` section for Redis in Redlock mode on the primaries at `urls`. */
export function redlockYaml(urls: readonly string[]): string {
  return `  type: redis\n  redlock: [${urls.join(', ')}]`;
}
