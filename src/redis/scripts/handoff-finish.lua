--[[
  Ends a pending handoff once: its record, and — only if the conversation still waits for
  this very handoff — the conversation, plus what the customer must be told (queued on the
  outbox), atomically. A handoff done starts the human period now (SPEC §8.4: it counts from
  the human getting the customer, not from the handoff being asked for).

  KEYS[1] handoff record
  KEYS[2] conversation
  KEYS[3] outbox
  KEYS[4…] delivery records, in the order of `deliveries`
  ARGV[1] JSON {
    id, outcome = 'done' | 'failed', fields {field: value} (finishedAt, summary, lastError…),
    recordTtlMs, conversationState, updatedAt, deliveries [{id, fields, ttlMs}], outboxTtlMs,
    humanUntil, conversationTtlMs   -- `done` only: the human period and how long the conversation is kept
  }
  Returns -1 (already ended) | 0 (ended; the conversation had moved on) | 1 (ended, conversation updated)
]]
--- @include "hset-map"
--- @include "queue-deliveries"
local spec = cjson.decode(ARGV[1])
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return -1 end
redis.call('HSET', KEYS[1], 'state', spec.outcome)
hsetMap(KEYS[1], spec.fields)
redis.call('PEXPIRE', KEYS[1], spec.recordTtlMs)

local conversation = redis.call('HMGET', KEYS[2], 'state', 'handoffId')
if conversation[2] ~= spec.id or conversation[1] ~= 'handoff_pending' then return 0 end
redis.call('HSET', KEYS[2], 'state', spec.conversationState, 'updatedAt', spec.updatedAt)
if spec.humanUntil then
  redis.call('HSET', KEYS[2], 'humanUntil', spec.humanUntil)
  redis.call('PEXPIRE', KEYS[2], spec.conversationTtlMs)
end
queueDeliveries(KEYS[3], 3, spec.deliveries, spec.outboxTtlMs, redis.call('HGET', KEYS[2], 'phoneGen') or '0')
return 1
