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
--   is JSON: [tokens, occurredAts (ms after receivedAt, negative before), pages ('' unless
--   a page view), userKeys, sessionIds, idTimes], one item per event in each array;
--   userKeys and sessionIds are one string instead when every event of the request has the
--   same (the usual case). A user key '' means the session's, a session id '' means
--   sessionise by event time. idTimes: the ms of each event id that is a UUIDv7, 0 for
--   the others; or one 0 when none is (and may be left out); or {"e": earliest, "l":
--   latest} when every one is (the usual case: 2 numbers instead of 50, and a shorter
--   meta to write, send and decode). `lines` holds the event JSON, one per line, compressed
--   (stream-codec.ts, encodeEventLines): this script stores it as it is and never reads it.
--   Few large arguments cost Redis (and ioredis) far less than several small ones per event.
--   Returns two items per request: 'ok' and one letter per event (a accepted, d duplicate,
--   u unknown session), or 'rate' and the ms until the next second, or 'backlog' and '',
--   or 'bad' and '' for a request whose meta does not hold its count of events (a bug in
--   ingest: that request changes nothing, the others of the call go on).
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

-- For each session id, true when the session was ended within the last session timeout.
local function endedLately(rt, ids)
  local scores = redis.call('ZMSCORE', rt .. 'ended', unpack(ids))
  local ended = {}
  for i = 1, #ids do ended[i] = scores[i] ~= false and tonumber(scores[i]) > now - timeout end
  return ended
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
  -- Active as of now at the latest, as for events.
  if at > now then at = now end
  if op == 'ss' then
    redis.call('SET', known, userKey, 'EX', stateTtl)
    if at > now - ACTIVE_USER_WINDOW then redis.call('ZADD', rt .. 'users', 'GT', at, userKey) end
    if at > now - timeout then redis.call('ZADD', rt .. 'sessions', 'GT', at, id) end
  elseif op == 'sh' then
    redis.call('EXPIRE', known, stateTtl)
    if at > now - timeout and not endedLately(rt, { id })[1] then redis.call('ZADD', rt .. 'sessions', 'GT', at, id) end
  else
    redis.call('ZREM', rt .. 'sessions', id)
    -- Remembered for a session timeout, so that a heartbeat or event arriving after the end
    -- (a batch sent before it, delivered after) does not make the session active again.
    redis.call('ZADD', rt .. 'ended', now, id)
    redis.call('ZREMRANGEBYSCORE', rt .. 'ended', '-inf', now - timeout)
    redis.call('PEXPIRE', rt .. 'ended', timeout)
  end
  trimRealtime(tenant)
  return { 'ok' }
end

local nRequests = tonumber(ARGV[10])
local floor = math.floor

-- A request's meta, checked before anything is written: ingest always sends it whole, and a
-- script that failed half-way would break the all-or-nothing of the call. A request whose
-- meta does not hold `count` events is answered 'bad' on its own; the others go on.
local function readMeta(json, count)
  local parsed, meta = pcall(cjson.decode, json) -- in C: ~3x faster than gmatch over a delimited string
  if not parsed or type(meta) ~= 'table' then return nil end
  local function perEvent(v) return type(v) == 'table' and #v == count end
  local tokens, ats, pages, userKeys, sessionIds, idTimes = meta[1], meta[2], meta[3], meta[4], meta[5], meta[6] or 0
  if not (perEvent(tokens) and perEvent(ats) and perEvent(pages)) then return nil end
  -- These two are one string when every event shares it.
  if not ((type(userKeys) == 'string' or perEvent(userKeys)) and (type(sessionIds) == 'string' or perEvent(sessionIds))) then return nil end
  -- The id times: none (0), one per event, or the range of a request whose ids are all UUIDv7s.
  local idRange = nil
  if type(idTimes) == 'table' and idTimes.e ~= nil then
    if not (type(idTimes.e) == 'number' and type(idTimes.l) == 'number' and idTimes.e <= idTimes.l) then return nil end
    idRange, idTimes = idTimes, 0
  elseif idTimes ~= 0 then
    if not perEvent(idTimes) then return nil end
    for i = 1, count do
      if type(idTimes[i]) ~= 'number' then return nil end
    end
  end
  return { tokens = tokens, ats = ats, pages = pages, userKeys = userKeys, sessionIds = sessionIds, idTimes = idTimes, idRange = idRange }
