#!lua flags=no-writes
-- Reads on the server's clock: "now" is the server's TIME, so clients whose
-- clocks disagree see the same live values. Declared no-writes: it runs as
-- EVALSHA_RO, on replicas too.
--
-- ARGV[1] says what to read:
--   "members"     the live members of each key in KEYS, lowest score first;
--                 ARGV[2] caps the bytes of one reply: once reached, the
--                 reply holds fewer lists than KEYS and the client asks again
--                 for the rest
--   "withscores"  the live members of KEYS[1] with their scores, flat
--   "count"       how many members of KEYS[1] are live
--   "contains"    1 if member ARGV[2] of KEYS[1] is live, else 0
local old = too_old(KEYS[1])
if old then
  return old
end
local now_text = time_text(redis.call('TIME'))
local now = now_text + 0
local bound = '(' .. now_text
local what = ARGV[1]

if what == 'members' then
  local budget = tonumber(ARGV[2])
  local found = {}
  local size = 0
  for i, key in ipairs(KEYS) do
    local members = redis.call('ZRANGEBYSCORE', key, bound, '+inf')
    found[i] = members
    for j = 1, #members do
      size = size + #members[j] + 16
    end
    if size >= budget then
      break
    end
  end
  return found
elseif what == 'withscores' then
  return redis.call('ZRANGEBYSCORE', KEYS[1], bound, '+inf', 'WITHSCORES')
elseif what == 'count' then
  return redis.call('ZCOUNT', KEYS[1], bound, '+inf')
end
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if score and score + 0 > now then
  return 1
end
return 0
