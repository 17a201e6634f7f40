-- One atomic update of each sorted set in KEYS: collect expired members, add
-- or remove members, then end the key's life with its newest member.
--
-- ARGV, first for the whole call:
--   [1] now on the writer's clock (UNIX seconds, full precision), or "" to
--       take "now" from the server's clock
--   [2] mode: "" (latest write wins), "NX", "XX", "GT" or "XXGT"
--   [3] shape of each key's part: "s" members that all get one score,
--       "p" (score, member) pairs, "r" members to remove
--   [4] "s": the score; "" to compute it on the server's clock from [5]
--   [5] "s": the key TTL in ms for a key whose newest member has score [4],
--       counted from [1]; with [4] "", the ttl in seconds
--   [6] [7] the resolution grain in seconds, and the decimals it needs
-- then for each key, in order: n, then n members ("s", "r") or n pairs ("p").
--
-- Members come deduplicated by the client. Returns, over all keys, how many
-- added members were not live before and are live after, plus how many
-- removed members were live. A key of another type is left exactly as it
-- was (value and TTL) and reported once every other key has been written.
--
-- Cost matters here (every call of every client runs it on the server's one
-- thread): the common write is four commands per key (ZREMRANGEBYSCORE,
-- ZADD, ZCOUNT, PEXPIRE) with text arguments made once per call, since a Lua
-- number passed to redis.call, a double in a reply and string.format each
-- cost the server more than a small command does.
local old = too_old(KEYS[1])
if old then
  return old
end

local mode, shape = ARGV[2], ARGV[3]
local t = redis.call('TIME')
local now, base, base_text
if ARGV[1] == '' then
  base_text = time_text(t)
  now = tonumber(base_text)
  base = now
else
  now = tonumber(ARGV[1])
  base, base_text = now, ARGV[1]
  -- Destructive steps use the earlier of both clocks: a writer whose clock
  -- runs ahead never collects what the server still holds live. The whole
  -- seconds of TIME mostly settle it without the exact server time.
  if tonumber(t[1]) < now then
    local text = time_text(t)
    local server = tonumber(text)
    if server < now then
      base, base_text = server, text
    end
  end
end
-- Between base and now lie members dead for this writer that the server
-- still holds live: they are not collected, but they count as not live.
local band = now > base
local now_text = band and ARGV[1] or base_text

-- "s": the one score of this call, and the key TTL that goes with it.
local score, ttl_ms = ARGV[4], nil
if shape == 's' then
  ttl_ms = ARGV[5]
end
if shape == 's' and score == '' then
  local grain, digits = tonumber(ARGV[6]), tonumber(ARGV[7])
  local when = base + tonumber(ARGV[5])
  local ticks = math.ceil(when / grain)
  local fmt = '%.' .. digits .. 'f'
  local value = tonumber(string.format(fmt, ticks * grain))
  while value < when do -- float rounding may undershoot by an ulp
    ticks = ticks + 1
    value = tonumber(string.format(fmt, ticks * grain))
  end
  if digits == 0 then
    score = string.format('%.0f', value)
  else
    score = score_text(value)
  end
  ttl_ms = nil
end
if shape == 's' and (band or ttl_ms == nil) then
  ttl_ms = tostring(math.ceil((tonumber(score) - base) * 1000))
end
local above = '(' .. score

local total = 0
local failure = nil
local pos = 8
-- One scratch table for every key's ZADD arguments: growing a fresh table
-- per key costs more than the ZADD itself.
local zadd = {}

local function live(value)
  return value and tonumber(value) > now
end

