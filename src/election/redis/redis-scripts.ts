import { createHash } from 'node:crypto';

/**
 * lockd's Lua scripts: one per contract operation, so each is atomic on the primary and one round
 * trip. Every script declares every key it touches (all under the cluster's hash tag, one slot;
 * see redis-keys.ts) and takes the change channel as an argument (channels are not keys).
 *
 * Layout (P = `lockd:{<cluster>}:`):
 * - `P meta` hash: `format` = lockd, `version` = REDIS_FORMAT_VERSION, `epoch` = a random id
 *   written when the layout is created; after a loss of the data (see `recover`) also
 *   `lost_epoch`, `lost_after` (ms: the latest time a lockd saw the lost data intact) and
 *   `lost_at` (the server's ms when the loss was recorded).
 * - `P rev` counter: INCR'd for every fencing token and every kv revision.
 * - `P sess` hash sid → session info; `P ren` hash sid → renewal count; `P exp` zset sid → expiry
 *   (ms by the server's `TIME`); `P rtime` hash sid → the server's `TIME` (ms) of its open or last
 *   renewal. A session exists while it is in `sess`; the four go together (`rtime` may be missing
 *   for a session written by an older lockd: then only the expiry counts).
 * - `P q:<name>` zset member → token (the queue of a name: `leader`, `lock/<x>`, `seat/<x>`),
 *   `P qi:<name>` hash member → holder info. A member is the session's sid, or `sid#<hold>` for
 *   each seat hold of a session that holds several seats of one set (`sid_of` strips the hold).
 *   The holder of a name is its entry with the lowest token **whose session exists** (of a seat
 *   set of k seats: each such entry with fewer than k ahead).
 * - `P kv` hash key → value, `P kvrev` hash key → revision, `P kvidx` zset (score 0) of the keys,
 *   for ZRANGEBYLEX prefix ranges (byte order, which for UTF-8 is code point order).
 *
 * Queue entries of a session that ended or was reaped are **pruned lazily**: reap and end-session
 * touch only `sess`/`ren`/`exp`/`rtime` (so they need not know, or declare, the queues a session
 * was in); every queue script ignores entries whose session is gone, and the writing ones (enqueue) delete
 * them. Sessions are never revived (random ids; renew refuses a missing one), so an ignored entry
 * stays dead. The cost: a queue nobody enqueues on again keeps its dead entries (a few bytes).
 *
 * Fencing tokens are `max(rev + 1, server time in µs)` (`next_token`), so they keep growing when a
 * restart without persistence, or AOF `everysec`, loses the counter's tail (as long as the
 * server's clock is not set back further than what was lost); µs since 1970 (~1.8e15) stay far
 * below 2^53.
 *
 * **Epoch check.** Every script but `init`, `recover` and `reap` takes `P meta` as its first key and the
 * epoch the caller opened as its first argument, and refuses to run (error reply `LOCKDEPOCH
 * <epoch found>`, nothing read or written) unless the meta holds that epoch: a restart that lost
 * the data (no persistence, a wiped AOF/RDB, FLUSHALL) is noticed by the very next call of every
 * lockd, before it reads or writes anything of the new, empty keyspace. The prelude takes the two
 * off KEYS and ARGV, so each body indexes its own keys and arguments from 1.
 *
 * No Redis key TTL is used: a session dies only by `reap` (rules in silence-watch.ts) or by its
 * owner ending it, so a server clock step cannot expire anything. Tokens and revisions are
 * integers below 2^53 (exact as Lua numbers and zset scores), returned as strings formatted with
 * `%d` (Lua's `tostring` would use `%.14g`).
 */

/**
 * The layout this code reads and writes; a store with another version is refused, except version 1
 * (before queue members could be `sid#<hold>`), whose data is valid version 2 data: it is marked 2
 * on open, so a lockd of version 1 starting later refuses it (one still running would take the
 * `sid#<hold>` members of seat sets for dead sessions: replace every replica when upgrading).
 */
