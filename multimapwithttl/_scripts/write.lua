-- One atomic update of each sorted set in KEYS: collect expired members, add
-- and remove members, then end the key's life with its newest member.
--
-- ARGV, first for the whole call:
--   [1] now on the writer's clock (UNIX seconds, full precision), or "" to
--       take "now" from the server's clock
--   [2] mode: "" (latest write wins), "NX", "XX", "GT" or "XXGT"
--   [3] ttl in seconds when scores come from the server's clock, else ""
--   [4] [5] the resolution grain in seconds, and the decimals it needs
-- then for each key, in order:
--   nadd, score   then nadd members all with that score; "=" means the
--                 server-clock score of [3]; "" means nadd (score, member)
--                 pairs follow instead
--   nremove       then nremove members to remove
--
-- Members come deduplicated by the client. Returns, over all keys, how many
-- added members were not live before and are live after, plus how many
-- removed members were live. A key of another type is left exactly as it
-- was (value and TTL) and reported once every other key has been written.
local old = too_old(KEYS[1])
if old then
  return old
end

local server = server_now()
local now, base
if ARGV[1] == '' then
  now, base = server, server
else
  now = tonumber(ARGV[1])
  -- Destructive steps use the earlier of both clocks: a writer whose clock
  -- runs ahead never collects what the server still holds live.
  base = math.min(now, server)
end
local mode = ARGV[2]
local base_text = score_text(base)
local now_text = score_text(now)
-- Between base and now lie members dead for this writer that the server
-- still holds live: they are not collected, but they count as not live.
local band = now > base

local server_score = nil
if ARGV[3] ~= '' then
  local grain, digits = tonumber(ARGV[4]), tonumber(ARGV[5])
  local when = server + tonumber(ARGV[3])
  local ticks = math.ceil(when / grain)
  local fmt = '%.' .. digits .. 'f'
  local score = tonumber(string.format(fmt, ticks * grain))
  while score < when do -- float rounding may undershoot by an ulp
    ticks = ticks + 1
    score = tonumber(string.format(fmt, ticks * grain))
  end
  if digits == 0 then
    server_score = string.format('%.0f', score)
  else
    server_score = score_text(score)
  end
end

local total = 0
local failure = nil
local pos = 6
-- One scratch table for every key's ZADD arguments: growing a fresh table
-- per key costs more than the ZADD itself.
local zadd = {}

local function live(score)
  return score and tonumber(score) > now
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

for _, key in ipairs(KEYS) do
  local nadd = tonumber(ARGV[pos])
  local score = ARGV[pos + 1]
  local first = pos + 2
  local stop
  if score == '' then
    stop = first + 2 * nadd
  else
    stop = first + nadd
  end
  local nremove = tonumber(ARGV[stop])
  pos = stop + 1 + nremove

  -- Collecting comes first and tells whether the key is ours: a WRONGTYPE
  -- error leaves a foreign key exactly as it was.
  local collected = redis.pcall('ZREMRANGEBYSCORE', key, '-inf', base_text)
  if type(collected) == 'table' and collected.err then
    if string.sub(tostring(collected.err), 1, 9) ~= 'WRONGTYPE' then
      return collected -- READONLY, OOM...: nothing else can be written either
    end
    if failure == nil then
      failure = tostring(collected.err) .. ' (key ' .. key .. ' was left untouched)'
    end
  else
    local n = 0
    local past = {}
    if score == '' then
      for j = first, stop - 1, 2 do
        if tonumber(ARGV[j]) > now then
          n = n + 1
          zadd[2 * n - 1] = ARGV[j]
          zadd[2 * n] = ARGV[j + 1]
        else
          past[#past + 1] = ARGV[j + 1]
        end
      end
    else
      if score == '=' then
        score = server_score
      end
      for j = first, stop - 1 do
        n = n + 1
        zadd[2 * n - 1] = score
        zadd[2 * n] = ARGV[j]
      end
    end

    local err = nil
    local slow = #past > 0 and (mode == '' or mode == 'XX')
    if not slow and band and n > 0 then
      slow = redis.call('ZCOUNT', key, '(' .. base_text, now_text) > 0
    end
    if slow then
      total = total + write_each(key, n, past)
    elseif n > 0 then
      local added
      if mode == '' then
        added = redis.pcall('ZADD', key, unpack(zadd, 1, 2 * n))
      elseif mode == 'XXGT' then
        added = redis.pcall('ZADD', key, 'XX', 'GT', unpack(zadd, 1, 2 * n))
      else
        added = redis.pcall('ZADD', key, mode, unpack(zadd, 1, 2 * n))
      end
      if type(added) == 'table' and added.err then
        err = added
      else
        total = total + added
      end
    end

    if err == nil and nremove > 0 then
      local members = { unpack(ARGV, stop + 1, stop + nremove) }
      local scores = redis.call('ZMSCORE', key, unpack(members))
      for j = 1, nremove do
        if live(scores[j]) then
          total = total + 1
        end
      end
      redis.call('ZREM', key, unpack(members))
    end
    fit_ttl(key, base)
    if err then
      return err -- OOM: what this call wrote so far is consistent
    end
  end
end

if failure then
  return redis.error_reply(failure)
end
return total
