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

  KEYS[1] conversation
  KEYS[2] lock queue
  KEYS[3] lock leases
  KEYS[4] message record   (KEYS[1] when the turn records none)
  KEYS[5] inbox
  KEYS[6] outbox
  KEYS[7] handoff record   (KEYS[1] when the turn touches none)
  KEYS[8…] delivery records, in the order of `deliveries`
  ARGV[1] JSON {
    token, release (bool),
    fields {field: value}, unset [field], ttlMs      -- the conversation
    phoneGen ('' = not checked), keep {field: value}, cancelledAt (ISO)  -- the supersede rule
    record {action = 'set' | 'drop', value, ttlMs, marker},
    handoff {op = 'create', fields, ttlMs} | {op = 'reopen', id, ttlMs},
    inbox {count, head},                             -- pop `count` entries, the first being `head`
    deliveries [{id, fields, ttlMs}], outboxTtlMs
  }
  Returns {'ok'} | {'lost'} | {'superseded'} | {'not_failed'} (re-open of a handoff that is no
  longer failed; nothing written, lock kept)
]]
--- @include "now-ms"
--- @include "holds-lock"
--- @include "leave-queue"
--- @include "hset-map"
--- @include "queue-deliveries"
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
  queueDeliveries(KEYS[6], 7, spec.deliveries, spec.outboxTtlMs, gen, spec.cancelledAt)
  if spec.release then leaveQueue(KEYS[2], KEYS[3], spec.token) end
  return {'superseded'}
end

local handoff = spec.handoff
if handoff and handoff.op == 'reopen' then
  if redis.call('HGET', KEYS[7], 'state') ~= 'failed' then return {'not_failed'} end
  -- A fresh round of tries; the side-effect claim stays (SPEC §5: never a second MeHub chat).
  redis.call('HSET', KEYS[7], 'state', 'pending', 'finishedAt', '', 'summary', '')
  redis.call('PEXPIRE', KEYS[7], handoff.ttlMs)
elseif handoff and handoff.op == 'create' then
  hsetMap(KEYS[7], handoff.fields)
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

queueDeliveries(KEYS[6], 7, spec.deliveries, spec.outboxTtlMs, gen)

if spec.release then leaveQueue(KEYS[2], KEYS[3], spec.token) end
return {'ok'}
