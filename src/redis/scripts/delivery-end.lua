--[[
  Records how a try of a delivery ended. `sent` / `failed` end it (it leaves the outbox, the
  customer's next reply may go); `retry` keeps it at the head with what was learnt. The ids
  the channel returned are remembered, so their `fromMe` echoes change nothing. Clears the
  send-in-flight marker in the same call: the echo check never sees neither.

  KEYS[1] outbox
  KEYS[2] delivery record
  KEYS[3] send-in-flight marker
  KEYS[4…] echo keys of the ids the channel returned
  ARGV[1] JSON {id, outcome = 'sent' | 'failed' | 'retry', fields {field: value}, recordTtlMs, echoTtlMs}
  Returns 1, or 0 when the delivery was no longer pending (nothing written but the marker)
]]
--- @include "hset-map"
local spec = cjson.decode(ARGV[1])
if redis.call('GET', KEYS[3]) == spec.id then redis.call('DEL', KEYS[3]) end
for i = 4, #KEYS do redis.call('SET', KEYS[i], spec.id, 'PX', spec.echoTtlMs) end
if redis.call('HGET', KEYS[2], 'state') ~= 'pending' then return 0 end
hsetMap(KEYS[2], spec.fields)
if spec.outcome ~= 'retry' then
  redis.call('HSET', KEYS[2], 'state', spec.outcome)
  redis.call('PEXPIRE', KEYS[2], spec.recordTtlMs)
  if redis.call('LINDEX', KEYS[1], 0) == spec.id then redis.call('LPOP', KEYS[1]) end
end
return 1
