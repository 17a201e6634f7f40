-- One atomic update of each sorted set in KEYS: add members, remove members,
-- drop members that expired, then make sure the key outlives its newest member.
--
-- ARGV[1] is "now" on the client's clock, in score units (UNIX seconds). It
-- is passed on as a string so the server compares scores at full precision.
-- Then, for each key in order:
--   lifetime_ms           how long the newest member written here still lives
--   ngroups               followed by ngroups x (score, n, member x n)
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

for _, key in ipairs(KEYS) do
  local lifetime = tonumber(ARGV[pos])
  local ngroups = tonumber(ARGV[pos + 1])
  pos = pos + 2
  local kind = redis.call('TYPE', key)['ok']
  local ours = kind == 'zset' or kind == 'none'

  for _ = 1, ngroups do
    local score = ARGV[pos]
    local n = tonumber(ARGV[pos + 1])
    if ours then
      local pairs_ = {}
      for j = 1, n do
        pairs_[2 * j - 1] = score
        pairs_[2 * j] = ARGV[pos + 1 + j]
      end
      redis.call('ZADD', key, unpack(pairs_))
    end
    pos = pos + 2 + n
  end

  local nremove = tonumber(ARGV[pos])
  if nremove > 0 and ours then
    local members = { unpack(ARGV, pos + 1, pos + nremove) }
    local scores = redis.call('ZMSCORE', key, unpack(members))
    for j = 1, nremove do
      if scores[j] and tonumber(scores[j]) > now then
        removed = removed + 1
      end
    end
    redis.call('ZREM', key, unpack(members))
  end
  pos = pos + 1 + nremove

  if ours then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now_arg)
    local pttl = redis.call('PTTL', key)
    if pttl == -1 then
      -- A key without TTL was written by 0.1.0: give it one covering its
      -- newest member, which ZREMRANGEBYSCORE left strictly in the future.
      local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      local rest = math.ceil((tonumber(newest[2]) - now) * 1000)
      if rest > lifetime then
        lifetime = rest
      end
    end
    -- Only ever lengthen: a short-lived write must not cut older members' lives.
    if pttl ~= -2 and pttl < lifetime then
      redis.call('PEXPIRE', key, lifetime)
    end
  elseif failure == nil then
    failure = 'WRONGTYPE key ' .. key .. ' holds a ' .. kind
      .. ', not a sorted set; it was left untouched'
  end
end

if failure then
  return redis.error_reply(failure)
end
return removed
