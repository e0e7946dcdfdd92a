--[[
  Records how a try of a delivery ended and gives the customer's send lease up. `sent` /
  `failed` end it (it leaves the outbox, the customer's next reply may go); `retry` keeps it
  at the head with what was learnt. The ids the channel returned are remembered, so their
  `fromMe` echoes change nothing. In the sent ledger, parts the channel confirmed (their ids
  are known now) and a part that certainly did not go out are forgotten — unless a try of
  this delivery ever ended ambiguously (a timeout, a lost connection, a 5xx): that try's echo
  may still come, whenever, and must be ours. A part whose outcome is unknown stays, and is
  not sent again once its echo is seen.

  KEYS[1] outbox
  KEYS[2] delivery record
  KEYS[3] sent ledger
  KEYS[4] send lease
  KEYS[5] the conversation's timeline (SPEC §14)
  KEYS[6] conversation       (its expiry is the timeline's)
  KEYS[7…] echo keys of the ids the channel returned
  ARGV[1] JSON {
    id, outcome = 'sent' | 'failed' | 'retry', fields {field: value}, recordTtlMs, echoTtlMs,
    forget [part index],  -- ledger entries of this delivery to drop
    ambiguous (bool),     -- this try ended without knowing whether its send was applied
    lease,                -- the try's lease token
    timeline {event (JSON), max, ttlMs}   -- optional: how the try ended, for the console
  }
  Returns {written (1, or 0 when the delivery was no longer pending: nothing written but the
  ledger and echo keys), the outbox's head afterwards ('' when empty)}
]]
--- @include "hset-map"
local spec = cjson.decode(ARGV[1])
if redis.call('GET', KEYS[4]) == spec.lease then redis.call('DEL', KEYS[4]) end
if spec.ambiguous then redis.call('HSET', KEYS[2], 'ambiguous', '1') end
if spec.forget and #spec.forget > 0 and redis.call('HGET', KEYS[2], 'ambiguous') ~= '1' then
  local fingerprints = {}
  for fingerprint in string.gmatch(redis.call('HGET', KEYS[2], 'fingerprints') or '', '[^,]+') do fingerprints[#fingerprints + 1] = fingerprint end
  for _, part in ipairs(spec.forget) do
    local fingerprint = fingerprints[part + 1]
    local entry = fingerprint and redis.call('HGET', KEYS[3], fingerprint)
    if entry and string.sub(entry, 1, #spec.id + #tostring(part) + 2) == spec.id .. ':' .. part .. ':' then redis.call('HDEL', KEYS[3], fingerprint) end
  end
end
for i = 7, #KEYS do redis.call('SET', KEYS[i], spec.id, 'PX', spec.echoTtlMs) end
if spec.timeline then
  redis.call('RPUSH', KEYS[5], spec.timeline.event)
  redis.call('LTRIM', KEYS[5], -spec.timeline.max, -1)
  local ttl = redis.call('PTTL', KEYS[6])
  redis.call('PEXPIRE', KEYS[5], ttl > 0 and ttl or spec.timeline.ttlMs)
end
local written = 0
if redis.call('HGET', KEYS[2], 'state') == 'pending' then
  hsetMap(KEYS[2], spec.fields)
  if spec.outcome ~= 'retry' then
    redis.call('HSET', KEYS[2], 'state', spec.outcome)
    redis.call('PEXPIRE', KEYS[2], spec.recordTtlMs)
    if redis.call('LINDEX', KEYS[1], 0) == spec.id then redis.call('LPOP', KEYS[1]) end
  end
  written = 1
end
return {written, redis.call('LINDEX', KEYS[1], 0) or ''}
