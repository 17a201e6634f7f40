-- One atomic update of each sorted set in KEYS: collect expired members, add
-- or remove members, then end the key's life with its newest member.
--
-- ARGV, first for the whole call:
--   [1] now on the writer's clock (UNIX seconds, full precision), or "" to
--       take "now" from the server's clock
--   [2] mode: "" (latest write wins), "NX", "XX", "GT" or "XXGT"
--   [3] shape of each key's part: "s" members that all get one score,
--       "p" (score, member) pairs, "r" members to remove
--   [4] [5] on the writer's clock: for "s", the score, and the key TTL in ms
--       for a key whose newest member has that score, counted from [1]
--       (else "" ""); on the server's clock: for "s", the ttl in seconds
--       (else ""), then [5] [6] the resolution grain in seconds and the
--       decimals it needs, for the script to compute the score
-- then for each key, in order: n, then n members ("s", "r") or n pairs ("p").
--
-- Members come deduplicated by the client. Returns, over all keys, how many
-- added members were not live before and are live after, plus how many
-- removed members were live. A key of another type is left exactly as it
-- was (value and TTL) and reported once every other key has been written.
--
-- Cost matters here: every write of every client runs this on the server's
-- one thread. The common write is four commands per key (ZREMRANGEBYSCORE,
-- ZADD, ZCOUNT, PEXPIRE) whose arguments are texts made once per call: a Lua
-- number passed to redis.call, a double in a reply, string.format, tonumber
-- (which parses twice; `+ 0` parses once), a closure and an ARGV entry each
-- cost the server more than one might think (see docs/performance.md).
-- The lib's too_old, spelled out: on Redis 7.0+ this builds no closure.
if redis.REDIS_VERSION_NUM == nil then
  local probe = redis.pcall('PEXPIRETIME', KEYS[1])
  if type(probe) == 'table' and probe.err then
    return redis.error_reply('ERR multimapwithttl needs Redis 7.0+ or Valkey 7.2+ '
      .. '(this server has no PEXPIRETIME); nothing was written')
  end
end

