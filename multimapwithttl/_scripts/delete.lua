#!lua flags=allow-oom
-- Deletes each key of KEYS that is a multimap: a sorted set whose scores
-- are all expiry times (from 2001 up to year 10000, as the writes and the
-- sweep define it). A key of another type, or a sorted set holding another
-- score (a leaderboard's points, +inf), is left exactly as it was and
-- reported once every other key is deleted. Returns how many keys were
-- deleted.
--
-- UNLINK, not DEL: a big key is freed in the background, so deleting a
-- name of millions of members does not hold the server. Declared
-- allow-oom: deleting frees memory, so it works on a server over
-- `maxmemory` (as a plain DEL does). Servers that cannot read the "#!lua"
-- line (fakeredis, Redis < 7) get the script without it.
local old = too_old(KEYS[1])
if old then
  return old
end
-- Every command this may run, checked before the first one that writes
-- (Redis 7.0+ and Valkey let scripts ask; fakeredis does not).
local acl = redis.acl_check_cmd
if acl then
  local denied = nil
  if not acl('TYPE', KEYS[1]) then
    denied = 'TYPE'
  end
  if not acl('ZCOUNT', KEYS[1]) then
    denied = denied and denied .. ', ZCOUNT' or 'ZCOUNT'
  end
  if not acl('UNLINK', KEYS[1]) then
    denied = denied and denied .. ', UNLINK' or 'UNLINK'
  end
  if denied then
    return redis.error_reply('NOPERM this user may not run ' .. denied .. ' on key ' .. KEYS[1]
      .. ', which multimapwithttl needs (see "Permissions" in the docs); nothing was deleted')
  end
end
local deleted = 0
local failure = nil
-- Positions in KEYS of the keys left untouched: the error ends with them
-- ("[not written: 2 5]"), for the client to tell which names were deleted.
local untouched = nil
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'zset' then
    if redis.call('ZCOUNT', key, '-inf', '(1000000000') == 0
        and redis.call('ZCOUNT', key, '253402300800', '+inf') == 0 then
      deleted = deleted + redis.call('UNLINK', key)
    else
      if failure == nil then
        failure = not_expiry_times(key)
      end
      untouched = untouched or {}
      untouched[#untouched + 1] = i
    end
  elseif kind ~= 'none' then
    if failure == nil then
      failure = 'WRONGTYPE Operation against a key holding the wrong kind of value'
        .. ' (key ' .. key .. ' holds a ' .. kind .. ' and was left untouched)'
    end
    untouched = untouched or {}
    untouched[#untouched + 1] = i
  end
end
if failure then
  return untouched_reply(failure, untouched)
end
return deleted
