-- The reads that let a write of big members go without a script: run
-- after WATCH of KEYS, on the same connection; the client then writes the
-- keys it may in MULTI/EXEC (ZREMRANGEBYSCORE when something expired,
-- ZADD, PEXPIRE), which the server runs only if no key changed since.
--
-- Redis's Lua hashes every byte of every string a script is given (~11
-- instructions a byte): a 100 KB member costs more there than its ZADD.
-- This script is given only the keys, so the members never pass through Lua.
--
-- For the plain write only (latest write wins, no cap, the writer's
-- clock, one score for every member): it checks what write.lua's fast
-- path checks before its first write. Every other case is write.lua's.
--
-- ARGV: [1] now on the writer's clock (UNIX seconds, full precision),
-- [2] the score every member gets, [3] how many expired members the
-- transaction may collect over all keys.
-- Returns {base, ttl_ms, v1, v2, ...}: the bound of the expired members
-- (the earlier of both clocks, as exact text), the key TTL in ms for a key
-- whose newest member has the score (counted from that bound), and per key
-- how many members expired (collect them first), or -1: leave this key to
-- write.lua (another type; a score that is no expiry time; a member above
-- the score; more expired than the budget; members dead for the writer that
-- the server still holds live; a command this user may not run).
if redis.REDIS_VERSION_NUM == nil then
  return redis.error_reply('ERR multimapwithttl needs Redis 7.0+ or Valkey 7.2+')
end
local TOO_EARLY_TEXT = '(1000000000'
local acl = redis.acl_check_cmd
local now_text, score = ARGV[1], ARGV[2]
local left = ARGV[3] + 0
local now = now_text + 0
local t = redis.call('TIME')
local base, base_text = now, now_text
local server_text = t[1] .. '.' .. string.rep('0', 6 - #t[2]) .. t[2]
local server = server_text + 0
if server < now then
  base, base_text = server, server_text
end
local band = now > base
-- A user who may not run MULTI or EXEC: every key to write.lua (a refused
-- MULTI would let the commands after it run one by one, unprotected).
local whole = acl == nil or (acl('MULTI') and acl('EXEC'))
local above = '(' .. score
local reply = { base_text, string.format('%.0f', math.ceil((score - base) * 1000)) }
for i = 1, #KEYS do
  local key = KEYS[i]
  local verdict = -1
  local expired = redis.pcall('ZCOUNT', key, '-inf', base_text)
  if whole and type(expired) == 'number' and expired <= left
      and redis.call('ZCOUNT', key, above, '+inf') == 0
      and (expired == 0 or redis.call('ZCOUNT', key, '-inf', TOO_EARLY_TEXT) == 0)
      and not (band and redis.call('ZCOUNT', key, '(' .. base_text, now_text) > 0)
      and (acl == nil or (acl('ZADD', key) and acl('PEXPIRE', key)
        and (expired == 0 or acl('ZREMRANGEBYSCORE', key)))) then
    verdict = expired
    left = left - expired
  end
  reply[#reply + 1] = verdict
end
return reply
