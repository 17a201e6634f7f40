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
--
-- A member is expired when its score is at or below `base`, the earlier of
-- the client's clock and the server's (the rule of the writes): only what is
-- dead by both clocks is counted as expired and collected.
--
-- Returns, for "survey":
--   {done, zsets, live, expired, no_ttl, foreign, short, dead, memory,
--    soonest, latest}
-- and for "sweep":
--   {done, collected, ttl_fixed, deleted, foreign}
-- `done` is how many keys of KEYS were handled, from the first; a sweep that
-- ran out of its removal budget stops early and the client sends the rest
-- again (a key with more expired members than the budget is collected in
-- several steps: each step removes only expired members, the key stays
-- consistent in between). `memory` is -1 when the server has no MEMORY
-- USAGE (fakeredis); `soonest` and `latest` are the lowest and highest live
-- scores, as text, or false when no key of the batch holds a live member.
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

-- The score of the first entry of a WITHSCORES reply: {member, score}, or
-- {{member, score}} from fakeredis < 2.40 on RESP3. nil when it is empty.
local function first_score(reply)
  local entry = reply[1]
  if type(entry) == 'table' then
    return tonumber(entry[2])
  end
  return tonumber(reply[2])
end

-- What a key is and what a sweep would do to it. Returns its type, then for
-- a sorted set: card, expired, pttl and the verdict: "ok", "dead" (only
-- expired members), "short" (live members, no TTL or one ending too soon)
-- or "long" (a TTL running well past the newest member; not counted).
local function look(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'zset' then
    return kind
  end
  local card = redis.call('ZCARD', key)
  local expired = redis.call('ZCOUNT', key, '-inf', base_text)
  local pttl = redis.call('PTTL', key)
  if expired == card then
    return kind, card, expired, pttl, 'dead'
  end
  local newest = first_score(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES'))
  local verdict = 'ok'
  if pttl < 0 or pttl < math.floor((newest - server) * 1000) - SHORT_MS then
    verdict = 'short'
  elseif pttl > math.ceil((newest - base) * 1000) + LONG_MS then
    verdict = 'long'
  end
  return kind, card, expired, pttl, verdict, newest
end

if mode == 'survey' then
  local memory = ARGV[3] == '1'
  local zsets, live, expired, no_ttl, foreign, short, dead = 0, 0, 0, 0, 0, 0, 0
  local bytes = 0
  local soonest, latest = nil, nil
  for _, key in ipairs(KEYS) do
    local kind, card, gone, pttl, verdict, newest = look(key)
    if kind == 'zset' then
      zsets = zsets + 1
      live = live + card - gone
      expired = expired + gone
      if pttl == -1 then
        no_ttl = no_ttl + 1
      end
      if verdict == 'short' then
        short = short + 1
      elseif verdict == 'dead' then
        dead = dead + 1
      end
      if newest then
        local first = redis.call('ZRANGEBYSCORE', key, '(' .. base_text, '+inf',
          'WITHSCORES', 'LIMIT', 0, 1)
        local low = first_score(first)
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
        else
          bytes = -1 -- no MEMORY USAGE here: the total is unknown
        end
      end
    elseif kind ~= 'none' then
      foreign = foreign + 1
    end
  end
  if not memory then
    bytes = -1
  end
  return {
    #KEYS, zsets, live, expired, no_ttl, foreign, short, dead, bytes,
    soonest and score_text(soonest) or false, latest and score_text(latest) or false,
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
      elseif verdict == 'short' then
        fixed = fixed + 1
      end
    end
    left = left - gone
  elseif kind ~= 'none' then
    foreign = foreign + 1
  end
  done = done + 1
end
return {done, collected, fixed, deleted, foreign}
