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
-- With a cap (max_values), its digits come last (ARGV[3] for "members" and
-- "contains", ARGV[2] for "withscores"): "members" and "withscores" then
-- give only the `cap` live members ranked highest (latest expiry, then
-- bytes), highest first; "contains" answers 0 for a live member ranked
-- below them. ("count" needs none: the client takes the lesser.)
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
  local cap = ARGV[3]
  for i, key in ipairs(KEYS) do
    local members
    if cap then
      members = redis.call('ZRANGE', key, '+inf', bound, 'BYSCORE', 'REV', 'LIMIT', '0', cap)
    else
      members = redis.call('ZRANGEBYSCORE', key, bound, '+inf')
    end
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
  if ARGV[2] then
    return redis.call('ZRANGE', KEYS[1], '+inf', bound, 'BYSCORE', 'REV', 'LIMIT', '0', ARGV[2],
      'WITHSCORES')
  end
  return redis.call('ZRANGEBYSCORE', KEYS[1], bound, '+inf', 'WITHSCORES')
elseif what == 'count' then
  return redis.call('ZCOUNT', KEYS[1], bound, '+inf')
end
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if score and score + 0 > now then
  -- Live members rank highest: with a cap, one ranked `cap` or lower is
  -- beyond it (a surplus later writes evict).
  if ARGV[3] and not (redis.call('ZREVRANK', KEYS[1], ARGV[2]) < ARGV[3] + 0) then
    return 0
  end
  return 1
end
return 0
