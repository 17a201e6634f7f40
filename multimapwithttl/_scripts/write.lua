#!lua
-- One atomic update of each sorted set in KEYS: collect expired members, add
-- or remove members, then end the key's life with its newest member.
--
-- The "#!lua" line (no flags) makes the server treat the script as a write
-- that may grow memory: over `maxmemory` it is refused before it runs, with
-- the server's OOM error, as a plain ZADD is. (Removals are loaded with
-- "flags=allow-oom" instead: see _scripts.py.) Servers that cannot read the
-- line (fakeredis, Redis < 7) get the script without it.
--
-- ARGV, first for the whole call:
--   [1] now on the writer's clock (UNIX seconds, full precision), or "" to
--       take "now" from the server's clock
--   [2] mode: "" (latest write wins), "NX", "XX", "GT", "XXGT", "LT" or
--       "XXLT"; then, only when asked for, "|", "C" for CH (count live
--       members whose expiry changed too), "T" (touch, with "XX": count the
--       members that were live, changed or not) or "N" (add_new, with "NX":
--       reply with one 1/0 per member given, whether it was not live), and
--       the cap (max_values) in digits
--   [3] shape of each key's part: "s" members that all get one score,
--       "p" (score, member) pairs, "r" members to remove
--   [4] [5] on the writer's clock: for "s", the score, and the key TTL in ms
--       for a key whose newest member has that score, counted from [1]
--       (else "" ""); on the server's clock: for "s", the ttl in seconds
--       (else ""), then [5] [6] the resolution grain in seconds and the
--       decimals it needs, for the script to compute the score
-- then for each key, in order: n, then n members ("s", "r") or n pairs ("p").
--
-- Members come deduplicated by the client. Returns, over all keys, how many
-- added members were not live before and are live after (with CH, plus how
-- many live members' expiry changed: to a past one, which ends it, too),
-- plus how many removed members were live. With "T", how many of the given
-- members were live (each then has the new expiry); with "N", a list, per
-- member given in order (over all keys), 1 if it was not live before the
-- call (then it was added), else 0. Both read every given member's score
-- before writing (ZADD's own reply cannot tell "live and unchanged" from
-- "missing", nor which members it added).
--
-- With a cap, each key keeps at most that many live members after the
-- write: those that expire last; among equal expiries, the members that
-- sort last (ZRANGE's order, by their bytes). The others are removed in the
-- same call, after the adds (ZREMRANGEBYRANK on the live range, the
-- highest ranks kept), so the newest member and the key TTL stay as they
-- were. A member added or changed beyond the cap is not counted. Evicting
-- is bounded as collecting is, by the same budget (what collecting left of
-- it): a bigger surplus (a name filled without the cap) goes, lowest first,
-- over later writes, and reads with the cap never show it.
--
-- All or nothing, per key: everything a key's write needs is read and
-- checked before its first write command, so no error can stop it half-way
-- (Redis does not undo a script's earlier commands). A key of another type,
-- or a sorted set holding a score that cannot be an expiry time (+inf, a
-- millisecond or microsecond timestamp: anything from year 10000 on), is
-- left exactly as it was (members and TTL) and reported once every other
-- key has been written. A command the user may not run is found before the
-- call writes anything (redis.acl_check_cmd), and named.
--
-- Collecting is bounded: one call removes at most BUDGET expired members
-- (over all its keys) plus one per ARGV entry; the rest go on later writes
-- or a sweep. A member whose expiry has passed counts as not live whether
-- collected or not.
--
-- Cost matters here: every write of every client runs this on the server's
-- one thread. The common write is four commands per key (ZCOUNT of the
-- expired, ZCOUNT above the new score, ZADD, PEXPIRE; a ZREMRANGEBYSCORE
-- more when something expired) whose arguments are texts made once per
-- call: a Lua number passed to redis.call, a double in a reply,
-- string.format, tonumber (which parses twice; `+ 0` parses once), a closure
-- and an ARGV entry each cost the server more than one might think (see
-- docs/performance.md).
-- The lib's too_old, spelled out: on Redis 7.0+ this builds no closure.
if redis.REDIS_VERSION_NUM == nil then
  local probe = redis.pcall('PEXPIRETIME', KEYS[1])
  if type(probe) == 'table' and probe.err then
    return redis.error_reply('ERR multimapwithttl needs Redis 7.0+ or Valkey 7.2+ '
      .. '(this server has no PEXPIRETIME); nothing was written')
  end
end

-- At most this many expired members collected per call (_scripts.py's
-- COLLECT_PER_CALL), about a millisecond of the server's time, plus one per
-- ARGV entry: a call then collects at least as many members as it writes,
-- so steady writing (as many members expiring as written) never falls
-- behind, and the longest call (1000 members) collects ~2 ms at most.
local BUDGET = 1000
-- Scores from here on are not expiry times (year 10000; 0.1.0 and other
-- tools may have stored +inf or milli/microsecond timestamps).
local TOO_LATE, TOO_LATE_TEXT = 253402300800, '253402300800'
-- Nor are scores before 2001 (a leaderboard's points, -inf): no writer of
-- this format ever stored one (0.1.0's scores are its clock plus a ttl).
local TOO_EARLY_TEXT = '(1000000000'

-- Where the server lets scripts ask (Redis 7.0+, Valkey; not fakeredis),
-- every command the call may need is checked before its first write.
local acl = redis.acl_check_cmd

local mode, shape = ARGV[2], ARGV[3]
-- The flags that came after ZADD's: parsed once per call, and only when
-- there are some (the default write pays one comparison).
-- `ends`: the mode lets an expiry in the past end a live value;
-- `xx_mode`: XX, XXGT or XXLT; `opts`: ZADD's options for the fast path
-- where the plain ones (none, NX, GT) do not do.
-- `touch`, `report`: the "T" and "N" flags (see above).
local ch, cap, opts, ends, xx_mode = false, nil, nil, true, false
local touch, report = false, false
if mode ~= '' then
  local bar = string.find(mode, '|', 1, true)
  if bar then
    local extra = string.sub(mode, bar + 1)
    mode = string.sub(mode, 1, bar - 1)
    if string.sub(extra, 1, 1) == 'C' then
      ch = mode ~= 'NX' -- NX changes no live member: CH adds nothing to it
      extra = string.sub(extra, 2)
    end
    local flag = string.sub(extra, 1, 1)
    if flag == 'T' or flag == 'N' then
      touch, report = flag == 'T', flag == 'N'
      extra = string.sub(extra, 2)
    end
    if extra ~= '' then
      cap = extra + 0
    end
  end
  ends = mode == '' or mode == 'XX' or mode == 'LT' or mode == 'XXLT'
  xx_mode = mode == 'XX' or mode == 'XXGT' or mode == 'XXLT'
  if ch or (mode ~= '' and mode ~= 'NX' and mode ~= 'GT') then
    -- The XX modes always ask for CH: it tells whether a member took the
    -- call's one score.
    opts = {}
    if xx_mode then
      opts[1] = 'XX'
    end
    if mode == 'GT' or mode == 'XXGT' then
      opts[#opts + 1] = 'GT'
    elseif mode == 'LT' or mode == 'XXLT' then
      opts[#opts + 1] = 'LT'
    end
    if ch or xx_mode then
      opts[#opts + 1] = 'CH'
    end
  end
end
local t = redis.pcall('TIME')
if t.err then
  if acl and not acl('TIME') then
    return redis.error_reply('NOPERM this user may not run TIME, which multimapwithttl '
      .. 'needs (see "Permissions" in the docs); nothing was written')
  end
  return t
end
-- TIME as exact text, as the lib's time_text makes it (written out here: a
-- helper is a closure the server would build on every call, needed or not).
local now, base, base_text, score, ttl_ms, pos
if ARGV[1] == '' then
  base_text = t[1] .. '.' .. string.rep('0', 6 - #t[2]) .. t[2]
  now = base_text + 0
  base = now
  pos = 7
else
  now = ARGV[1] + 0
  base, base_text = now, ARGV[1]
  -- Destructive steps use the earlier of both clocks: a writer whose clock
  -- runs ahead never collects what the server still holds live. The whole
  -- seconds of TIME, else TIME as a sum of two short numbers (within a few
  -- 1e-7 s of the exact value: 2e-6 s is margin enough), mostly settle it
  -- without making and parsing the exact text, which costs about as much
  -- as a command.
  local seconds = t[1] + 0
  if seconds < now and seconds + t[2] / 1000000 < now + 0.000002 then
    local text = t[1] .. '.' .. string.rep('0', 6 - #t[2]) .. t[2]
    local server = text + 0
    if server < now then
      base, base_text = server, text
    end
  end
  score, ttl_ms = ARGV[4], ARGV[5]
  pos = 6
end
-- Between base and now lie members dead for this writer that the server
-- still holds live: they are not collected, but they count as not live.
local band = now > base
-- The live range's bound, for a cap.
local now_text = cap and (ARGV[1] ~= '' and ARGV[1] or base_text)

if shape == 's' then
  if score == nil then -- the server's clock: now + ttl, up to the grain
    local grain, digits = ARGV[5] + 0, ARGV[6] + 0
    local when = base + ARGV[4]
    local ticks = math.ceil(when / grain)
    local fmt = '%.' .. digits .. 'f'
    local value = string.format(fmt, ticks * grain) + 0
    if value < when then -- float rounding may undershoot by an ulp
      ticks = ticks + 1
      value = string.format(fmt, ticks * grain) + 0
      if value < when then -- the grain is finer than a double holds here
        return redis.error_reply('ERR resolution too fine for an expiry this far ahead')
      end
    end
    if digits == 0 then
      score = string.format('%.0f', value)
    else
      score = string.format('%.17g', value) -- parses back to the same double
    end
  end
  if band or ttl_ms == nil then
    -- As an integer: tostring() would give "2.5e+14", which PEXPIRE refuses.
    ttl_ms = string.format('%.0f', math.ceil((score - base) * 1000))
  end
else
  ttl_ms = nil
end
local above = shape == 's' and '(' .. score
-- With a cap and one score, the first read counts members at or above it.
local at_or_above = cap and shape == 's' and mode ~= 'LT' and mode ~= 'XXLT'

local total = 0
-- With "N": the 1/0 reply per member, in the order given.
local verdicts = report and {}
local failure = nil
-- Positions in KEYS of the keys left untouched (made on the first). An
-- error returned after any key of the call was written ends with the
-- positions not written ("[not written: 2 5 9-40]"): the client then
-- tells which names of a batch were written. An error without it means
-- the call wrote nothing.
local untouched = nil
local left = BUDGET + #ARGV
-- Whether the commands this call may run were checked (once, before the
-- call's first write). A call of many keys checks every command a key may
-- need; a call of one key only those its write needs.
local checked = acl == nil
-- One scratch table for every key's ZADD arguments: growing a fresh table
-- per key costs more than the ZADD itself. Made with room for one member.
local zadd = { false, false }

for i = 1, #KEYS do
  local key = KEYS[i]
  local n = ARGV[pos] + 0
  local first = pos + 1
  local stop
  if shape == 'p' then
    stop = first + 2 * n
  else
    stop = first + n
  end
  pos = stop

  -- Reads first. The first tells whether the key is ours: a WRONGTYPE
  -- error leaves a foreign key exactly as it was.
  local expired = redis.pcall('ZCOUNT', key, '-inf', base_text)
  local count = 0
  local past = nil -- members given an expiry already past ("p")
  local top, top_text = nil, score
  local over = 0
  local newest = nil
  local read_top = false
  local none_at = false -- nothing at or above the score (with a cap)
  if type(expired) == 'table' then
    local text = tostring(expired.err)
    if string.sub(text, 1, 9) ~= 'WRONGTYPE' then
      if not checked and acl and not acl('ZCOUNT', key) then
        text = 'NOPERM this user may not run ZCOUNT on key ' .. key
          .. ', which multimapwithttl needs (see "Permissions" in the docs)'
      end
      if i == 1 then
        text = text .. '; nothing was written'
      else
        text = text .. ' [not written: ' .. (untouched and table.concat(untouched, ' ') .. ' ' or '')
          .. i .. '-' .. #KEYS .. ']'
      end
      return redis.error_reply(text)
    end
    if failure == nil then
      failure = text .. ' (key ' .. key .. ' was left untouched)'
    end
    untouched = untouched or {}
    untouched[#untouched + 1] = i
    expired = nil
  elseif shape == 'r' then
    over = redis.call('ZCOUNT', key, TOO_LATE_TEXT, '+inf')
  else
    if shape == 's' then
      count = n
      for j = 1, n do
        zadd[2 * j - 1] = score
        zadd[2 * j] = ARGV[first + j - 1]
      end
    else
      for j = first, stop - 1, 2 do
        local value = ARGV[j] + 0
        if value > now then
          count = count + 1
          zadd[2 * count - 1] = ARGV[j]
          zadd[2 * count] = ARGV[j + 1]
          if top == nil or value > top then
            top, top_text = value, ARGV[j]
          end
        else
          past = past or {}
          past[#past + 1] = ARGV[j + 1]
        end
      end
    end
    -- Members above the highest score given: then the key's newest member
    -- is not known without reading it, and it may be no expiry time at all.
    -- NX of one score ("s") mostly adds nothing to a key that already holds
    -- the members (a de-duplication window), and then the newest member
    -- sets the TTL: it reads that here instead of counting above (one
    -- command either way; a score in a reply costs more than a count, so
    -- the other modes, whose write usually sets the newest, count).
    -- `newest` is then its score (nil for an empty key).
    read_top = count > 0 and shape == 's' and mode == 'NX'
    if count > 0 and not read_top then
      if at_or_above then
        -- A cap counts the members at the score too (see `trim` below):
        -- mostly none, which also says none is above, in one command.
        over = redis.call('ZCOUNT', key, score, '+inf')
        none_at = over == 0
      else
        over = redis.call('ZCOUNT', key, above or '(' .. top_text, '+inf')
      end
    end
    if read_top or over > 0 then
      local reply = redis.pcall('ZRANGE', key, '-1', '-1', 'WITHSCORES')
      if reply.err then -- before the call's first write, if the user may not
        if acl and not acl('ZRANGE', key) then
          return redis.error_reply('NOPERM this user may not run ZRANGE on key ' .. key
            .. ', which multimapwithttl needs (see "Permissions" in the docs)'
            .. (i == 1 and '; nothing was written' or ' [not written: '
              .. (untouched and table.concat(untouched, ' ') .. ' ' or '') .. i .. '-' .. #KEYS .. ']'))
        end
        if i == 1 then
          return reply
        end
        return redis.error_reply(tostring(reply.err) .. ' [not written: '
          .. (untouched and table.concat(untouched, ' ') .. ' ' or '') .. i .. '-' .. #KEYS .. ']')
      end
      if type(reply[1]) == 'table' then
        reply = reply[1] -- fakeredis < 2.40 on RESP3 nests the pair
      end
      if reply[2] then
        newest = reply[2] + 0
        if not (newest < TOO_LATE) then
          over = -1
        elseif read_top and newest > score + 0 then
          over = 1
        elseif at_or_above and not (newest > score + 0) then
          over = 0 -- members at the score, none above
        end
      end
    elseif count == 0 then
      over = redis.call('ZCOUNT', key, TOO_LATE_TEXT, '+inf')
    end
  end
  -- A score that cannot be an expiry time: above, no TTL could follow from
  -- it; below, it would be taken for expired. Scores before 2001 can only be
  -- among the expired: looked for only when something expired.
  if expired and ((over ~= 0 and (shape == 'r' or count == 0 or over < 0))
      or (expired > 0 and redis.call('ZCOUNT', key, '-inf', TOO_EARLY_TEXT) > 0)) then
    if failure == nil then
      failure = not_expiry_times(key)
    end
    untouched = untouched or {}
    untouched[#untouched + 1] = i
    expired = nil
  end

  if expired then
    -- What collecting does: everything expired, or (over budget) the
    -- oldest `left` members, all expired; then the key is "partial".
    local partial = expired > left
    -- "T" and "N" need each member's liveness: the slow way reads it.
    local slow = partial or (past ~= nil and ends) or touch or report
    if not slow and band and count > 0 then
      slow = redis.call('ZCOUNT', key, '(' .. base_text, ARGV[1]) > 0
    end
    if shape == 'r' then
      slow = true
    end

    -- Whether to evict over the cap after a fast write: none of the members
    -- evicted then is one the write counts.
    local trim = false
    if cap and not slow and shape == 's' and over == 0 and mode ~= 'LT' and mode ~= 'XXLT' then
      -- One score, nothing above it: every member the write counts ends
      -- at that score, the highest. Unless the members there could
      -- outnumber the cap, the lowest ranks evicted are none of them: the
      -- cap then costs two ZCOUNTs (this one, the live after writing).
      if none_at then
        trim = count <= cap
      else
        trim = redis.call('ZCOUNT', key, score, score) + count <= cap
      end
    end

    -- Whether the key's TTL will follow from the highest score given,
    -- with no read after writing (see `surely` below).
    local known_ttl = not slow and count > 0 and over == 0 and (mode == '' or mode == 'GT')
    if not checked then
      -- Every command that may run after the call's first write. That one
      -- (collecting, else the ZADD) runs through pcall: if the user may not
      -- run it, nothing was written. Each check costs the server about as
      -- much as a small command, so a call of one key checks only what its
      -- own path needs; a call of many keys, once, what any key's may.
      local wanted
      if #KEYS == 1 and known_ttl and expired == 0 and not cap then
        wanted = acl('PEXPIRE', key) or { 'PEXPIRE' } -- the common write, spelled out
      elseif #KEYS > 1 then
        -- (ZCOUNT, which every key reads, has just run on this one.)
        wanted = { 'ZRANGE', 'ZMSCORE', 'ZADD', 'PEXPIRE', 'ZREMRANGEBYSCORE', 'ZREMRANGEBYRANK' }
        if shape ~= 's' then
          wanted[#wanted + 1] = 'ZREM'
        end
      elseif slow or (cap and not trim) then
        wanted = { 'ZMSCORE', 'PEXPIRE', 'ZRANGE', 'ZREM' }
        if shape ~= 'r' then
          wanted[5] = 'ZADD'
        end
        if expired > 0 then
          wanted[#wanted + 1] = partial and 'ZREMRANGEBYRANK' or 'ZREMRANGEBYSCORE'
        end
        if cap and not (expired > 0 and partial) then
          wanted[#wanted + 1] = 'ZREMRANGEBYRANK'
        end
      else
        wanted = { 'PEXPIRE' }
        if expired > 0 and count > 0 then
          wanted[2] = 'ZADD'
        end
        if not known_ttl and not (read_top and over == 0) then
          wanted[#wanted + 1] = 'ZRANGE'
        end
        if trim then
          wanted[#wanted + 1] = 'ZREMRANGEBYRANK'
        end
      end
      local denied = nil
      if wanted ~= true then
        for _, name in ipairs(wanted) do
          if not acl(name, key) then
            denied = denied and denied .. ', ' .. name or name
          end
        end
      end
      if denied then
        return redis.error_reply('NOPERM this user may not run ' .. denied .. ' on key ' .. key
          .. ', which multimapwithttl needs (see "Permissions" in the docs); nothing was written')
      end
      checked = true
    end

    local scores = nil
    local asked = nil
    if cap and not slow and not trim then
      -- Else a write that keeps the name within the cap costs one ZCOUNT
      -- (of the live), and then goes on as without a cap. Else the members'
      -- liveness (read as the slow way below does) tells how many the
      -- write adds: only a write that takes the name over the cap goes the
      -- slow way, which evicts and counts exactly.
      local live = redis.call('ZCOUNT', key, '(' .. now_text, '+inf')
      if live + count > cap then
        past = past or {}
        asked = {}
        for j = 1, count do
          asked[j] = zadd[2 * j]
        end
        for k = 1, #past do
          asked[count + k] = past[k]
        end
        scores = redis.call('ZMSCORE', key, unpack(asked))
        local adds = 0
        if not xx_mode then
          for j = 1, count do
            local old = scores[j] -- an expired member is about to go: then it is added
            if not (old and old + 0 > now) then
              adds = adds + 1
            end
          end
        end
        slow = live + adds > cap
      end
    end
    if slow and scores == nil then
      -- Each member's liveness decides what the mode does with it: read
      -- before anything is written.
      if shape == 'r' then
        asked = { unpack(ARGV, first, stop - 1) }
      else
        past = past or {}
        asked = {}
        for j = 1, count do
          asked[j] = zadd[2 * j]
        end
        for k = 1, #past do
          asked[count + k] = past[k]
        end
      end
      scores = redis.call('ZMSCORE', key, unpack(asked))
    end

    -- Writing starts here; the first write through pcall (see above).
    local err = nil
    if expired > 0 then
      if partial then
        if left > 0 then
          err = redis.pcall('ZREMRANGEBYRANK', key, '0', string.format('%d', left - 1))
        end
        left = 0
      else
        err = redis.pcall('ZREMRANGEBYSCORE', key, '-inf', base_text)
        left = left - expired
      end
      if type(err) ~= 'table' then
        err = nil
      end
    end
    if err == nil then
      local surely = false -- whether a member holds the highest score given
      if shape == 'r' then
        for j = 1, n do
          if scores[j] and scores[j] + 0 > now then
            total = total + 1
          end
        end
        redis.call('ZREM', key, unpack(asked))
      elseif slow then
        local plain, grow, shrink, doomed = {}, {}, {}, {}
        -- With a cap: the members counted, to uncount those evicted at once.
        local counted = cap and {}
        local counted_at = cap and {} -- their scores, as given
        for j = 1, count do
          local old = scores[j]
          local was_live = old and old + 0 > now
          if verdicts then
            verdicts[#verdicts + 1] = was_live and 0 or 1
          end
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
          elseif was_live then -- GT, XXGT, LT, XXLT
            if mode == 'GT' or mode == 'XXGT' then
              target = grow
            else
              target = shrink
            end
          elseif mode == 'GT' or mode == 'LT' then
            target = plain
          end
          if target then
            local member = zadd[2 * j]
            target[#target + 1] = zadd[2 * j - 1]
            target[#target + 1] = member
            local counts = false
            if not was_live then
              counts = not xx_mode
            elseif touch then
              counts = true -- live before: touched, whether its expiry moved or not
            elseif ch then -- whether the live member's expiry changes
              local new, before = zadd[2 * j - 1] + 0, old + 0
              if target == plain then
                counts = new ~= before
              elseif target == grow then
                counts = new > before
              else
                counts = new < before
              end
            end
            if counts then
              total = total + 1
              if counted then
                counted[#counted + 1] = member
                counted_at[#counted] = zadd[2 * j - 1]
              end
            end
          end
        end
        for k = 1, #past do
          -- An expiry in the past, where the mode lets it apply, ends the value.
          local value = scores[count + k]
          local live = value and value + 0 > now
          if mode == '' or mode == 'LT' or (live and xx_mode and mode ~= 'XXGT') then
            doomed[#doomed + 1] = past[k]
            if ch and live then
              total = total + 1
            end
          end
        end
        if #plain > 0 then
          redis.call('ZADD', key, unpack(plain))
          -- "T" and "N" (one score, plain ZADD only): a member now holds the
          -- call's score, so with nothing above it, it sets the TTL (below).
          surely = touch or report
        end
        if #grow > 0 then
          redis.call('ZADD', key, 'GT', unpack(grow))
        end
        if #shrink > 0 then
          redis.call('ZADD', key, 'LT', unpack(shrink))
        end
        if #doomed > 0 then
          redis.call('ZREM', key, unpack(doomed))
        end
        if cap then
          -- Live members are the highest ranks: keep the top `cap` of them,
          -- evicting the lowest, at most `left` (the budget collecting left).
          local live = redis.call('ZCOUNT', key, '(' .. now_text, '+inf')
          if live > cap then
            local surplus = live - cap
            local evict = surplus < left and surplus or left
            if evict > 0 then
              redis.call('ZREMRANGEBYRANK', key, string.format('%d', -live),
                string.format('%d', evict - live - 1))
              left = left - evict
            end
            if #counted > 0 and evict == surplus then
              -- All evicted: a counted member kept is one still there.
              local kept = redis.call('ZMSCORE', key, unpack(counted))
              for j = 1, #counted do
                if not kept[j] then
                  total = total - 1
                end
              end
            elseif #counted > 0 then
              -- A surplus remains (later writes evict it; reads never show
              -- it): a counted member is kept if it ranks at or above the
              -- lowest kept one, by score, then by bytes.
              local low = redis.call('ZRANGE', key, string.format('%d', -cap),
                string.format('%d', -cap), 'WITHSCORES')
              if type(low[1]) == 'table' then
                low = low[1] -- fakeredis < 2.40 on RESP3 nests the pair
              end
              local low_member, low_score = low[1], low[2] + 0
              -- Bytes as ZRANGE orders them (memcmp, then length): Lua's
              -- own `<` follows the server's locale (strcoll).
              local function below(a, b)
                local n = math.min(#a, #b)
                for c = 1, n do
                  local x, y = string.byte(a, c), string.byte(b, c)
                  if x ~= y then
                    return x < y
                  end
                end
                return #a < #b
              end
              for j = 1, #counted do
                local at = counted_at[j] + 0
                if at < low_score or (at == low_score and below(counted[j], low_member)) then
                  total = total - 1
                end
              end
            end
          end
        end
      elseif count > 0 then
        local added
        if opts then
          local o1, o2, o3 = opts[1], opts[2], opts[3]
          if o3 then
            added = redis.pcall('ZADD', key, o1, o2, o3, unpack(zadd, 1, 2 * count))
          elseif o2 then
            added = redis.pcall('ZADD', key, o1, o2, unpack(zadd, 1, 2 * count))
          else
            added = redis.pcall('ZADD', key, o1, unpack(zadd, 1, 2 * count))
          end
          if type(added) == 'number' then
            -- '' and GT: as below. LT and the XX modes: a member took the
            -- call's one score if one was added or changed.
            if mode == '' or mode == 'GT' then
              surely = true
            else
              surely = shape == 's' and added > 0
            end
            if xx_mode and not ch then
              added = 0 -- nothing is new under XX
            end
          end
        elseif mode == '' then
          added = redis.pcall('ZADD', key, unpack(zadd, 1, 2 * count))
          surely = true
        else -- NX, GT
          added = redis.pcall('ZADD', key, mode, unpack(zadd, 1, 2 * count))
          -- NX: a member added holds the call's one score. GT: every member
          -- given ends at its score or above, so with nothing above the
          -- highest, the member given it holds it.
          surely = mode == 'GT' or (shape == 's' and type(added) == 'number' and added > 0)
        end
        if type(added) == 'table' then
          err = added
        else
          total = total + added
          if trim then
            local live = redis.call('ZCOUNT', key, '(' .. now_text, '+inf')
            if live > cap then
              -- At most `left`, as above; the members counted rank above
              -- any evicted here.
              local surplus = live - cap
              local evict = surplus < left and surplus or left
              if evict > 0 then
                redis.call('ZREMRANGEBYRANK', key, string.format('%d', -live),
                  string.format('%d', evict - live - 1))
                left = left - evict
              end
            end
          end
        end
      end
      if err == nil then
        -- Nothing was above the highest score given, and a member holds it:
        -- that is the newest, and the key TTL follows from it without reading.
        if surely and over == 0 then
          redis.call('PEXPIRE', key,
            ttl_ms or string.format('%.0f', math.ceil((top - base) * 1000)))
        elseif read_top and over == 0 and (report or not slow) then
          -- NX of one score that added nothing: the newest member read
          -- before is still the newest (everything collected was expired,
          -- below it; "N" takes the slow way only to read each member).
          if newest and newest > base then
            redis.call('PEXPIRE', key, string.format('%.0f', math.ceil((newest - base) * 1000)))
          end
        else
          end_with_newest(key, base)
        end
      end
    end
    if err then
      -- Only the call's first write can fail here (the rest were checked):
      -- nothing was written. Name the command where the server lets us ask.
      local text = tostring(err.err)
      if acl then
        local denied = nil
        for _, name in ipairs({ 'ZREMRANGEBYSCORE', 'ZREMRANGEBYRANK', 'ZADD' }) do
          if not acl(name, key) then
            denied = denied and denied .. ', ' .. name or name
          end
        end
        if denied then
          text = 'NOPERM this user may not run ' .. denied .. ' on key ' .. key
            .. ', which multimapwithttl needs (see "Permissions" in the docs)'
        end
      end
      if i == 1 then
        text = text .. '; nothing was written'
      else
        text = text .. ' (the keys before ' .. key .. ' were written, it and the rest not)'
          .. ' [not written: ' .. (untouched and table.concat(untouched, ' ') .. ' ' or '')
          .. i .. '-' .. #KEYS .. ']'
      end
      return redis.error_reply(text)
    end
  end
end

if failure then
  return untouched_reply(failure, untouched)
end
if verdicts then
  return verdicts
end
return total