export const REDIS_FORMAT_VERSION = 2;
/** The version `init` upgrades in place to REDIS_FORMAT_VERSION. */
export const REDIS_UPGRADABLE_VERSION = 1;
/** The marker in `meta.format` that says the keys are lockd's. */
export const REDIS_FORMAT = 'lockd';

/** A script with its SHA1, for EVALSHA (EVAL when the server's script cache lacks it). */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
  /** Whether it may change data: only such scripts wait for replicas (`min_replicas_ack`). */
  readonly writes: boolean;
}

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n) return string.format('%d', n) end
local function sid_of(m) return (string.match(m, '^[^#]+')) end
local function alive(sess, m) return redis.call('HEXISTS', sess, sid_of(m)) == 1 end
local function prune(sess, q, qi)
  local changed = false
  for _, m in ipairs(redis.call('ZRANGE', q, 0, -1)) do
    if not alive(sess, m) then
      redis.call('ZREM', q, m)
      redis.call('HDEL', qi, m)
      changed = true
    end
  end
  return changed
end
local function next_token(rev)
  local t = redis.call('INCR', rev)
  local time = redis.call('TIME')
  local floor = tonumber(time[1]) * 1000000 + tonumber(time[2])
  if t < floor then
    redis.call('SET', rev, int(floor))
    t = floor
  end
  return t
end
local function write_value(rev, kv, kvrev, kvidx, key, value)
  local r = redis.call('INCR', rev)
  redis.call('HSET', kv, key, value)
  redis.call('HSET', kvrev, key, int(r))
  redis.call('ZADD', kvidx, 0, key)
end
`;

/** Takes `P meta` and the caller's epoch off KEYS and ARGV; refuses the call when the meta holds another epoch, or none. */
const EPOCH_CHECK = `
local META, EPOCH = table.remove(KEYS, 1), table.remove(ARGV, 1)
local found_epoch = redis.call('HGET', META, 'epoch')
if found_epoch ~= EPOCH then return redis.error_reply('LOCKDEPOCH ' .. (found_epoch or '')) end
`;

/** The error reply prefix of a failed epoch check. */
export const EPOCH_MISMATCH = 'LOCKDEPOCH';

/** The scripts that never change data (no replica confirmation needed: see redis-replica-ack.ts). */
const READ_ONLY = new Set(['turn', 'liveRows', 'list', 'fingerprint', 'dataLoss', 'tokenRead', 'turnAhead']);
/**
 * The scripts that run without the epoch check: `init` and `recover` create or adopt the epoch;
 * `reap` deletes a session only if it still has the renewal count the reaper read (a random
 * session id never recurs in other data, so in lost-and-replaced data it finds nothing to delete),
 * and runs on the reaper's connection, which the store does not drive; `bootMark` (Redlock) reads
 * the server's boot marker, which is about the server, not about a cluster's data.
 */
const UNCHECKED = new Set(['init', 'recover', 'reap', 'bootMark']);

function script(name: string, body: string): LuaScript {
  const source = `${PRELUDE}\n${UNCHECKED.has(name) ? '' : EPOCH_CHECK}\n${body.trim()}\n`;
  return { name, source, sha1: createHash('sha1').update(source).digest('hex'), writes: !READ_ONLY.has(name) };
}

export const SCRIPTS = {
  /**
   * KEYS meta; ARGV format, version, the version it upgrades, a new epoch id. Creates the meta hash
   * with the new epoch (a missing meta is a new layout: nothing tells it from a wiped one, see
   * `recover`), gives an epoch to a meta an older lockd wrote without one, marks the upgradable
   * version as the current one; returns 'epoch:<epoch>', or 'format:<f>:<v>' for a foreign or
   * newer layout (untouched).
   */
  init: script(
    'init',
    `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'format', ARGV[1], 'version', ARGV[2], 'epoch', ARGV[4])
  return 'epoch:' .. ARGV[4]
