-- Deletes each key of KEYS that is a sorted set. A key of another type is
-- left exactly as it was and reported once every other key is deleted.
-- Returns how many keys were deleted.
local old = too_old(KEYS[1])
if old then
  return old
end
local deleted = 0
local failure = nil
for _, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'zset' then
    deleted = deleted + redis.call('DEL', key)
  elseif kind ~= 'none' and failure == nil then
    failure = 'WRONGTYPE Operation against a key holding the wrong kind of value'
      .. ' (key ' .. key .. ' holds a ' .. kind .. ' and was left untouched)'
  end
end
if failure then
  return redis.error_reply(failure)
end
return deleted