local mode, shape = ARGV[2], ARGV[3]
local t = redis.call('TIME')
-- TIME as exact text, as the lib's time_text makes it (written out here: a
-- helper is a closure the server would build on every call, needed or not).
local now, base, base_text, score, ttl_ms, pos
if ARGV[1] == '' then
  base_text = t[1] .. '.' .. string.rep('0', 6 - #t[2]) .. t[2]
  now = base_text + 0
  base = now
  pos = 7
else
  now = ARGV[1] + 0
  base, base_text = now, ARGV[1]
  -- Destructive steps use the earlier of both clocks: a writer whose clock
  -- runs ahead never collects what the server still holds live. The whole
  -- seconds of TIME mostly settle it without the exact server time.
  if t[1] + 0 < now then
    local text = t[1] .. '.' .. string.rep('0', 6 - #t[2]) .. t[2]
    local server = text + 0
    if server < now then
      base, base_text = server, text
    end
  end
  score, ttl_ms = ARGV[4], ARGV[5]
  pos = 6
end
-- Between base and now lie members dead for this writer that the server
-- still holds live: they are not collected, but they count as not live.
local band = now > base

if shape == 's' then
  if score == nil then -- the server's clock: now + ttl, up to the grain
    local grain, digits = ARGV[5] + 0, ARGV[6] + 0
    local when = base + ARGV[4]
    local ticks = math.ceil(when / grain)
    local fmt = '%.' .. digits .. 'f'
    local value = string.format(fmt, ticks * grain) + 0
    if value < when then -- float rounding may undershoot by an ulp
      ticks = ticks + 1
      value = string.format(fmt, ticks * grain) + 0
      if value < when then -- the grain is finer than a double holds here
        return redis.error_reply('ERR resolution too fine for an expiry this far ahead')
      end
    end
    if digits == 0 then
      score = string.format('%.0f', value)
    else
      score = string.format('%.17g', value) -- parses back to the same double
    end
  end
  if band or ttl_ms == nil then
    ttl_ms = tostring(math.ceil((score - base) * 1000))
  end
else
  ttl_ms = nil
end
local above = shape == 's' and '(' .. score

local total = 0
local failure = nil
-- One scratch table for every key's ZADD arguments: growing a fresh table
-- per key costs more than the ZADD itself. Made with room for one member.
local zadd = { false, false }

for i = 1, #KEYS do
  local key = KEYS[i]
  local n = ARGV[pos] + 0
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
      if scores[j] and scores[j] + 0 > now then
        total = total + 1
      end
    end
    redis.call('ZREM', key, unpack(members))
    fit_ttl(key, base)
  else
    local count = 0
    local past = nil -- members given an expiry already past ("p")
    local top, top_text = nil, score
    if shape == 's' then
      count = n
      for j = 1, n do
        zadd[2 * j - 1] = score
        zadd[2 * j] = ARGV[first + j - 1]
      end
    else
      for j = first, stop - 1, 2 do
        local value = ARGV[j] + 0
        if value > now then
          count = count + 1
          zadd[2 * count - 1] = ARGV[j]
          zadd[2 * count] = ARGV[j + 1]
          if top == nil or value > top then
            top, top_text = value, ARGV[j]
          end
        else
          past = past or {}
          past[#past + 1] = ARGV[j + 1]
        end
      end
    end

    local slow = past ~= nil and (mode == '' or mode == 'XX')
    if not slow and band and count > 0 then
      slow = redis.call('ZCOUNT', key, '(' .. base_text, ARGV[1]) > 0
    end
    local err = nil
    -- Whether some member given the highest score given holds it now.
    local surely = false
    if slow then
      -- A key holding members this writer sees as expired that are not
      -- collected yet, or given expiry times already past: each member's
      -- liveness decides what the mode does with it.
      past = past or {}
      local asked = {}
      for j = 1, count do
        asked[j] = zadd[2 * j]
      end
      for k = 1, #past do
        asked[count + k] = past[k]
      end
      local scores = redis.call('ZMSCORE', key, unpack(asked))
      local plain, grow, doomed = {}, {}, {}
      for j = 1, count do
        local was_live = scores[j] and scores[j] + 0 > now
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
            total = total + 1
          end
        end
      end
      for k = 1, #past do
        -- An expiry in the past, where the mode lets it apply, ends the value.
        local value = scores[count + k]
        if mode == '' or (mode == 'XX' and value and value + 0 > now) then
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
    elseif count > 0 then
      local added
      if mode == '' then
        added = redis.pcall('ZADD', key, unpack(zadd, 1, 2 * count))
        surely = true
      elseif mode == 'NX' or mode == 'GT' then
        added = redis.pcall('ZADD', key, mode, unpack(zadd, 1, 2 * count))
        -- NX: a member added holds the call's one score. GT: every member
        -- given ends at its score or above, so with nothing above the
        -- highest, the member given it holds it.
        surely = mode == 'GT' or (shape == 's' and type(added) == 'number' and added > 0)
      else -- XX, XXGT: CH tells whether some member took the call's one score
        if mode == 'XX' then
          added = redis.pcall('ZADD', key, 'XX', 'CH', unpack(zadd, 1, 2 * count))
        else
          added = redis.pcall('ZADD', key, 'XX', 'GT', 'CH', unpack(zadd, 1, 2 * count))
        end
        if type(added) == 'number' then
          surely = shape == 's' and added > 0
          added = 0 -- nothing is new under XX
        end
      end
      if type(added) == 'table' then
        err = added
        surely = false
      else
        total = total + added
      end
    end
    -- Nothing above the highest score given, and a member holds it: that is
    -- the newest, and the key TTL follows from it without reading a score.
    if surely and redis.call('ZCOUNT', key, above or '(' .. top_text, '+inf') == 0 then
      redis.call('PEXPIRE', key, ttl_ms or tostring(math.ceil((top - base) * 1000)))
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