end
local f = redis.call('HGET', KEYS[1], 'format') or ''
local v = redis.call('HGET', KEYS[1], 'version') or ''
if f ~= ARGV[1] or (v ~= ARGV[2] and v ~= ARGV[3]) then return 'format:' .. f .. ':' .. v end
if v == ARGV[3] then redis.call('HSET', KEYS[1], 'version', ARGV[2]) end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[4])
return 'epoch:' .. redis.call('HGET', KEYS[1], 'epoch')
`,
  ),

  /**
   * KEYS meta; ARGV format, version, the epoch the caller opened (now gone), a new epoch id, the
   * caller's last time (ms) it saw its epoch intact. Run by a lockd whose call found another epoch
   * or none: its data was lost. Returns {epoch now in force, how}:
   * - 'created': no meta (the server restarted empty): a new layout with the new epoch, recording
   *   the loss of the caller's epoch (`lost_epoch`, `lost_after`, `lost_at` = the server's now);
   * - 'marked': a layout without a recorded loss (made by a lockd that had known no data, e.g.
   *   one that started after the restart): the loss of the caller's epoch is recorded in it;
   * - 'joined': the loss of the caller's epoch is recorded already: `lost_after` becomes the later
   *   of the two times, so that it ends up the latest time any lockd saw the old data;
   * - 'stale': the layout records another loss (the caller missed more than one): nothing changes.
   * 'format:<f>:<v>' for a foreign or newer layout (untouched).
   */
  recover: script(
    'recover',
    `
local now = int(now_ms())
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'format', ARGV[1], 'version', ARGV[2], 'epoch', ARGV[4], 'lost_epoch', ARGV[3], 'lost_after', ARGV[5], 'lost_at', now)
  return {ARGV[4], 'created'}
end
local f = redis.call('HGET', KEYS[1], 'format') or ''
local v = redis.call('HGET', KEYS[1], 'version') or ''
if f ~= ARGV[1] or v ~= ARGV[2] then return {'', 'format:' .. f .. ':' .. v} end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[4])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local lost = redis.call('HGET', KEYS[1], 'lost_epoch')
if not lost then
  redis.call('HSET', KEYS[1], 'lost_epoch', ARGV[3], 'lost_after', ARGV[5], 'lost_at', now)
  return {epoch, 'marked'}
end
if lost ~= ARGV[3] then return {epoch, 'stale'} end
if tonumber(redis.call('HGET', KEYS[1], 'lost_after') or '0') < tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[1], 'lost_after', ARGV[5])
end
return {epoch, 'joined'}
`,
  ),

  /**
   * KEYS (none besides meta); ARGV (none besides the epoch). Read only: the loss the meta records,
   * {lost_epoch, lost_after ms, lost_at ms, the server's now ms}, or an empty array for none.
   */
  dataLoss: script(
    'dataLoss',
    `
local lost = redis.call('HGET', META, 'lost_epoch')
if not lost then return {} end
return {lost, redis.call('HGET', META, 'lost_after') or '0', redis.call('HGET', META, 'lost_at') or '0', int(now_ms())}
`,
  ),

  /** KEYS sess, ren, exp, rtime; ARGV sid, ttl ms, info. Inserts the session (no-op when it exists). */
  openSession: script(
    'openSession',
    `
if alive(KEYS[1], ARGV[1]) then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], '0')
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], int(now))
return 1
`,
  ),

  /**
   * KEYS sess, ren, exp, rtime, then (q, qi) per stale entry; ARGV sid, ttl ms, channel, then
   * (member, token) per stale entry. 0 when the session is gone (never revived); else counts the
   * renewal, extends the expiry, records the renewal's server time and deletes the stale entries
   * (only where the token still matches).
   */
  renew: script(
    'renew',
    `
local sid = ARGV[1]
if not alive(KEYS[1], sid) then return 0 end
local now = now_ms()
redis.call('HINCRBY', KEYS[2], sid, 1)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), sid)
redis.call('HSET', KEYS[4], sid, int(now))
local changed = false
for i = 4, #ARGV, 2 do
  local q, qi, m = KEYS[5 + (i - 4)], KEYS[6 + (i - 4)], ARGV[i]
  local score = redis.call('ZSCORE', q, m)
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', q, m)
    redis.call('HDEL', qi, m)
    changed = true
  end