end

-- Pass 1: unpack each request's events, and gather every event token (and its id time) per tenant.
local requests = {}
local tokensOf = {} -- tenant -> { tokens }
local idTimesOf = {} -- tenant -> { id time of each token }
for r = 1, nRequests do
  local pos = 11 + (r - 1) * 7
  local tenant = ARGV[pos]
  local count = tonumber(ARGV[pos + 3])
  local receivedAt = ARGV[pos + 2]
  local req = readMeta(ARGV[pos + 5], count) or { bad = true }
  req.tenant, req.keyId, req.receivedAt, req.count, req.random, req.lines = tenant, ARGV[pos + 1], receivedAt, count, ARGV[pos + 4], ARGV[pos + 6]
  req.base = tonumber(receivedAt) -- the event times in meta are ms from here
  if req.base == nil then req.bad = true end
  if not req.bad then
    local list, times = tokensOf[tenant], idTimesOf[tenant]
    if list == nil then
      list, times = {}, {}
      tokensOf[tenant], idTimesOf[tenant] = list, times
    end
    local n = #list
    local idTimes = req.idTimes
    -- A range stands for each of its ids: looking an id up from its request's earliest id
    -- time on looks in every set its own time would, and perhaps one more.
    local shared = req.idRange and req.idRange.e or 0
    for i = 1, count do
      list[n + i] = req.tokens[i]
      times[n + i] = idTimes == 0 and shared or idTimes[i]
    end
  end
  requests[r] = req
end

