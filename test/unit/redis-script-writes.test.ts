import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SCRIPTS } from '../../src/election/redis/redis-scripts.js';

/** Commands that change data or replicate (PUBLISH); a script calling one must wait for replicas. */
const WRITES = /^(SET|INCR|HSET|HDEL|HINCRBY|ZADD|ZREM|DEL|UNLINK|PUBLISH|EXPIRE|PEXPIRE)$/;
/** The prelude's helpers that write. */
const WRITING_HELPERS = /\b(prune|next_token|write_value)\(/;

/** Each script's own body: its source without the prelude all scripts share. */
function bodies(): Map<string, { body: string; writes: boolean }> {
  const all = Object.values(SCRIPTS);
  let shared = all[0]?.source.length ?? 0;
  for (const s of all) while (!s.source.startsWith((all[0]?.source ?? '').slice(0, shared))) shared--;
  // Cut at a line start, so that bodies beginning alike keep their first line.
  shared = (all[0]?.source ?? '').lastIndexOf('\n', shared) + 1;
  return new Map(all.map((s) => [s.name, { body: s.source.slice(shared), writes: s.writes }]));
}

describe('redis scripts: which ones wait for replicas (min_replicas_ack)', () => {
  it('flags exactly the scripts that call a writing command or helper', () => {
    for (const [name, { body, writes }] of bodies()) {
      const commands = [...body.matchAll(/redis\.call\('([A-Z]+)'/g)].map((m) => m[1] as string);
      const changes = commands.some((c) => WRITES.test(c)) || WRITING_HELPERS.test(body);
      assert.equal(writes, changes, `${name}: writes=${writes}, but its commands are ${commands.join(', ')}`);
    }
  });
});