end
if changed then redis.call('PUBLISH', ARGV[3], 'q') end
return 1
`,
  ),

  /** KEYS sess, ren, exp, rtime; ARGV sid, channel. Deletes the session (its queue entries die with it). */
  endSession: script(
    'endSession',
    `
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
if n == 1 then redis.call('PUBLISH', ARGV[2], 's') end
return n
`,
  ),

  /**
   * KEYS sess, ren, exp, rtime; ARGV sid, observed renewal count, channel. Deletes the session only
   * if its count is still the observed one (the reaper saw it unchanged for the TTL) AND either
   * the server's clock says it expired or the server's clock is before the time of its last
   * renewal (the clock was set back: its expiry lies that much too far ahead, and would hold a
   * dead holder's names for as long; the observed silence alone proves the owner stopped
   * vouching, as in PostgreSQL's `reap`). 1 when reaped.
   */
  reap: script(
    'reap',
    `
local r = redis.call('HGET', KEYS[2], ARGV[1])
if not r or r ~= ARGV[2] then return 0 end
local now = now_ms()
local e = redis.call('ZSCORE', KEYS[3], ARGV[1])
local renewed = redis.call('HGET', KEYS[4], ARGV[1])
local stepped_back = renewed and now < tonumber(renewed)
if e and tonumber(e) >= now and not stepped_back then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[3], 's')
return 1
`,
  ),

  /**
   * KEYS rev, sess, q, qi; ARGV member, info, has info ('1'/'0'), only if free ('1'/'0'), channel,
   * capacity. Returns the entry's token (the existing one on a retry), '-1' when the session is
   * gone, nil when only-if-free and the name has `capacity` or more live entries (a lock: 1).
   * Prunes dead entries first, and publishes only when it did: an entry at the back of a queue
   * changes nobody's turn.
   */
  enqueue: script(
    'enqueue',
    `
local member = ARGV[1]
if not alive(KEYS[2], member) then return '-1' end
local changed = prune(KEYS[2], KEYS[3], KEYS[4])
local mine = redis.call('ZSCORE', KEYS[3], member)
local result = false
if mine then
  result = int(tonumber(mine))
elseif ARGV[4] ~= '1' or redis.call('ZCARD', KEYS[3]) < tonumber(ARGV[6]) then
  local t = next_token(KEYS[1])
  redis.call('ZADD', KEYS[3], t, member)
  if ARGV[3] == '1' then redis.call('HSET', KEYS[4], member, ARGV[2]) end
  result = int(t)
end
if changed then redis.call('PUBLISH', ARGV[5], 'q') end
return result
`,
  ),

  /**
   * KEYS q, qi; ARGV member, token, channel. Deletes the entry if it still has that token; publishes
   * only when entries remain (a release nobody waits behind wakes nobody).
   */
  release: script(
    'release',
    `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('ZCARD', KEYS[1]) > 0 then redis.call('PUBLISH', ARGV[3], 'q') end
return 1
`,
  ),

  /** KEYS sess, q; ARGV member, token. Read only: {present, how many live entries are ahead}. */
  turn: script(
    'turn',
    `
local token = tonumber(ARGV[2])
local present, ahead = 0, 0
local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'WITHSCORES')
for i = 1, #entries, 2 do
  local m, s = entries[i], tonumber(entries[i + 1])
  if alive(KEYS[1], m) then
    if m == ARGV[1] and s == token then present = 1 elseif s < token then ahead = ahead + 1 end
  end
end
return {present, ahead}
`,
  ),

  /**
   * KEYS sess, exp, q, qi. Read only: the live entries in token order, flat: token, info ('=' +
   * info, or '' for none), ms until the session expires by the server's clock.
   */
  liveRows: script(
    'liveRows',
    `
