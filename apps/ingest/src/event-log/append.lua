#!lua
-- Everything ingest changes in Redis happens in this script, atomically, on the keys of one
-- shard (they all carry the shard's hash tag). The `#!lua` line makes Redis refuse the
-- whole script up front when it is out of memory, so a call changes nothing or everything:
-- stream entries, seen event ids, session state and real-time counters.
--
-- KEYS[1]  the shard's stream
-- ARGV     op, ns, tag, now (ms), rateLimit (events/s per key, 0 off), backlogCap (entries,
--          0 off), sessionTimeout (ms), dedupTtl (s), stateTtl (s), then the op's arguments.
--
-- op 'ev': several requests at once (ingest groups the requests that arrive while the
--   previous call is in flight): nRequests, then 7 arguments per request: tenant, keyId,
--   receivedAt, count, random (16 hex digits for new session ids), meta and lines. `meta`
--   holds one record per event (records split by \30, fields by \31): seen token, user key
--   ('' = the session's), session id ('' = sessionise by event time), occurredAt (ms), page
--   ('' unless a page view). Short form, when every event of the request has the same user
--   key and session id: \29, user key, \31, session id, then \30 and one record per event
--   of seen token, occurredAt and page. `lines` holds the event JSON, one per line. Few
--   large arguments cost Redis (and ioredis) far less than several small ones per event.
--   Returns two items per request: 'ok' and one letter per event (a accepted, d duplicate,
--   u unknown session), or 'rate' and the ms until the next second, or 'backlog' and ''.
-- op 'ss' | 'sh' | 'se' (session start, heartbeat, end): tenant, keyId, session id,
--   user key, at (ms), entry JSON. Returns {'ok'} | {'dup'} | {'unknown'} | {'rate', ms} | {'backlog'}.

local op, ns, tag = ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(ARGV[4])
local rateLimit, backlogCap = tonumber(ARGV[5]), tonumber(ARGV[6])
local timeout, dedupTtl, stateTtl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local stream = KEYS[1]
local MINUTE = 60000
local ACTIVE_USER_WINDOW = 5 * MINUTE
local MAX_SESSIONS_PER_USER = 32

local backlogFull = backlogCap > 0 and redis.call('XLEN', stream) >= backlogCap

-- Events per key in the current second; a refused request leaves the count as it was.
-- The first request of a second always passes, so one large batch is never refused forever.
local second = math.floor(now / 1000)
local rateUsed = {}
local function takeRate(keyId, count)
  if rateLimit <= 0 then return true end
  local used = rateUsed[keyId]
  if used == nil then used = tonumber(redis.call('GET', ns .. 'rl:' .. tag .. ':' .. keyId .. ':' .. second) or '0') end
  if used > 0 and used + count > rateLimit then
    rateUsed[keyId] = used
    return false
  end
  rateUsed[keyId] = used + count
  return true
end
local function saveRate(keyId, count)
  if rateLimit <= 0 then return end
  local k = ns .. 'rl:' .. tag .. ':' .. keyId .. ':' .. second
  redis.call('INCRBY', k, count)
  redis.call('PEXPIRE', k, 2000)
end
local retryAfter = tostring(1000 - now % 1000)

local function rtPrefix(tenant) return ns .. 'rt:' .. tag .. ':' .. tenant .. ':' end
local function knownSession(tenant, id) return ns .. 'sess:' .. tag .. ':' .. tenant .. ':' .. id end

local function zaddAll(key, scores)
  local args = {}
  for member, score in pairs(scores) do
    args[#args + 1] = score
    args[#args + 1] = member
  end
  if #args > 0 then redis.call('ZADD', key, 'GT', unpack(args)) end
end

-- Drop what fell out of its window; a tenant that goes quiet loses its keys altogether.
local function trimRealtime(tenant)
  local rt = rtPrefix(tenant)
  redis.call('ZREMRANGEBYSCORE', rt .. 'users', '-inf', now - ACTIVE_USER_WINDOW)
  redis.call('ZREMRANGEBYSCORE', rt .. 'sessions', '-inf', now - timeout)
  redis.call('PEXPIRE', rt .. 'users', ACTIVE_USER_WINDOW)
  redis.call('PEXPIRE', rt .. 'sessions', timeout)
end

if op ~= 'ev' then
  local tenant, keyId, id, userKey, at, json = ARGV[10], ARGV[11], ARGV[12], ARGV[13], tonumber(ARGV[14]), ARGV[15]
  if backlogFull then return { 'backlog' } end
  local known = knownSession(tenant, id)
  if op == 'ss' then
    if redis.call('EXISTS', known) == 1 then return { 'dup' } end
  else
    -- Heartbeats and ends carry the session's user, so the worker can write a whole row
    -- whichever of start, heartbeat and end reaches Postgres first.
    userKey = redis.call('GET', known)
    if not userKey then return { 'unknown' } end
  end
  if not takeRate(keyId, 1) then return { 'rate', retryAfter } end
  saveRate(keyId, 1)
  redis.call('XADD', stream, '*', 'v', '1', 'k', op, 't', tenant, 'r', ARGV[4], 'u', userKey, 'd', json)
  local rt = rtPrefix(tenant)
  if op == 'ss' then
    redis.call('SET', known, userKey, 'EX', stateTtl)
    if at > now - ACTIVE_USER_WINDOW then redis.call('ZADD', rt .. 'users', 'GT', at, userKey) end
    if at > now - timeout then redis.call('ZADD', rt .. 'sessions', 'GT', at, id) end
  elseif op == 'sh' then
    redis.call('EXPIRE', known, stateTtl)
    if at > now - timeout then redis.call('ZADD', rt .. 'sessions', 'GT', at, id) end
  else
    redis.call('ZREM', rt .. 'sessions', id)
  end
  trimRealtime(tenant)
  return { 'ok' }
end

local nRequests = tonumber(ARGV[10])

-- Pass 1: unpack each request's events, and gather every event token per tenant.
local requests = {}
local tokensOf = {} -- tenant -> { tokens }
for r = 1, nRequests do
  local pos = 11 + (r - 1) * 7
  local tenant = ARGV[pos]
  local req = { tenant = tenant, keyId = ARGV[pos + 1], receivedAt = ARGV[pos + 2], count = tonumber(ARGV[pos + 3]), random = ARGV[pos + 4], lines = ARGV[pos + 6] }
  local list = tokensOf[tenant]
  if list == nil then
    list = {}
    tokensOf[tenant] = list
  end
  local meta = ARGV[pos + 5]
  -- Parallel arrays, not a table per event: parsing was ~40 % of the script's time.
  local tokens, ats, pages, userKeys, sessionIds = {}, {}, {}, {}, {}
  local n = 0
  if string.byte(meta, 1) == 29 then
    local userKey, sessionId, rest = string.match(meta, '^\29([^\30\31]*)\31([^\30\31]*)\30(.*)$')
    req.userKey, req.sessionId = userKey, sessionId
    for token, at, page in string.gmatch(rest or '', '([^\30\31]*)\31([^\30\31]*)\31([^\30]*)') do
      n = n + 1
      tokens[n], ats[n], pages[n] = token, tonumber(at), page
      list[#list + 1] = token
    end
  else
    for token, userKey, sessionId, at, page in string.gmatch(meta, '([^\30\31]*)\31([^\30\31]*)\31([^\30\31]*)\31([^\30\31]*)\31([^\30]*)') do
      n = n + 1
      tokens[n], userKeys[n], sessionIds[n], ats[n], pages[n] = token, userKey, sessionId, tonumber(at), page
      list[#list + 1] = token
    end
  end
  req.tokens, req.ats, req.pages, req.userKeys, req.sessionIds = tokens, ats, pages, userKeys, sessionIds
  requests[r] = req
end

-- Seen event ids live in per-tenant sets, one per time bucket of dedupTtl/6 seconds; the
-- last 7 buckets cover the whole window. One SMISMEMBER per bucket and tenant answers for
-- every event of the call.
local bucketSeconds = math.ceil(dedupTtl / 6)
local bucket = math.floor(math.floor(now / 1000) / bucketSeconds)
local function seenKey(tenant, b) return ns .. 'seen:' .. tag .. ':' .. tenant .. ':' .. b end
local seenBefore = {} -- tenant -> { token -> true }
for tenant, list in pairs(tokensOf) do
  local seen = {}
  for b = bucket - 6, bucket do
    local found = redis.call('SMISMEMBER', seenKey(tenant, b), unpack(list))
    for i = 1, #list do
      if found[i] == 1 then seen[list[i]] = true end
    end
  end
  seenBefore[tenant] = seen
end

-- Per-tenant state gathered over the call, written once at the end.
local tenants = {}
local function stateOf(tenant)
  local s = tenants[tenant]
  if s == nil then
    s = { newTokens = {}, users = {}, sessions = {}, perMinute = {}, pages = {}, userSessions = {}, known = {} }
    tenants[tenant] = s
  end
  return s
end

local function sessionsOf(s, tenant, userKey)
  local state = s.userSessions[userKey]
  if state then return state end
  state = { key = ns .. 'usess:' .. tag .. ':' .. tenant .. ':' .. userKey, list = {} }
  local flat = redis.call('HGETALL', state.key)
  for j = 1, #flat, 2 do
    local a, b = string.match(flat[j + 1], '^(%d+),(%d+)$')
    state.list[flat[j]] = { tonumber(a), tonumber(b) }
  end
  s.userSessions[userKey] = state
  return state
end

-- A new session's id: a UUIDv7 (RFC 9562) of the event's time. Made here, not by ingest,
-- because few events start a session. The random bits are 58 of the request's 64 random
-- bits and the event's index in the request, so ids differ between requests and within one.
local function newSessionId(at, random, index)
  return string.format('%08x-%04x-7%s-%x%s-%s%04x', math.floor(at / 65536), at % 65536, string.sub(random, 1, 3),
    8 + tonumber(string.sub(random, 4, 4), 16) % 4, string.sub(random, 5, 7), string.sub(random, 8, 15), index % 65536)
end

-- The session whose span, widened by the timeout, holds `at` (the nearest if several);
-- otherwise a new one. Event time decides, so a back-dated batch makes its own sessions.
local function sessionise(state, at, random, index)
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
    best = newSessionId(at, random, index)
    state.list[best] = { at, at }
  else
    local span = state.list[best]
    if at < span[1] then span[1] = at end
    if at > span[2] then span[2] = at end
  end
  state.dirty = true
  return best
end

-- Pass 2: each request in arrival order.
local reply = {}
for r = 1, nRequests do
  local req = requests[r]
  if backlogFull then
    reply[#reply + 1] = 'backlog'
    reply[#reply + 1] = ''
  elseif not takeRate(req.keyId, req.count) then
    reply[#reply + 1] = 'rate'
    reply[#reply + 1] = retryAfter
  else
    local s = stateOf(req.tenant)
    local seen = seenBefore[req.tenant]
    local statuses, accepted, sessionIds, userKeys = {}, {}, {}, {}
    local tokens, ats, pages = req.tokens, req.ats, req.pages
    -- The session the request's previous event went to, while its span holds the next
    -- event's time: then it is the only session at distance 0 (spans never overlap), so the
    -- answer sessionise would give, without looking at the user's other sessions.
    local lastUser, lastSession, lastSpan
    for i = 1, req.count do
      local token = tokens[i]
      if seen[token] then
        statuses[i] = 'd'
      else
        local userKey, sessionId, at, page = req.userKey or req.userKeys[i], req.sessionId or req.sessionIds[i], ats[i], pages[i]
        if sessionId == '' and userKey == lastUser and at >= lastSpan[1] and at <= lastSpan[2] then
          sessionId = lastSession
        elseif sessionId == '' then
          local state = sessionsOf(s, req.tenant, userKey)
          sessionId = sessionise(state, at, req.random, i)
          lastUser, lastSession, lastSpan = userKey, sessionId, state.list[sessionId]
        elseif userKey == '' then
          userKey = s.known[sessionId] or redis.call('GET', knownSession(req.tenant, sessionId)) or ''
        else
          s.known[sessionId] = userKey
        end
        if userKey == '' then
          statuses[i] = 'u'
        else
          statuses[i] = 'a'
          seen[token] = true
          s.newTokens[#s.newTokens + 1] = token
          accepted[#accepted + 1] = i
          sessionIds[#sessionIds + 1] = sessionId
          userKeys[#userKeys + 1] = userKey
          if at > now - ACTIVE_USER_WINDOW and (s.users[userKey] or 0) < at then s.users[userKey] = at end
          if at > now - timeout and (s.sessions[sessionId] or 0) < at then s.sessions[sessionId] = at end
          if at > now - 60 * MINUTE and at <= now + MINUTE then
            local minute = math.floor(at / MINUTE)
            s.perMinute[minute] = (s.perMinute[minute] or 0) + 1
            if page ~= '' and at > now - 30 * MINUTE then
              local pages = s.pages[minute] or {}
              pages[page] = (pages[page] or 0) + 1
              s.pages[minute] = pages
            end
          end
        end
      end
    end
    saveRate(req.keyId, req.count)
    -- One entry per request; written before anything that depends on it.
    if #accepted > 0 then
      local lines = req.lines
      if #accepted < req.count then
        local all, keep = {}, {}
        for line in string.gmatch(req.lines, '[^\n]+') do all[#all + 1] = line end
        for k, i in ipairs(accepted) do keep[k] = all[i] end
        lines = table.concat(keep, '\n')
      end
      redis.call('XADD', stream, '*', 'v', '1', 'k', 'ev', 't', req.tenant, 'r', req.receivedAt,
        'e', lines, 's', table.concat(sessionIds, '\n'), 'u', table.concat(userKeys, '\n'))
    end
    reply[#reply + 1] = 'ok'
    reply[#reply + 1] = table.concat(statuses)
  end
end

for tenant, s in pairs(tenants) do
  if #s.newTokens > 0 then
    local key = seenKey(tenant, bucket)
    redis.call('SADD', key, unpack(s.newTokens))
    redis.call('EXPIREAT', key, (bucket + 1) * bucketSeconds + dedupTtl + 60)
  end
  for _, state in pairs(s.userSessions) do
    if state.dirty then
      local ids = {}
      for id in pairs(state.list) do ids[#ids + 1] = id end
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
  for id, userKey in pairs(s.known) do redis.call('SET', knownSession(tenant, id), userKey, 'EX', stateTtl) end
  local rt = rtPrefix(tenant)
  zaddAll(rt .. 'users', s.users)
  zaddAll(rt .. 'sessions', s.sessions)
  for minute, n in pairs(s.perMinute) do
    local k = rt .. 'epm:' .. minute
    redis.call('INCRBY', k, n)
    redis.call('EXPIRE', k, 3720)
  end
  for minute, pages in pairs(s.pages) do
    local k = rt .. 'pages:' .. minute
    for page, n in pairs(pages) do redis.call('ZINCRBY', k, n, page) end
    redis.call('EXPIRE', k, 1920)
  end
  trimRealtime(tenant)
end

return reply
