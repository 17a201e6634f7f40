#!lua flags=no-writes
-- The live members of each sorted set in KEYS, lowest score first.
-- ARGV[1] is the exclusive lower bound, "(<now>" on the client's clock.
-- Declared no-writes so it runs as EVALSHA_RO, on replicas too.
local found = {}
for i, key in ipairs(KEYS) do
  found[i] = redis.call('ZRANGEBYSCORE', key, ARGV[1], '+inf')
end
return found