local now = now_ms()
local out = {}
local entries = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local m = entries[i]
  if alive(KEYS[1], m) then
    local e = tonumber(redis.call('ZSCORE', KEYS[2], sid_of(m)) or now)
    local info = redis.call('HGET', KEYS[4], m)
    out[#out + 1] = int(tonumber(entries[i + 1]))
    out[#out + 1] = info and ('=' .. info) or ''
    out[#out + 1] = int(e - now)
  end
end
return out
`,
  ),

  /**
   * KEYS sess, rev, kv, kvrev, kvidx, then the queue of each guard; ARGV key, value, if absent
   * ('1'/'0'), channel, then (sid, token) per guard (a guard is never a seat: its member is its sid). 'lost:<i>' (1-based) for the first guard
   * whose session is gone, whose entry is gone or has another token, or that has a live entry
   * ahead; 'exists' for if-absent on an existing key; else writes and returns 'ok'.
   */
  guardedPut: script(
    'guardedPut',
    `
local n = (#ARGV - 4) / 2
for i = 1, n do
  local sid, tok, q = ARGV[3 + 2 * i], ARGV[4 + 2 * i], KEYS[5 + i]
  if not alive(KEYS[1], sid) then return 'lost:' .. i end
  local s = redis.call('ZSCORE', q, sid)
  if not s or tonumber(s) ~= tonumber(tok) then return 'lost:' .. i end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', q, '-inf', '(' .. tok)) do
    if alive(KEYS[1], m) then return 'lost:' .. i end
  end
end
if ARGV[3] == '1' and redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 'exists' end
write_value(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], 'kv')
return 'ok'
`,
  ),

  /**
   * KEYS sess, rev, kv, kvrev, kvidx, then the queue of each guard; ARGV guard count n, channel,
   * then (sid, token) per guard, then (key, value) per entry. 'lost:<i>' as in guardedPut, writing
   * nothing; else writes every entry (overwriting) and returns 'ok'.
   */
  guardedPutAll: script(
    'guardedPutAll',
    `
local n = tonumber(ARGV[1])
for i = 1, n do
  local sid, tok, q = ARGV[1 + 2 * i], ARGV[2 + 2 * i], KEYS[5 + i]
  if not alive(KEYS[1], sid) then return 'lost:' .. i end
  local s = redis.call('ZSCORE', q, sid)
  if not s or tonumber(s) ~= tonumber(tok) then return 'lost:' .. i end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', q, '-inf', '(' .. tok)) do
    if alive(KEYS[1], m) then return 'lost:' .. i end
  end
end
for j = 3 + 2 * n, #ARGV, 2 do
  write_value(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[j], ARGV[j + 1])
end
redis.call('PUBLISH', ARGV[2], 'kv')
return 'ok'
`,
  ),

  /** KEYS rev, kv, kvrev, kvidx; ARGV key, value, channel. */
  put: script(
    'put',
    `
write_value(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], 'kv')
return 1
`,
  ),

  /** KEYS kv, kvrev, kvidx; ARGV key, channel. */
  delete: script(
    'delete',
    `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'kv')
return 1
`,
  ),

  /** KEYS kvidx, kv; ARGV prefix. Read only: key, value, key, value… sorted by key (bytes). */
  list: script(
    'list',
    `
local lo, hi = '-', '+'
if ARGV[1] ~= '' then lo, hi = '[' .. ARGV[1], '(' .. ARGV[1] .. '\\255' end
local out = {}
for _, k in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], lo, hi)) do
  local v = redis.call('HGET', KEYS[2], k)
  if v then
    out[#out + 1] = k
    out[#out + 1] = v
  end
end
return out
`,
  ),

  /** KEYS kvidx, kvrev; ARGV prefix. Read only: '<count>:<highest revision>' of the keys under it. */
  fingerprint: script(
    'fingerprint',
    `
local lo, hi = '-', '+'
if ARGV[1] ~= '' then lo, hi = '[' .. ARGV[1], '(' .. ARGV[1] .. '\\255' end
local count, top = 0, 0
for _, k in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], lo, hi)) do
  count = count + 1
  local r = tonumber(redis.call('HGET', KEYS[2], k) or '0')
  if r > top then top = r end
