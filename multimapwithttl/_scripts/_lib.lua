-- Shared by every script: pasted in front of each one at load time, so the
-- server check, the server clock and the key-lifetime rule live here once.

-- Redis 7.0 and Valkey 7.2 define REDIS_VERSION_NUM for scripts. Where it is
-- missing (older servers, fakeredis), a command that came with 7.0 tells: an
-- older server refuses it, before this script has written anything.
local function too_old(key)
  if redis.REDIS_VERSION_NUM ~= nil then
    return nil
  end
  local probe = redis.pcall('PEXPIRETIME', key)
  if type(probe) == 'table' and probe.err then
    return redis.error_reply('ERR multimapwithttl needs Redis 7.0+ or Valkey 7.2+ '
      .. '(this server has no PEXPIRETIME); nothing was written')
  end
  return nil
end

-- The server's clock, in UNIX seconds (TIME is allowed in scripts since
-- Redis 5 replicates their effects, not the scripts themselves).
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

-- A TIME reply as exact decimal text ("<seconds>.<6 digits>"): a bound Redis
-- parses to the same double as tonumber() of it, made without string.format.
local function time_text(t)
  return t[1] .. '.' .. string.rep('0', 6 - #t[2]) .. t[2]
end

-- A score bound as Redis parses it back to the very same double.
local function score_text(x)
  return string.format('%.17g', x)
end

-- Collect what expired and end the key's life with its newest member.
--
-- `base` is the earliest "now" any party to this write can hold (the lesser
-- of the writer's clock and the server's): members at or below it are dead
-- by both clocks and go; the key then lives exactly until its newest
-- remaining member expires, measured from `base`. A writer whose clock lags
-- the server's therefore makes the key outlive its newest value by that lag
-- at most; nothing live by either clock is ever cut.
--
-- `collect` is the first half, `fit_ttl` the second: a write runs its own
-- commands in between. A key left empty is gone (Redis deletes empty sorted
-- sets), so it needs no TTL.
local function collect(key, base)
  return redis.call('ZREMRANGEBYSCORE', key, '-inf', score_text(base))
end

local function fit_ttl(key, base)
  -- Indexes as text: a Lua number argument costs a string.format per call.
  local newest = redis.call('ZRANGE', key, '-1', '-1', 'WITHSCORES')
  if type(newest[1]) == 'table' then
    newest = newest[1] -- fakeredis < 2.40 on RESP3 nests the pair: {{member, score}}
  end
  if newest[2] then
    -- As integer text: a Lua number is converted by the server in a
    -- format that may be exponential ("2.5e+14"), which PEXPIRE refuses.
    redis.call('PEXPIRE', key, string.format('%.0f', math.ceil((tonumber(newest[2]) - base) * 1000)))
  end
end

-- fit_ttl for a write whose collecting may have stopped short (a bounded
-- number of members per call): when only expired members remain, the key
-- is left as it is (no live value is affected; later writes or a sweep
-- collect the rest a bounded step at a time) rather than deleted here,
-- which would free all of them at once.
local function end_with_newest(key, base)
  local newest = redis.call('ZRANGE', key, '-1', '-1', 'WITHSCORES')
  if type(newest[1]) == 'table' then
    newest = newest[1] -- fakeredis < 2.40 on RESP3 nests the pair: {{member, score}}
  end
  if newest[2] then
    local ms = math.ceil((newest[2] - base) * 1000)
    if ms > 0 then
      redis.call('PEXPIRE', key, string.format('%.0f', ms))
    end
  end
end

-- Both halves; returns how many members were collected.
local function settle(key, base)
  local collected = collect(key, base)
  fit_ttl(key, base)
  return collected
end

-- The refusal of a sorted set whose scores cannot be expiry times (another
-- application's data under the prefix): the key is left as it is.
local function not_expiry_times(key)
  return 'ERR multimapwithttl: key ' .. key .. ' holds a score that is not an '
    .. 'expiry time (anything before 2001 or from year 10000 on: a leaderboard\'s '
    .. 'points, +inf or -inf, a timestamp in milli- or microseconds); the key was '
    .. 'left untouched'
end

-- The error a call returns after leaving keys untouched: `failure`, then
-- their positions in KEYS ("[not written: 2 5]"), for the client to tell
-- which names of a batch were written.
local function untouched_reply(failure, untouched)
  return redis.error_reply(failure .. ' [not written: ' .. table.concat(untouched, ' ') .. ']')
end
