--[[
  Asynchronous channels (SPEC §9.3): decides what a `fromMe` message at the head of the
  inbox is, atomically with the sends in flight, and acts on it — fenced like commit-turn.
  - its id is one a send call of ours returned (an echo key exists): our own reply, nothing changes;
  - a send to this customer is in flight (its echo can arrive before the send call returned
    the id): not decided yet, nothing written;
  - else a person answered from the business's phone: the conversation becomes `human`.

  KEYS[1] conversation
  KEYS[2] lock queue
  KEYS[3] lock leases
  KEYS[4] inbox
  KEYS[5] echo key of this message's id
  KEYS[6] send-in-flight marker
  ARGV[1] lock token
  ARGV[2] message id (the inbox head)
  ARGV[3] JSON {fields, ttlMs} written on a takeover ('' = takeovers are off: ignore it)
  Returns {'lost'} | {'echo'} | {'wait'} | {'takeover'} | {'ignored'} | {'gone'} (not the head any more)
  The lock is released in every case but 'wait'.
]]
--- @include "now-ms"
--- @include "holds-lock"
--- @include "leave-queue"
--- @include "hset-map"
if not holdsLock(KEYS[2], KEYS[3], ARGV[1], nowMs()) then
  leaveQueue(KEYS[2], KEYS[3], ARGV[1])
  return {'lost'}
end
local head = redis.call('LINDEX', KEYS[4], 0)
if not head or cjson.decode(head).id ~= ARGV[2] then
  redis.call('HDEL', KEYS[1], 'inflight', 'inflightTries')
  leaveQueue(KEYS[2], KEYS[3], ARGV[1])
  return {'gone'}
end

local outcome
if redis.call('EXISTS', KEYS[5]) == 1 then
  outcome = 'echo'
elseif redis.call('EXISTS', KEYS[6]) == 1 then
  return {'wait'}
elseif ARGV[3] == '' then
  outcome = 'ignored'
else
  local takeover = cjson.decode(ARGV[3])
  hsetMap(KEYS[1], takeover.fields)
  redis.call('PEXPIRE', KEYS[1], takeover.ttlMs)
  outcome = 'takeover'
end
redis.call('LPOP', KEYS[4])
redis.call('HDEL', KEYS[1], 'inflight', 'inflightTries')
leaveQueue(KEYS[2], KEYS[3], ARGV[1])
return {outcome}
