-- Maintenance of the keys under a prefix, a batch of keys at a time: what
-- stats() reports and what sweep() repairs. Each key is looked at and, in
-- "sweep" mode, repaired in one atomic step, so writers may run meanwhile.
--
-- KEYS: keys SCAN found under the prefix (on a cluster, of one hash slot).
-- ARGV:
--   [1] mode: "survey" (reads only; run as EVALSHA_RO where the server has
--       it) or "sweep" (collects, sets TTLs, deletes dead keys)
--   [2] now on the client's clock (UNIX seconds), or "" for the server's only
--   [3] survey: "1" to add up MEMORY USAGE, else "0"
--       sweep: at most this many members removed by this call
--   [4] how many keys each list of `examples` may hold (a dry run that
--       lists every key asks for all of them: as many as KEYS)
--
-- A member is expired when its score is at or below `base`, the earlier of
-- the client's clock and the server's (the rule of the writes): only what is
-- dead by both clocks is counted as expired and collected.
--
-- A sorted set is a multimap key only when every score is a plausible expiry
-- time: finite, >= 1e9 (2001-09-09) and < 253402300800 (year 10000). Any
-- other sorted set (a leaderboard's points, milliseconds, +-inf) is foreign,
-- like a key of another type: counted, never changed (members and TTL).
-- Checking the lowest and the highest score is enough, and cheap.
--
-- Returns, for "survey":
--   {done, zsets, live, expired, no_ttl, foreign, short, dead, memory,
--    soonest, latest, examples}
-- and for "sweep":
--   {done, collected, ttl_fixed, deleted, foreign, examples}
-- `done` is how many keys of KEYS were handled, from the first; a sweep that
-- ran out of its removal budget stops early and the client sends the rest
-- again (a key with more expired members than the budget is collected in
-- several steps: each step removes only expired members, the key stays
-- consistent in between). `memory` is -1 when the server has no MEMORY
-- USAGE (fakeredis), -2 when this user may not run it; `soonest` and
-- `latest` are the lowest and highest live scores, as text, or false when no
-- key of the batch holds a live member. `examples` is five lists of keys,
-- at most ARGV[4] each: those with expired members a sweep collects (and
-- keeps), those whose TTL it fixes, those it deletes, the foreign ones, and
-- those whose TTL runs well past their newest member and is trimmed (not
-- counted: 0.1.0 leaves none; listed so that a listing names every key a
-- sweep changes).
local old = too_old(KEYS[1])
if old then
  return old
end

local mode = ARGV[1]
local server = server_now()
local base = server
if ARGV[2] ~= '' then
  base = math.min(tonumber(ARGV[2]), server)
end
local base_text = score_text(base)
-- How far a key's TTL may fall short of its newest live member before it
-- counts as too short (PTTL and the server clock round to the millisecond).
local SHORT_MS = 10
-- How far it may run past it before a sweep trims it: 0.1.0 writes a TTL
-- one second longer than its values; that is left alone.
local LONG_MS = 2000
-- The range of plausible expiry times (UNIX seconds), as in the writes.
local LOWEST, BEYOND = 1000000000, 253402300800
local EXAMPLES = tonumber(ARGV[4])

-- The score of the first entry of a WITHSCORES reply: {member, score}, or
-- {{member, score}} from fakeredis < 2.40 on RESP3. nil when it is empty or
-- not a number Lua reads.
local function first_score(reply)
  local entry = reply[1]
  if type(entry) == 'table' then
    return tonumber(entry[2])
  end
  return tonumber(reply[2])
end

-- True when x is a plausible expiry time (false for nil and NaN too).
local function plausible(x)
  return x ~= nil and x >= LOWEST and x < BEYOND
end

-- What a key is and what a sweep would do to it. Returns its kind ("zset"
-- for a multimap key, "foreign" for a sorted set that cannot be one, else
-- the Redis type), then for a multimap key: card, expired, pttl and the
-- verdict: "ok", "dead" (only expired members), "short" (live members, no
-- TTL or one ending too soon) or "long" (a TTL running well past the newest
-- member; not counted), then the newest score (nil for a dead key) and the
-- lowest.
--
-- The lowest score is read first: an implausible one makes the key foreign
-- at once, and one above `base` means nothing expired (no ZCOUNT), which is
-- what most keys look like. A dead key's scores are all at or below `base`,
-- so its highest is plausible without reading it.
local function look(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'zset' then
    return kind
  end
  local lowest = first_score(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES'))
  if not plausible(lowest) then
    return 'foreign'
  end
  local card = redis.call('ZCARD', key)
  local expired = 0
  if lowest <= base then
    expired = redis.call('ZCOUNT', key, '-inf', base_text)
  end
  local pttl = redis.call('PTTL', key)
  if expired == card then
    return kind, card, expired, pttl, 'dead', nil, lowest
  end
  local newest = lowest
  if card > 1 then
    newest = first_score(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES'))
    if not plausible(newest) then
      return 'foreign'
    end
  end
  local verdict = 'ok'
  if pttl < 0 then
    verdict = 'short'
  elseif pttl < math.floor((newest - server) * 1000) - SHORT_MS then
    -- `server` was read when the call began, a PTTL counts from when it
    -- runs (on Redis 7.0): late in a long call (a busy host, many keys) a
    -- sound TTL looks short by the time gone. The clock again, then.
    if pttl < math.floor((newest - server_now()) * 1000) - SHORT_MS then
      verdict = 'short'
    end
  elseif pttl > math.ceil((newest - base) * 1000) + LONG_MS then
    verdict = 'long'
  end
  return kind, card, expired, pttl, verdict, newest, lowest
end

-- True for an error message of a command the ACL refused (Redis 7.0 says
-- "The user executing the script can't run this command", later "NOPERM").
local function refused(message)
  return string.find(message, 'NOPERM', 1, true) ~= nil
    or string.find(message, "can't run this command", 1, true) ~= nil
    or string.find(message, 'no permission', 1, true) ~= nil
end

-- Example keys per action: collected (and kept), ttl fixed, deleted, foreign,
-- ttl trimmed.
local examples = {{}, {}, {}, {}, {}}
local function example(which, key)
  local list = examples[which]
  if #list < EXAMPLES then
    list[#list + 1] = key
  end
end

if mode == 'survey' then
  local memory = ARGV[3] == '1'
  local zsets, live, expired, no_ttl, foreign, short, dead = 0, 0, 0, 0, 0, 0, 0
  local bytes = 0
  local soonest, latest = nil, nil
  for _, key in ipairs(KEYS) do
    local kind, card, gone, pttl, verdict, newest, lowest = look(key)
    if kind == 'zset' then
      zsets = zsets + 1
      live = live + card - gone
      expired = expired + gone
      if pttl == -1 then
        no_ttl = no_ttl + 1
      end
      if verdict == 'short' then
        short = short + 1
        example(2, key)
      elseif verdict == 'dead' then
        dead = dead + 1
        example(3, key)
      elseif verdict == 'long' then
        example(5, key)
      end
      if gone > 0 and verdict ~= 'dead' then
        example(1, key)
      end
      if newest then
        local low = lowest -- the soonest live score, when nothing expired
        if gone > 0 then
          low = first_score(redis.call('ZRANGEBYSCORE', key, '(' .. base_text, '+inf',
            'WITHSCORES', 'LIMIT', 0, 1))
        end
        if soonest == nil or low < soonest then
          soonest = low
        end
        if latest == nil or newest > latest then
          latest = newest
        end
      end
      if memory and bytes >= 0 then
        local used = redis.pcall('MEMORY', 'USAGE', key)
        if type(used) == 'number' then
          bytes = bytes + used
        elseif type(used) == 'table' and refused(tostring(used.err)) then
          bytes = -2 -- refused by ACL: unknown, and why
        else
          bytes = -1 -- no MEMORY USAGE here: the total is unknown
        end
      end
    elseif kind ~= 'none' then
      foreign = foreign + 1
      example(4, key)
    end
  end
  if not memory then
    bytes = -1
  end
  return {
    #KEYS, zsets, live, expired, no_ttl, foreign, short, dead, bytes,
    soonest and score_text(soonest) or false, latest and score_text(latest) or false,
    examples,
  }
end

if mode ~= 'sweep' then
  return redis.error_reply('ERR sweep.lua: unknown mode ' .. tostring(mode))
end

local budget = tonumber(ARGV[3])
local left = budget
local done, collected, fixed, deleted, foreign = 0, 0, 0, 0, 0
for _, key in ipairs(KEYS) do
  local kind, _, gone, _, verdict = look(key)
  if kind == 'zset' then
    if gone > left then
      if left == budget then
        -- A key with more expired members than one call may remove: take
        -- the oldest `budget` of them (all expired), then come back to it.
        collected = collected + redis.call('ZREMRANGEBYRANK', key, 0, budget - 1)
      end
      break
    end
    if gone > 0 or verdict ~= 'ok' then
      -- The rule of the writes: collect, then end the key with its newest
      -- member. Collecting a dead key's last member deletes the key.
      collected = collected + settle(key, base)
      if verdict == 'dead' then
        deleted = deleted + 1
        example(3, key)
      elseif verdict == 'short' then
        fixed = fixed + 1
        example(2, key)
      elseif verdict == 'long' then
        example(5, key)
      end
      if gone > 0 and verdict ~= 'dead' then
        example(1, key)
      end
    end
    left = left - gone
  elseif kind ~= 'none' then
    foreign = foreign + 1
    example(4, key)
  end
  done = done + 1
end
return {done, collected, fixed, deleted, foreign, examples}
