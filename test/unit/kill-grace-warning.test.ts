import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { killGraceWarning } from '../../src/cli/validate-command.js';
import { parseConfig } from '../../src/config/load.js';

const config = (ttl: string, jobs: string): ReturnType<typeof parseConfig> =>
  parseConfig(`backend:\n  type: etcd\n  endpoints: [http://127.0.0.1:2379]\nleader:\n  ttl: ${ttl}\njobs:\n${jobs}`, 'lockd.yaml', {});

describe('lockd validate: kill_grace against the self-fencing window', () => {
  it('warns for jobs whose kill_grace a lease loss cannot allow, naming the effective value', () => {
    const warning = killGraceWarning(
      config('10s', '  slow:\n    schedule: "@hourly"\n    run: "true"\n  quick:\n    schedule: "@hourly"\n    run: "true"\n    kill_grace: 1s\n'),
    );
    assert.equal(
      warning,
      'kill_grace of slow is longer than a lease loss allows (etcd, leader.ttl 10s): on lease loss SIGKILL follows SIGTERM after 2s; timeouts and shutdown keep the full kill_grace',
    );
  });

  it('says nothing when every kill_grace fits', () => {
    assert.equal(killGraceWarning(config('30s', '  a:\n    schedule: "@hourly"\n    run: "true"\n')), undefined);
  });
});
