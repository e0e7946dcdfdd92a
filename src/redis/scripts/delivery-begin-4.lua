--[[
  Starts one try of the delivery at the head of a customer's outbox:
  - a delivery created before a person last took the conversation from the phone (its `gen`
    is behind the conversation's `phoneGen`, SPEC §8.4) is not sent: it is recorded
    `cancelled` and leaves the outbox;
  - else the try is counted and each text part still to send is written in the customer's
    sent ledger under its fingerprint, so that its echo is known as ours by its text, before
    the send call returns its id or if it never does. A part whose echo was already seen (an
    earlier try ended ambiguously but the text arrived) is reported, not sent again.

  KEYS[1] outbox
  KEYS[2] delivery record   (fields `fingerprints`: comma-separated, one per part; `partsSent`)
  KEYS[3] conversation      (`phoneGen`)
  KEYS[4] sent ledger       (hash fingerprint -> '<delivery id>:<part>:<p|s>')
  ARGV[1] delivery id (read from the outbox head)
  ARGV[2] JSON {ledgerTtlMs, cancelledAt (ISO), recordTtlMs}
  Returns {'gone'} (no longer the head) | {'ended', state} (already ended: popped) |
          {'cancelled'} (popped) | {'ok', parts already seen at the start, record fields…}
]]
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return {'gone'} end
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'pending' then
  redis.call('LPOP', KEYS[1])
  return {'ended', state or 'missing'}
end
local spec = cjson.decode(ARGV[2])
local gen = tonumber(redis.call('HGET', KEYS[2], 'gen') or '0') or 0
if (tonumber(redis.call('HGET', KEYS[3], 'phoneGen') or '0') or 0) > gen then
  redis.call('HSET', KEYS[2], 'state', 'cancelled', 'finishedAt', spec.cancelledAt, 'lastError', 'cancelled: a person answered from the phone')
  redis.call('PEXPIRE', KEYS[2], spec.recordTtlMs)
  redis.call('LPOP', KEYS[1])
  return {'cancelled'}
end
redis.call('HINCRBY', KEYS[2], 'attempts', 1)

local seen = 0
local first = tonumber(redis.call('HGET', KEYS[2], 'partsSent') or '0') or 0
local part = 0
local leading = true
for fingerprint in string.gmatch(redis.call('HGET', KEYS[2], 'fingerprints') or '', '[^,]+') do
  if part >= first then
    local ref = ARGV[1] .. ':' .. part .. ':'
    if redis.call('HGET', KEYS[4], fingerprint) == ref .. 's' then
      if leading then seen = seen + 1 end
    else
      leading = false
      redis.call('HSET', KEYS[4], fingerprint, ref .. 'p')
    end
  end
  part = part + 1
end
if part > 0 then redis.call('PEXPIRE', KEYS[4], spec.ledgerTtlMs) end

local out = {'ok', tostring(seen)}
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do out[#out + 1] = v end
return out
