#!lua
-- One call per request: everything a request changes in Redis happens here, atomically,
-- on the keys of one shard (they all carry the shard's hash tag). The `#!lua` line makes
-- Redis refuse the whole script up front when it is out of memory, so a request either
-- changes nothing or everything: stream entry, dedup marks, session state and counters.
--
-- KEYS[1]  the shard's stream
-- ARGV     op, ns, tag, tenant, now (ms), keyId, rateLimit (events/s, 0 off),
--          backlogCap (entries, 0 off), sessionTimeout (ms), dedupTtl (s), stateTtl (s),
--          count, then the op's own arguments (see each op below).
-- Returns  {'ok', streamId, statuses} | {'dup'} | {'unknown'} | {'backlog'} | {'rate', retryAfterMs}
--          statuses: one letter per event, a accepted, d duplicate, u unknown session.

local op, ns, tag, tenant = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(ARGV[5])
local keyId = ARGV[6]
local rateLimit, backlogCap = tonumber(ARGV[7]), tonumber(ARGV[8])
local timeout, dedupTtl, stateTtl = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local count = tonumber(ARGV[12])
local stream = KEYS[1]

local rt = ns .. 'rt:' .. tag .. ':' .. tenant .. ':'
local sessKey = ns .. 'sess:' .. tag .. ':' .. tenant .. ':'
local MINUTE = 60000
local ACTIVE_USER_WINDOW = 5 * MINUTE

-- Overload guards come first: a refused request leaves nothing behind.
if backlogCap > 0 and redis.call('XLEN', stream) >= backlogCap then return { 'backlog' } end
if rateLimit > 0 then
  local second = math.floor(now / 1000)
  local rl = ns .. 'rl:' .. tag .. ':' .. keyId .. ':' .. second
  local used = tonumber(redis.call('GET', rl) or '0')
  -- The first request of a second always passes, so one large batch is never refused forever.
  if used > 0 and used + count > rateLimit then return { 'rate', tostring(1000 - now % 1000) } end
  redis.call('INCRBY', rl, count)
  redis.call('PEXPIRE', rl, 2000)
end

local function touchSession(id, at)
  if at > now - timeout then redis.call('ZADD', rt .. 'sessions', 'GT', at, id) end
end

local function touchUser(userKey, at)
  if at > now - ACTIVE_USER_WINDOW then redis.call('ZADD', rt .. 'users', 'GT', at, userKey) end
end

-- Drop what fell out of its window; a tenant that goes quiet loses its keys altogether.
local function trimRealtime()
  redis.call('ZREMRANGEBYSCORE', rt .. 'users', '-inf', now - ACTIVE_USER_WINDOW)
  redis.call('ZREMRANGEBYSCORE', rt .. 'sessions', '-inf', now - timeout)
  redis.call('PEXPIRE', rt .. 'users', ACTIVE_USER_WINDOW)
  redis.call('PEXPIRE', rt .. 'sessions', timeout)
end

-- Session calls: ARGV[13] session id, [14] user key, [15] at (ms), [16] entry JSON.
if op == 'ss' or op == 'sh' or op == 'se' then
  local id, userKey, at, json = ARGV[13], ARGV[14], tonumber(ARGV[15]), ARGV[16]
  local known = sessKey .. id
  if op == 'ss' then
    if redis.call('EXISTS', known) == 1 then return { 'dup' } end
  elseif redis.call('EXISTS', known) == 0 then
    return { 'unknown' }
  end
  local entryId = redis.call('XADD', stream, '*', 'v', '1', 'k', op, 't', tenant, 'r', ARGV[5], 'd', json)
  if op == 'ss' then
    redis.call('SET', known, userKey, 'EX', stateTtl)
    touchUser(userKey, at)
    touchSession(id, at)
  elseif op == 'sh' then
    redis.call('EXPIRE', known, stateTtl)
    touchSession(id, at)
  else
    redis.call('ZREM', rt .. 'sessions', id)
  end
  trimRealtime()
  return { 'ok', entryId }
end

-- Events: 7 arguments each from ARGV[13]: dedup token, user key ('' = take the session's),
-- session id ('' = sessionise by event time), candidate session id, occurredAt (ms),
-- page ('' unless a page view), event JSON.
local F, BASE = 7, 13
local userSessions = {} -- user key -> { key, list = { id -> {start, last} } }

local function sessionsOf(userKey)
  local state = userSessions[userKey]
  if state then return state end
  state = { key = ns .. 'usess:' .. tag .. ':' .. tenant .. ':' .. userKey, list = {} }
  local flat = redis.call('HGETALL', state.key)
  for j = 1, #flat, 2 do
    local s, l = string.match(flat[j + 1], '^(%d+),(%d+)$')
    state.list[flat[j]] = { tonumber(s), tonumber(l) }
  end
  userSessions[userKey] = state
  return state
end

-- The session whose span, widened by the timeout, holds `at` (the nearest if several);
-- otherwise a new one. Event time decides, so a back-dated batch makes its own sessions.
local function sessionise(userKey, at, candidate)
  local state = sessionsOf(userKey)
  local best, bestDistance
  for id, span in pairs(state.list) do
    if at >= span[1] - timeout and at <= span[2] + timeout then
      local distance = 0
      if at < span[1] then distance = span[1] - at elseif at > span[2] then distance = at - span[2] end
      if best == nil or distance < bestDistance or (distance == bestDistance and id < best) then
        best, bestDistance = id, distance
      end
    end
  end
  if best == nil then
    best = candidate
    state.list[best] = { at, at }
  else
    local span = state.list[best]
    if at < span[1] then span[1] = at end
    if at > span[2] then span[2] = at end
  end
  state.dirty = true
  return best
end

local statuses, lines, sessions, users, marks = {}, {}, {}, {}, {}
local seenNow = {}
local knownSessions = {}
local perMinute, pagesPerMinute = {}, {}
for i = 1, count do
  local o = BASE + (i - 1) * F
  local mark = ns .. 'seen:' .. tag .. ':' .. ARGV[o]
  local userKey, sessionId, at, page = ARGV[o + 1], ARGV[o + 2], tonumber(ARGV[o + 4]), ARGV[o + 5]
  if seenNow[mark] or redis.call('EXISTS', mark) == 1 then
    statuses[i] = 'd'
  else
    if sessionId == '' then
      sessionId = sessionise(userKey, at, ARGV[o + 3])
    elseif userKey == '' then
      userKey = redis.call('GET', sessKey .. sessionId) or ''
    else
      knownSessions[sessionId] = userKey
    end
    if userKey == '' then
      statuses[i] = 'u'
    else
      statuses[i] = 'a'
      seenNow[mark] = true
      marks[#marks + 1] = mark
      lines[#lines + 1] = ARGV[o + 6]
      sessions[#sessions + 1] = sessionId
      users[#users + 1] = userKey
      touchUser(userKey, at)
      touchSession(sessionId, at)
      if at > now - 60 * MINUTE and at <= now + MINUTE then
        local minute = math.floor(at / MINUTE)
        perMinute[minute] = (perMinute[minute] or 0) + 1
        if page ~= '' and at > now - 30 * MINUTE then
          local pages = pagesPerMinute[minute] or {}
          pages[page] = (pages[page] or 0) + 1
          pagesPerMinute[minute] = pages
        end
      end
    end
  end
end

if #lines == 0 then return { 'ok', '', table.concat(statuses) } end

-- The entry first: if it fails nothing else has changed.
local entryId = redis.call('XADD', stream, '*', 'v', '1', 'k', 'ev', 't', tenant, 'r', ARGV[5],
  'e', table.concat(lines, '\n'), 's', table.concat(sessions, '\n'), 'u', table.concat(users, '\n'))

for _, mark in ipairs(marks) do redis.call('SET', mark, '1', 'EX', dedupTtl) end

local MAX_SESSIONS_PER_USER = 32
for _, state in pairs(userSessions) do
  if state.dirty then
    local ids = {}
    for id, span in pairs(state.list) do ids[#ids + 1] = id end
    table.sort(ids, function(a, b) return state.list[a][2] > state.list[b][2] end)
    local flat = {}
    for k, id in ipairs(ids) do
      if k <= MAX_SESSIONS_PER_USER then
        flat[#flat + 1] = id
        flat[#flat + 1] = state.list[id][1] .. ',' .. state.list[id][2]
      else
        redis.call('HDEL', state.key, id)
      end
    end
    redis.call('HSET', state.key, unpack(flat))
    redis.call('PEXPIRE', state.key, 2 * timeout)
  end
end

for id, userKey in pairs(knownSessions) do redis.call('SET', sessKey .. id, userKey, 'EX', stateTtl) end

for minute, n in pairs(perMinute) do
  local k = rt .. 'epm:' .. minute
  redis.call('INCRBY', k, n)
  redis.call('EXPIRE', k, 3720)
end
for minute, pages in pairs(pagesPerMinute) do
  local k = rt .. 'pages:' .. minute
  for page, n in pairs(pages) do redis.call('ZINCRBY', k, n, page) end
  redis.call('EXPIRE', k, 1920)
end
trimRealtime()

return { 'ok', entryId, table.concat(statuses) }
