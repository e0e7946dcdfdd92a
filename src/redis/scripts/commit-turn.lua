--[[
  Ends a conversation turn in one call — only for the lock's current holder (the fence):
  writes the conversation, creates or re-opens its handoff record, records the message's
  answer, takes the processed batch off the inbox, queues the replies on the outbox, and
  gives the lock up. A holder that lost the lock (its lease ran out during a stall) writes
  none of that: it only drops its in-progress marker, so the message is processed again.

  A turn that began before a person took the conversation from the phone (`phoneGen` moved
  on since the turn read it, SPEC §8.4) is superseded: only what was learnt from Toolzz is
  kept (`keep`), no handoff is created, the batch leaves the inbox, and its replies are
  recorded `cancelled` instead of being queued.

  With `send`, a turn whose replies are the customer's only ones (the outbox was empty) and
  whose batch was the last one waiting in the inbox begins the try of its first reply here
  (includes/begin-try.lua: the send lease, the count, the sent ledger), so that the caller
  sends it at once — one job per message — unless another try holds the send lease.

  KEYS[1] conversation
  KEYS[2] lock queue
  KEYS[3] lock leases
  KEYS[4] message record   (KEYS[1] when the turn records none)
  KEYS[5] inbox
  KEYS[6] outbox
  KEYS[7] handoff record   (KEYS[1] when the turn touches none)
  KEYS[8] sent ledger      (KEYS[1] without `send`)
  KEYS[9] send lease       (KEYS[1] without `send`)
  KEYS[10] transcript      (list of lines, oldest first; KEYS[1] without `transcript`)
  KEYS[11] timeline        (list of JSON events, oldest first; KEYS[1] without `timeline`)
  KEYS[12…] delivery records, in the order of `deliveries`
  ARGV[1] JSON {
    token, release (bool),
    fields {field: value}, unset [field], ttlMs      -- the conversation
    phoneGen ('' = not checked), keep {field: value}, cancelledAt (ISO)  -- the supersede rule
    record {action = 'set' | 'drop', value, ttlMs, marker},
    handoff {op = 'create', fields, ttlMs} |
            {op = 'reopen', id, ttlMs, restart {past, provider, job (JSON text), keepClaim}?},
    inbox {count, head},                             -- pop `count` entries, the first being `head`
    deliveries [{id, fields, ttlMs}], outboxTtlMs,
    send {lease {token, perPartMs, marginMs}, ledgerTtlMs},  -- optional (see above)
    transcript {append [line], keep, ttlMs},         -- optional: SPEC §13 (below)
    timeline {append [JSON event], max, ttlMs, name?, at, indexEveryMs}
                                                     -- optional: SPEC §14, the console's timeline
                                                     -- (and the customer's name)
  }
  With `transcript`, the turn's lines go to the end of the customer's transcript, which keeps
  its last `keep` and expires with the conversation; a handoff created here first gets the
  lines before them (its note's `{transcript}`) in its record's `transcript` field.
  Returns {'ok', entries left in the inbox, '1' when the first reply's try was begun else '0',
           the conversation's lastInboundAt ('' = unknown: SPEC §13),
           '1' when the caller is to move the conversation up the console's list (its index
           entry is refreshed at most every `timeline.indexEveryMs`: `indexedAt`) else '0'} |
          {'lost'} | {'superseded', entries left in the inbox} |
          {'not_failed'} (re-open of a handoff that is no longer failed; nothing written, lock kept)
]]
--- @include "now-ms"
--- @include "holds-lock"
--- @include "leave-queue"
--- @include "hset-map"
--- @include "queue-deliveries"
--- @include "begin-try"
local spec = cjson.decode(ARGV[1])
local record = spec.record

local function dropMarker()
  if record and redis.call('GET', KEYS[4]) == record.marker then redis.call('DEL', KEYS[4]) end
end

if not holdsLock(KEYS[2], KEYS[3], spec.token, nowMs()) then
  dropMarker()
  leaveQueue(KEYS[2], KEYS[3], spec.token)
  return {'lost'}
end

local gen = redis.call('HGET', KEYS[1], 'phoneGen') or '0'
local superseded = spec.phoneGen ~= nil and spec.phoneGen ~= '' and spec.phoneGen ~= gen
if superseded then
  if spec.keep then hsetMap(KEYS[1], spec.keep) end
  local inbox = spec.inbox
  if inbox and inbox.count > 0 then
    local first = redis.call('LINDEX', KEYS[5], 0)
    if first and cjson.decode(first).id == inbox.head then redis.call('LPOP', KEYS[5], inbox.count) end
    redis.call('HDEL', KEYS[1], 'inflight', 'inflightTries')
  end
  queueDeliveries(KEYS[6], 11, spec.deliveries, spec.outboxTtlMs, gen, spec.cancelledAt)
  if spec.release then leaveQueue(KEYS[2], KEYS[3], spec.token) end
  return {'superseded', tostring(redis.call('LLEN', KEYS[5]))}
end

local handoff = spec.handoff
if handoff and handoff.op == 'reopen' then
  if redis.call('HGET', KEYS[7], 'state') ~= 'failed' then return {'not_failed'} end
  -- A fresh round of tries; the side-effect claim stays (SPEC §5: never a second MeHub chat).
  redis.call('HSET', KEYS[7], 'state', 'pending', 'finishedAt', '', 'summary', '')
  local restart = handoff.restart
  if restart then
    -- SPEC §12: a chain that failed on a later leg starts again from its first leg.
    local stored = redis.call('HGET', KEYS[7], 'pastLegs')
    local past = {}
    if stored and stored ~= '' then past = cjson.decode(stored) end
    past[#past + 1] = restart.past
    redis.call('HSET', KEYS[7], 'pastLegs', cjson.encode(past), 'provider', restart.provider, 'attempts', '0', 'lastError', '', 'job', restart.job)
    if not restart.keepClaim then redis.call('HSET', KEYS[7], 'sideEffect', '') end
  end
  redis.call('PEXPIRE', KEYS[7], handoff.ttlMs)
elseif handoff and handoff.op == 'create' then
  hsetMap(KEYS[7], handoff.fields)
  local transcript = spec.transcript
  if transcript then
    local before = redis.call('LRANGE', KEYS[10], -transcript.keep, -1)
    if #before > 0 then redis.call('HSET', KEYS[7], 'transcript', cjson.encode(before)) end
  end
  redis.call('PEXPIRE', KEYS[7], handoff.ttlMs)
end

if spec.fields then
  hsetMap(KEYS[1], spec.fields)
  if spec.unset and #spec.unset > 0 then redis.call('HDEL', KEYS[1], unpack(spec.unset)) end
  redis.call('PEXPIRE', KEYS[1], spec.ttlMs)
end

if record and record.action == 'set' then
  redis.call('SET', KEYS[4], record.value, 'PX', record.ttlMs)
elseif record and record.action == 'drop' then
  dropMarker()
end

local inbox = spec.inbox
if inbox and inbox.count > 0 then
  local first = redis.call('LINDEX', KEYS[5], 0)
  if first and cjson.decode(first).id == inbox.head then redis.call('LPOP', KEYS[5], inbox.count) end
  redis.call('HDEL', KEYS[1], 'inflight', 'inflightTries')
end

queueDeliveries(KEYS[6], 11, spec.deliveries, spec.outboxTtlMs, gen)

local transcript = spec.transcript
if transcript then
  redis.call('RPUSH', KEYS[10], unpack(transcript.append))
  redis.call('LTRIM', KEYS[10], -transcript.keep, -1)
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('PEXPIRE', KEYS[10], ttl > 0 and ttl or transcript.ttlMs)
end

local timeline = spec.timeline
local index = '0'
if timeline then
  redis.call('RPUSH', KEYS[11], unpack(timeline.append))
  redis.call('LTRIM', KEYS[11], -timeline.max, -1)
  if timeline.name and spec.fields then redis.call('HSET', KEYS[1], 'name', timeline.name) end
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('PEXPIRE', KEYS[11], ttl > 0 and ttl or timeline.ttlMs)
  if ttl > 0 and timeline.at - (tonumber(redis.call('HGET', KEYS[1], 'indexedAt') or '0') or 0) >= timeline.indexEveryMs then
    redis.call('HSET', KEYS[1], 'indexedAt', tostring(timeline.at))
    index = '1'
  elseif ttl <= 0 then
    index = '1'
  end
end

local left = redis.call('LLEN', KEYS[5])
local sending = '0'
local send = spec.send
if send and spec.deliveries and #spec.deliveries > 0 and left == 0
  and redis.call('LLEN', KEYS[6]) == #spec.deliveries and redis.call('EXISTS', KEYS[9]) == 0 then
  beginTry(KEYS[12], KEYS[8], KEYS[9], spec.deliveries[1].id, send.lease, send.ledgerTtlMs)
  sending = '1'
end

if spec.release then leaveQueue(KEYS[2], KEYS[3], spec.token) end
return {'ok', tostring(left), sending, redis.call('HGET', KEYS[1], 'lastInboundAt') or '', index}
