-- One atomic update of each sorted set in KEYS: add members, remove members,
-- drop members that expired, then make sure the key outlives its newest member.
--
-- ARGV[1] is "now" on the client's clock, in score units (UNIX seconds). It
-- is passed on as a string so the server compares scores at full precision.
-- Then, for each key in order:
--   lifetime_ms           how long the newest member written here still lives
--   nadd, score           then nadd x member, all with that score; or, when
--                         score is "", nadd x (score, member) pairs
--   nremove               followed by nremove x member
--
-- Returns how many of the removed members were live. A key of another type
-- is skipped entirely (not even its TTL is touched) and reported as an error
-- once every other key of the call has been written.
local now_arg = ARGV[1]
local now = tonumber(now_arg)
local pos = 2
local removed = 0
local failure = nil
-- One scratch table for every key's ZADD arguments: growing a fresh table
-- per key costs more than the ZADD itself.
local scratch = {}

for _, key in ipairs(KEYS) do
  local lifetime = tonumber(ARGV[pos])
  local nadd = tonumber(ARGV[pos + 1])
  local score = ARGV[pos + 2]
  local first = pos + 3
  local zadd
  if score == '' then
    pos = first + 2 * nadd
  else
    -- One score for every member (add, add_many): the client sends it once.
    pos = first + nadd
    zadd = scratch
    for j = 0, nadd - 1 do
      zadd[2 * j + 1] = score
      zadd[2 * j + 2] = ARGV[first + j]
    end
  end
  local nremove = tonumber(ARGV[pos])
  local err = nil

  -- The first command that touches the key tells whether it is ours: a
  -- WRONGTYPE error leaves a foreign key exactly as it was.
  if nadd > 0 then
    local added
    if zadd then
      added = redis.pcall('ZADD', key, unpack(zadd, 1, 2 * nadd))
    else
      added = redis.pcall('ZADD', key, unpack(ARGV, first, pos - 1))
    end
    if type(added) == 'table' and added.err then
      err = added
    end
  end
  if err == nil and nremove > 0 then
    local members = { unpack(ARGV, pos + 1, pos + nremove) }
    local scores = redis.pcall('ZMSCORE', key, unpack(members))
    if scores.err then
      err = scores
    else
      for j = 1, nremove do
        if scores[j] and tonumber(scores[j]) > now then
          removed = removed + 1
        end
      end
      redis.call('ZREM', key, unpack(members))
    end
  end
  if err and string.sub(tostring(err.err), 1, 9) ~= 'WRONGTYPE' then
    return err -- READONLY, OOM...: nothing else can be written either
  end
  pos = pos + 1 + nremove

  if err == nil then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now_arg)
    -- GT only ever lengthens the TTL: a short-lived write must not cut older
    -- members' lives. It leaves a key without TTL alone, hence the PTTL check.
    if lifetime <= 0 or redis.call('PEXPIRE', key, lifetime, 'GT') == 0 then
      if redis.call('PTTL', key) == -1 then
        -- Written by 0.1.0, which leaves keys without TTL: cover its newest
        -- member, which ZREMRANGEBYSCORE left strictly in the future.
        local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
        local rest = math.ceil((tonumber(newest[2]) - now) * 1000)
        redis.call('PEXPIRE', key, math.max(rest, lifetime))
      end
    end
  elseif failure == nil then
    failure = tostring(err.err) .. ' (key ' .. key .. ' was left untouched)'
  end
end

if failure then
  return redis.error_reply(failure)
end
return removed
