#!lua flags=no-writes
-- One page of iter_values on the server's clock, on a cluster (elsewhere
-- TIME and ZSCAN go as plain commands in one round trip; on a cluster TIME
-- could reach another node): ZSCAN KEYS[1] from cursor ARGV[1], COUNT
-- ARGV[2], keeping the members live by this node's TIME. Declared
-- no-writes: it runs as EVALSHA_RO, on replicas too.
--
-- Returns {next cursor, {live members}}; cursor "0" means the scan is over.
-- With a cap (max_values) in ARGV[3]: {next cursor, {live member, score,
-- ...}, {lowest kept member, its score}} where the pair is the live member
-- ranked `cap`-th highest ({} when fewer are live): the client keeps the
-- members ranked at or above it.
-- ZSCAN's guarantee carries over: a member present from the first page to
-- the last is returned at least once (the client drops repeats).
local old = too_old(KEYS[1])
if old then
  return old
end
local now = time_text(redis.call('TIME')) + 0
local page = redis.call('ZSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local items = page[2]
local cap = ARGV[3]
local live = {}
if type(items[1]) == 'table' then
  -- fakeredis on RESP3 may nest the pairs: {{member, score}, ...}
  local flat = {}
  for _, pair in ipairs(items) do
    flat[#flat + 1] = pair[1]
    flat[#flat + 1] = pair[2]
  end
  items = flat
end
for i = 1, #items, 2 do
  if items[i + 1] + 0 > now then
    live[#live + 1] = items[i]
    if cap then
      live[#live + 1] = items[i + 1]
    end
  end
end
if not cap then
  return {page[1], live}
end
local rank = string.format('%d', cap - 1)
local low = redis.call('ZRANGE', KEYS[1], rank, rank, 'REV', 'WITHSCORES')
if type(low[1]) == 'table' then
  low = low[1]
end
if not (low[2] and low[2] + 0 > now) then
  low = {}
end
return {page[1], live, low}