-- Seen event ids live in per-tenant sets, one per time bucket of a third of dedupTtl
-- (rounded up to whole seconds): an id goes in the set of the bucket it was first seen in,
-- and each set expires a minute after its last id has been kept dedupTtl. Each lookup in a
-- set of millions costs ~1.3 µs (memory latency), so where an id is looked up matters more
-- than anything else here.
--
-- An id without a time is looked up in every set that can hold an id first seen in the
-- last window: the last 4. A UUIDv7 (ingest sends its time t, else 0) cannot have been
-- first seen before t - CLOCK_AHEAD unless its sender's clock ran more than CLOCK_AHEAD
-- ahead; so it is looked up only from the set of max(now - window, t - CLOCK_AHEAD): for
-- an id made a moment ago, the current set alone (two in a set's first CLOCK_AHEAD), and a
-- long-running tenant pays one lookup per event instead of four (lua-cost.ts). An id that
-- does arrive more than CLOCK_AHEAD before its own time also goes in the ahead set of its
-- bucket (few ids, small sets), and a UUIDv7 is also looked up in the ahead sets older than
-- its first bucket. So the sender's clock never decides whether an id is new, and each id
-- stays where the previous version of this script looks for it.
--
-- That previous version kept no ahead sets. For 2 windows after this one first runs on a
-- shard (`dedup-timed-since`), UUIDv7s are looked up like ids without a time, so that ids
-- it kept while a rollout ran (if it took less than a window) are all found. The same goes
-- for any other time both versions run (infra/README.md: delete the key when a rollback
-- starts).
local CLOCK_AHEAD = 2 * MINUTE
local window = dedupTtl * 1000
local BUCKETS = 4
local bucketSeconds = math.ceil(dedupTtl / (BUCKETS - 1))
local function bucketAt(ms) return floor(floor(ms / 1000) / bucketSeconds) end
local bucket = bucketAt(now)
local bucketStart = bucket * bucketSeconds * 1000
-- When the sets written in this call expire: a minute after their last id has been kept dedupTtl.
local keepUntil = (bucket + 1) * bucketSeconds + dedupTtl + 60
local function seenKey(tenant, b) return ns .. 'dedup:' .. tag .. ':' .. tenant .. ':' .. b end
local function aheadKey(tenant, b) return ns .. 'dedup-ahead:' .. tag .. ':' .. tenant .. ':' .. b end
-- The oldest bucket that can hold an id first seen in the last window (at most 4 back).
local oldest = math.max(bucket - BUCKETS + 1, bucketAt(now - window))
-- The mark lapses once no call of this version has come for MARK_TTL: after a rollback
-- that long, the next call of this version starts the 2 windows again.
local MARK_TTL = 5 * MINUTE
local timesUsable = true
do
  local sinceKey = ns .. 'dedup-timed-since:' .. tag
  local since = tonumber(redis.call('GET', sinceKey))
  if since == nil then
    redis.call('SET', sinceKey, now, 'PX', MARK_TTL)
    since = now
  else
    redis.call('PEXPIRE', sinceKey, MARK_TTL)
  end
  timesUsable = now >= since + 2 * window
end
-- Until 4bb1bce the sets were 7 buckets of a sixth of dedupTtl, under 'seen:'. Those that
-- still exist are read too, so an upgrade forgets no id; they are gone a window after it,
-- and then this costs one EXISTS each. Remove once no deployment can hold them.
local legacyBucketSeconds = math.ceil(dedupTtl / 6)
local legacyBucket = floor(floor(now / 1000) / legacyBucketSeconds)
local function legacySeenKey(tenant, b) return ns .. 'seen:' .. tag .. ':' .. tenant .. ':' .. b end
local seenBefore = {} -- tenant -> { token -> true }
for tenant, list in pairs(tokensOf) do
  local seen = {}
  local times = idTimesOf[tenant]
  -- The bucket a token's lookups start at (and run to the current one).
  local function fromOf(t)
    if t == 0 or not timesUsable then return oldest end
    -- Shortcut for the usual case: t - CLOCK_AHEAD in the current bucket.
    if t - CLOCK_AHEAD >= bucketStart then return bucket end
    return math.max(oldest, bucketAt(math.max(now - window, math.min(t - CLOCK_AHEAD, now))))
  end
  -- fromBucket[b]: the tokens whose lookups start at bucket b. Usually every token's start
  -- is the same, and the list goes as it is.
  local fromBucket = {}
  local first = #list > 0 and fromOf(times[1]) or oldest
  local mixed = false
  for i = 2, #list do
    if fromOf(times[i]) ~= first then
      mixed = true
      break
    end
  end
  if mixed then
    for i = 1, #list do
      local from = fromOf(times[i])
      local tokens = fromBucket[from]
      if tokens == nil then
        tokens = {}
        fromBucket[from] = tokens
      end
      tokens[#tokens + 1] = list[i]
    end
  else
    fromBucket[first] = list
  end
  -- A UUIDv7 whose lookups start after the oldest bucket (only UUIDv7s do).
  local anyLate = false
  for from in pairs(fromBucket) do anyLate = anyLate or from > oldest end
  local lookups = {} -- { key, tokens }
  local tokens = {}
  for b = oldest, bucket do
    -- Every token whose lookups have started by b; one list, grown bucket by bucket.
    local starting = fromBucket[b]
    if starting ~= nil then
      if #tokens == 0 then
        tokens = starting
      else
        tokens = { unpack(tokens) }
        for _, token in ipairs(starting) do tokens[#tokens + 1] = token end
      end
    end
    if #tokens > 0 then lookups[#lookups + 1] = { seenKey(tenant, b), tokens } end
  end
  -- An ahead set is part of the set of its bucket, so a UUIDv7 needs only the ahead sets
  -- before the bucket its lookups start at: none for one made a moment ago.
  if anyLate then
    local aheadKeys = {}
    for b = oldest, bucket - 1 do aheadKeys[#aheadKeys + 1] = aheadKey(tenant, b) end
    if #aheadKeys > 0 and redis.call('EXISTS', unpack(aheadKeys)) > 0 then
      local later = {} -- the UUIDv7s whose lookups start after b
      for b = bucket - 1, oldest, -1 do
        -- Above the oldest bucket, only UUIDv7s start.
        for _, token in ipairs(fromBucket[b + 1] or {}) do later[#later + 1] = token end
        if #later > 0 then lookups[#lookups + 1] = { aheadKey(tenant, b), { unpack(later) } } end
      end
    end
  end
  for b = legacyBucket - 6, legacyBucket do
    local key = legacySeenKey(tenant, b)
    if redis.call('EXISTS', key) == 1 then lookups[#lookups + 1] = { key, list } end
  end
  for _, lookup in ipairs(lookups) do
    local found = redis.call('SMISMEMBER', lookup[1], unpack(lookup[2]))
    for i = 1, #lookup[2] do
      if found[i] == 1 then seen[lookup[2][i]] = true end
    end
  end
  seenBefore[tenant] = seen
end

-- Per-tenant state gathered over the call, written once at the end.
local tenants = {}
local function stateOf(tenant)
  local s = tenants[tenant]
  if s == nil then
    s = { newTokens = {}, aheadTokens = {}, users = {}, sessions = {}, perMinute = {}, pages = {}, userSessions = {}, known = {} }
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

-- A stream entry's session ids or user keys: one when every accepted event has the same
-- (50 identical lines were ~16 % of a bench request's AOF bytes), else one per line. The
-- list of them is made only once a second value turns up (repeated: the first value n
-- times), so the usual request costs a comparison per event instead of a table entry.
local function repeated(value, n)
  local list = {}
  for k = 1, n do list[k] = value end
  return list
end

-- Pass 2: each request in arrival order.
local activeUsersFrom, sessionsFrom = now - ACTIVE_USER_WINDOW, now - timeout
local minutesFrom, pagesFrom, minutesTo = now - 60 * MINUTE, now - 30 * MINUTE, now + MINUTE
local reply = {}
for r = 1, nRequests do
  local req = requests[r]
  if req.bad then
    reply[#reply + 1] = 'bad'
    reply[#reply + 1] = ''
  elseif backlogFull then
    reply[#reply + 1] = 'backlog'
    reply[#reply + 1] = ''
  elseif not takeRate(req.keyId, req.count) then
    reply[#reply + 1] = 'rate'
    reply[#reply + 1] = retryAfter
  else
    local tenant, count = req.tenant, req.count
    local s = stateOf(tenant)
    local seen = seenBefore[tenant]
    local newTokens, aheadTokens, users, sessions, perMinute, pagesOf = s.newTokens, s.aheadTokens, s.users, s.sessions, s.perMinute, s.pages
    local tokens, ats, pages, idTimes, base = req.tokens, req.ats, req.pages, req.idTimes, req.base
    -- When the latest id of a range is ahead, all its ids go in the ahead set: one that is
    -- not ahead costs a little memory there, never a wrong answer (an ahead set is part of
    -- the set of its bucket).
    local allAhead = req.idRange ~= nil and req.idRange.l - CLOCK_AHEAD > now
    -- A string when every event of the request has it, else one per event.
    local sharedUser = type(req.userKeys) == 'string' and req.userKeys or nil
    local sharedSession = type(req.sessionIds) == 'string' and req.sessionIds or nil
    -- statuses stays nil while every event is accepted (the usual case): then the reply is
    -- one string.rep. The sessions and users are for the stream entry.
    local statuses, nAccepted = nil, 0
    local firstSession, firstUser, sessionList, userList
    -- Events per minute, counted in a local while the events stay in one minute.
    local minute, inMinute = nil, 0
    -- The session the request's previous event went to, while its span holds the next
    -- event's time: then it is the only session at distance 0 (spans never overlap), so the
    -- answer sessionise would give, without looking at the user's other sessions.
    local lastUser, lastSession, lastSpan
    for i = 1, count do
      local token = tokens[i]
      local status = 'a'
      if seen[token] then
        status = 'd'
      else
        local userKey, sessionId, at = sharedUser or req.userKeys[i], sharedSession or req.sessionIds[i], base + ats[i]
        if sessionId == '' and userKey == lastUser and at >= lastSpan[1] and at <= lastSpan[2] then
          sessionId = lastSession
        elseif sessionId == '' then
          local state = sessionsOf(s, tenant, userKey)
          sessionId = sessionise(state, at, req.random, i)
          lastUser, lastSession, lastSpan = userKey, sessionId, state.list[sessionId]
        elseif userKey == '' then
          userKey = s.known[sessionId] or redis.call('GET', knownSession(tenant, sessionId)) or ''
        else
          s.known[sessionId] = userKey
        end
        if userKey == '' then
          status = 'u'
        else
          seen[token] = true
          newTokens[#newTokens + 1] = token
          if allAhead or (idTimes ~= 0 and idTimes[i] - CLOCK_AHEAD > now) then aheadTokens[#aheadTokens + 1] = token end
          nAccepted = nAccepted + 1
          -- The same steps for sessions and users, written out: as a function called twice
          -- per event they cost ~2 µs more per 50 events (in-script TIME, min of 10).
          if nAccepted == 1 then
            firstSession, firstUser = sessionId, userKey
          else
            if sessionList then
              sessionList[nAccepted] = sessionId
            elseif sessionId ~= firstSession then
              sessionList = repeated(firstSession, nAccepted - 1)
              sessionList[nAccepted] = sessionId
            end
            if userList then
              userList[nAccepted] = userKey
            elseif userKey ~= firstUser then
              userList = repeated(firstUser, nAccepted - 1)
              userList[nAccepted] = userKey
            end
          end
          -- Active as of now at the latest: an event dated ahead (up to 24 h is kept) would
          -- otherwise hold its user and session in the real-time figures until that time.
          local active = at < now and at or now
          if active > activeUsersFrom and (users[userKey] or 0) < active then users[userKey] = active end
          if active > sessionsFrom and (sessions[sessionId] or 0) < active then sessions[sessionId] = active end
          if at > minutesFrom and at <= minutesTo then
            local m = floor(at / MINUTE)
            if m ~= minute then
              if minute then perMinute[minute] = (perMinute[minute] or 0) + inMinute end
              minute, inMinute = m, 0
            end
            inMinute = inMinute + 1
            local page = pages[i]
            if page ~= '' and at > pagesFrom then
              local counts = pagesOf[m]
              if counts == nil then
                counts = {}
                pagesOf[m] = counts
              end
              counts[page] = (counts[page] or 0) + 1
            end
          end
        end
      end
      if status ~= 'a' and statuses == nil then
        statuses = {}
        for k = 1, i - 1 do statuses[k] = 'a' end
      end
      if statuses then statuses[i] = status end
    end
    if minute then perMinute[minute] = (perMinute[minute] or 0) + inMinute end
    if nAccepted > 0 then s.accepted = true end
    saveRate(req.keyId, count)
    -- One entry per request (layout: stream-codec.ts, version 2); written before anything
    -- that depends on it. The lines go in whole, compressed; when some were not accepted,
    -- `a` names the ones that were, for the worker to keep.
    if nAccepted > 0 then
      local entry = { 'v', '2', 'k', 'ev', 't', tenant, 'r', req.receivedAt, 'z', req.lines,
        's', sessionList and table.concat(sessionList, '\n') or firstSession,
        'u', userList and table.concat(userList, '\n') or firstUser }
      if nAccepted < count then
        local indexes = {}
        for i = 1, count do
          if statuses[i] == 'a' then indexes[#indexes + 1] = i - 1 end
        end
        entry[#entry + 1] = 'a'
        entry[#entry + 1] = table.concat(indexes, ',')
      end
      redis.call('XADD', stream, '*', unpack(entry))
    end
    reply[#reply + 1] = 'ok'
    reply[#reply + 1] = statuses and table.concat(statuses) or string.rep('a', count)
  end
end

for tenant, s in pairs(tenants) do
  if #s.newTokens > 0 then
    local key = seenKey(tenant, bucket)
    redis.call('SADD', key, unpack(s.newTokens))
    redis.call('EXPIREAT', key, keepUntil)
  end
  if #s.aheadTokens > 0 then
    local key = aheadKey(tenant, bucket)
    redis.call('SADD', key, unpack(s.aheadTokens))
    redis.call('EXPIREAT', key, keepUntil)
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
  -- Not the sessions ended lately: their events may arrive after the end.
  local ids = {}
  for id in pairs(s.sessions) do ids[#ids + 1] = id end
  if #ids > 0 then
    for i, ended in ipairs(endedLately(rt, ids)) do
      if ended then s.sessions[ids[i]] = nil end
    end
  end
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
  -- Only when something was added: a resend of duplicates leaves every key as it was, its expiry included.
  if s.accepted then trimRealtime(tenant) end
end

return reply