end
return int(count) .. ':' .. int(top)
`,
  ),
  /**
   * Redlock phase 1 (redlock-tokens.ts). KEYS rev, sess, q; ARGV member. Read only:
   * {counter, server time in µs, session alive (1/0), the member's token or ''}.
   */
  tokenRead: script(
    'tokenRead',
    `
local t = redis.call('TIME')
local mine = redis.call('ZSCORE', KEYS[3], ARGV[1])
return {int(tonumber(redis.call('GET', KEYS[1]) or '0')), int(tonumber(t[1]) * 1000000 + tonumber(t[2])), alive(KEYS[2], ARGV[1]) and 1 or 0, mine and int(tonumber(mine)) or ''}
`,
  ),

  /**
   * Redlock phase 2: the compare-and-set that queues a member at a token chosen by the client.
   * KEYS rev, sess, q, qi; ARGV member, info, has info ('1'/'0'), only if free ('1'/'0'), channel,
   * capacity, token. '-1' when the session is gone; 'behind' when the counter is already at or past
   * the token (another writer got there first: nothing written); 'full' for only-if-free when other
   * members hold `capacity` live entries; else sets the counter to the token, queues (or moves) the
   * member at it and returns 'ok'. Every entry of the queue has a token at most the counter, so the
   * new one is at the back.
   */
  enqueueAt: script(
    'enqueueAt',
    `
local member = ARGV[1]
if not alive(KEYS[2], member) then return '-1' end
local changed = prune(KEYS[2], KEYS[3], KEYS[4])
local t = tonumber(ARGV[7])
local result = 'ok'
if tonumber(redis.call('GET', KEYS[1]) or '0') >= t then
  result = 'behind'
else
  local others = redis.call('ZCARD', KEYS[3]) - (redis.call('ZSCORE', KEYS[3], member) and 1 or 0)
  if ARGV[4] == '1' and others >= tonumber(ARGV[6]) then
    result = 'full'
  else
    redis.call('SET', KEYS[1], int(t))
    redis.call('ZADD', KEYS[3], t, member)
    if ARGV[3] == '1' then redis.call('HSET', KEYS[4], member, ARGV[2]) end
  end
end
if changed then redis.call('PUBLISH', ARGV[5], 'q') end
return result
`,
  ),

  /**
   * Redlock turn. KEYS sess, q; ARGV member, token. Read only: {present (1/0), then every other
   * live member whose token is lower}, so the client can count the union over a majority.
   */
  turnAhead: script(
    'turnAhead',
    `
local token = tonumber(ARGV[2])
local out = {0}
local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'WITHSCORES')
for i = 1, #entries, 2 do
  local m, s = entries[i], tonumber(entries[i + 1])
  if alive(KEYS[1], m) then
    if m == ARGV[1] then
      if s == token then out[1] = 1 end
    elseif s < token then
      out[#out + 1] = m
    end
  end
end
return out
`,
  ),

  /**
   * Redlock's "delayed restart" marker (redlock-member.ts). KEYS mark; ARGV a fresh id. Creates the
   * marker when missing (the server is new or lost its data); returns {id, its age in ms by the
   * server's clock}.
   */
  bootMark: script(
    'bootMark',
    `
local now = now_ms()
local id = redis.call('HGET', KEYS[1], 'id')
if not id then
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'born', int(now))
  return {ARGV[1], '0'}
end
return {id, int(now - tonumber(redis.call('HGET', KEYS[1], 'born') or now))}
`,
  ),
  /**
   * Redlock read repair (redlock-store.ts). KEYS rev, kv, kvrev, kvidx; ARGV key, stored value
   * (`\1<version>\1<value>`, redlock-values.ts), channel. Writes it unless the key holds a value
   * of the same or a newer version; 1 when it wrote.
   */
  putIfNewer: script(
    'putIfNewer',
    `
local function version(v) return string.match(v, '^\\1([^\\1]*)\\1') or '' end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur and version(cur) >= version(ARGV[2]) then return 0 end
write_value(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], 'kv')
return 1
`,
  ),
} as const satisfies Record<string, LuaScript>;
