--[[
  Starts one try of the delivery at the head of a customer's outbox (the outbox worker):
  - while another try of this customer's replies holds the send lease (the inbox drain
    sending the reply it just wrote), nothing happens: that sender hands the outbox over
    when it is done (or the reconciler does, should it die);
  - a delivery created before a person last took the conversation from the phone (its `gen`
    is behind the conversation's `phoneGen`, SPEC §8.4) is not sent: it is recorded
    `cancelled` and leaves the outbox;
  - else the try begins (includes/begin-try.lua: the lease, the count, the sent ledger).

  KEYS[1] outbox
  KEYS[2] delivery record   (fields `fingerprints`: comma-separated, one per part; `partsSent`)
  KEYS[3] conversation      (`phoneGen`, `lastInboundAt`)
  KEYS[4] sent ledger       (hash fingerprint -> '<delivery id>:<part>:<p|s>')
  KEYS[5] send lease        (string: the token of the try in flight)
  ARGV[1] delivery id (read from the outbox head)
  ARGV[2] JSON {lease {token, perPartMs, marginMs}, ledgerTtlMs, cancelledAt (ISO), recordTtlMs}
  Returns {'gone'} (no longer the head) | {'leased'} (another try is in flight) |
          {'ended', state} (already ended: popped) | {'cancelled'} (popped) |
          {'ok', parts already seen at the start, the conversation's lastInboundAt ('' = unknown),
           record fields…}
]]
--- @include "begin-try"
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return {'gone'} end
local spec = cjson.decode(ARGV[2])
local holder = redis.call('GET', KEYS[5])
if holder and holder ~= spec.lease.token then return {'leased'} end
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'pending' then
  redis.call('LPOP', KEYS[1])
  return {'ended', state or 'missing'}
end
local gen = tonumber(redis.call('HGET', KEYS[2], 'gen') or '0') or 0
if (tonumber(redis.call('HGET', KEYS[3], 'phoneGen') or '0') or 0) > gen then
  redis.call('HSET', KEYS[2], 'state', 'cancelled', 'finishedAt', spec.cancelledAt, 'lastError', 'cancelled: a person answered from the phone')
  redis.call('PEXPIRE', KEYS[2], spec.recordTtlMs)
  redis.call('LPOP', KEYS[1])
  return {'cancelled'}
end

local seen = beginTry(KEYS[2], KEYS[4], KEYS[5], ARGV[1], spec.lease, spec.ledgerTtlMs)
local out = {'ok', tostring(seen), redis.call('HGET', KEYS[3], 'lastInboundAt') or ''}
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do out[#out + 1] = v end
return out
