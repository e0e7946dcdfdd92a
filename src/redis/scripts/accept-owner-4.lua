--[[
  Asynchronous channels (SPEC §9.3, §8.4): decides at acceptance what a message sent from the
  business's own number is, atomically with the customer's sends, and acts on it at once (it
  never waits behind the customer's held messages or a bot call in flight):
  - its id is one a send call of ours returned: our own reply's echo;
  - the channel says it went through its API (Z-API `fromApi`): ours;
  - the caller found it among the sends made to this customer under another of its addresses
    before they were linked (SPEC §11): ours;
  - its text is that of a send of ours whose outcome is not known yet (in flight, or ended
    by a timeout, a lost connection or a 5xx): ours, and that send is marked seen so that a
    retry does not send it again;
  - else a person answered from the phone: unless takeovers are off or a platform's attendant
    already has the customer, the conversation becomes `human` and `phoneGen` moves on, which
    cancels every bot reply to this customer not sent yet and supersedes a turn in flight.

  KEYS[1] message record   (string; its existence is the de-duplication)
  KEYS[2] conversation     (hash)
  KEYS[3] echo key of this message's id
  KEYS[4] sent ledger      (hash text fingerprint -> '<delivery id>:<part>:<p|s>')
  ARGV[1] JSON {
    record, recordTtlMs,
    fingerprint ('' when the message has no text), sentByApi (bool), sentToAlias (bool),
    takeover {fields, ttlMs} | false (takeovers are off)
  }
  Returns {'duplicate'} | {'echo', 'id' | 'api' | 'alias' | 'text'} |
          {'person', 'off' | 'platform' | 'takeover', '1' when a person already had it from the phone else '0',
           with 'platform': the handoff whose human has the customer}
]]
--- @include "now-ms"
--- @include "hset-map"
local spec = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then return {'duplicate'} end
redis.call('SET', KEYS[1], spec.record, 'PX', spec.recordTtlMs)

if redis.call('EXISTS', KEYS[3]) == 1 then return {'echo', 'id'} end
local function markSeen()
  if spec.fingerprint == '' then return false end
  local entry = redis.call('HGET', KEYS[4], spec.fingerprint)
  if not entry then return false end
  if string.sub(entry, -2) == ':p' then redis.call('HSET', KEYS[4], spec.fingerprint, string.sub(entry, 1, -2) .. 's') end
  return true
end
if spec.sentByApi then
  markSeen()
  return {'echo', 'api'}
end
if spec.sentToAlias then return {'echo', 'alias'} end
if markSeen() then return {'echo', 'text'} end

local now = nowMs()
local current = redis.call('HMGET', KEYS[2], 'state', 'takenBy', 'humanUntil', 'handoffId')
local until_ = tonumber(current[3] or '')
local running = until_ == nil or until_ > now
local byPhone = (current[1] == 'human' and current[2] == 'phone' and running) and '1' or '0'
if not spec.takeover then return {'person', 'off', byPhone} end
-- A platform's attendant already has the customer: a message from the phone changes nothing.
if current[1] == 'human' and current[2] == 'handoff' and running then return {'person', 'platform', byPhone, current[4] or ''} end
hsetMap(KEYS[2], spec.takeover.fields)
redis.call('HINCRBY', KEYS[2], 'phoneGen', 1)
redis.call('PEXPIRE', KEYS[2], spec.takeover.ttlMs)
return {'person', 'takeover', byPhone}