-- The slow path, for a key holding members this writer sees as expired that
-- are not collected yet, or given expiry times already past: each member's
-- liveness decides what the mode does with it.
local function write_each(key, n, past)
  local asked = {}
  for j = 1, n do
    asked[j] = zadd[2 * j]
  end
  for k = 1, #past do
    asked[n + k] = past[k]
  end
  local scores = redis.call('ZMSCORE', key, unpack(asked))
  local plain, grow, doomed = {}, {}, {}
  local new = 0
  for j = 1, n do
    local was_live = live(scores[j])
    local target = nil
    if mode == '' then
      target = plain
    elseif mode == 'NX' then
      if not was_live then
        target = plain
      end
    elseif mode == 'XX' then
      if was_live then
        target = plain
      end
    elseif was_live then -- GT, XXGT
      target = grow
    elseif mode == 'GT' then
      target = plain
    end
    if target then
      target[#target + 1] = zadd[2 * j - 1]
      target[#target + 1] = zadd[2 * j]
      if not was_live and mode ~= 'XX' then
        new = new + 1
      end
    end
  end
  for k = 1, #past do
    -- An expiry in the past, where the mode lets it apply, ends the value.
    if mode == '' or (mode == 'XX' and live(scores[n + k])) then
      doomed[#doomed + 1] = past[k]
    end
  end
  if #plain > 0 then
    redis.call('ZADD', key, unpack(plain))
  end
  if #grow > 0 then
    redis.call('ZADD', key, 'GT', unpack(grow))
  end
  if #doomed > 0 then
    redis.call('ZREM', key, unpack(doomed))
  end
  return new
end

-- ZADD in the call's mode; returns the reply, and whether some member given
-- now surely holds the highest score given (`top`) after it.
local function zadd_mode(key, n)
  local reply
  if mode == '' then
    reply = redis.pcall('ZADD', key, unpack(zadd, 1, 2 * n))
    return reply, true
  elseif mode == 'NX' or mode == 'GT' then
    reply = redis.pcall('ZADD', key, mode, unpack(zadd, 1, 2 * n))
    -- NX: a member added holds it. GT: every member given ends at its
    -- score or above, so with nothing above `top`, the one given it has it.
    return reply, mode == 'GT' or (type(reply) == 'number' and reply > 0)
  end
  -- XX, XXGT: CH tells whether some member changed to a score given.
  if mode == 'XX' then
    reply = redis.pcall('ZADD', key, 'XX', 'CH', unpack(zadd, 1, 2 * n))
  else
    reply = redis.pcall('ZADD', key, 'XX', 'GT', 'CH', unpack(zadd, 1, 2 * n))
  end
  if type(reply) == 'number' then
    return 0, reply > 0
  end
  return reply, false
end

for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[pos])
  local first = pos + 1
  local stop
  if shape == 'p' then
    stop = first + 2 * n
  else
    stop = first + n
  end
  pos = stop

  -- Collecting comes first and tells whether the key is ours: a WRONGTYPE
  -- error leaves a foreign key exactly as it was.
  local collected = redis.pcall('ZREMRANGEBYSCORE', key, '-inf', base_text)
  if type(collected) == 'table' then
    if string.sub(tostring(collected.err), 1, 9) ~= 'WRONGTYPE' then
      return collected -- READONLY, OOM...: nothing else can be written either
    end
    if failure == nil then
      failure = tostring(collected.err) .. ' (key ' .. key .. ' was left untouched)'
    end
  elseif shape == 'r' then
    local members = { unpack(ARGV, first, stop - 1) }
    local scores = redis.call('ZMSCORE', key, unpack(members))
    for j = 1, n do
      if live(scores[j]) then
        total = total + 1
      end
    end
    redis.call('ZREM', key, unpack(members))
    fit_ttl(key, base)
  else
    local count = 0
    local past = {}
    local top, top_text, key_ms = nil, score, ttl_ms
    if shape == 's' then
      count = n
      for j = 1, n do
        zadd[2 * j - 1] = score
        zadd[2 * j] = ARGV[first + j - 1]
      end
    else
      for j = first, stop - 1, 2 do
        local value = tonumber(ARGV[j])
        if value > now then
          count = count + 1
          zadd[2 * count - 1] = ARGV[j]
          zadd[2 * count] = ARGV[j + 1]
          if top == nil or value > top then
            top, top_text = value, ARGV[j]
          end
        else
          past[#past + 1] = ARGV[j + 1]
        end
      end
    end

    local slow = #past > 0 and (mode == '' or mode == 'XX')
    if not slow and band and count > 0 then
      slow = redis.call('ZCOUNT', key, '(' .. base_text, now_text) > 0
    end
    local err = nil
    local known = false -- the newest member's score is top_text for sure
    if slow then
      total = total + write_each(key, count, past)
    elseif count > 0 then
      local added, surely = zadd_mode(key, count)
      if shape == 'p' and mode ~= '' and mode ~= 'GT' then
        surely = false -- the member given the highest score may be one left out
      end
      if type(added) == 'table' then
        err = added
      else
        total = total + added
        -- Nothing above the highest score given, and a member holds it:
        -- that is the newest, and the key TTL follows from it.
        known = surely and redis.call('ZCOUNT', key, shape == 's' and above
          or '(' .. top_text, '+inf') == 0
      end
    end
    if known then
      if key_ms == nil then
        key_ms = tostring(math.ceil((top - base) * 1000))
      end
      redis.call('PEXPIRE', key, key_ms)
    else
      fit_ttl(key, base)
    end
    if err then
      return err -- OOM: what this call wrote so far is consistent
    end
  end
end

if failure then
  return redis.error_reply(failure)
end
return total
