--[[
  Ends a pending handoff once: its record, and — only if the conversation still waits for
  this very handoff — the conversation, plus what the customer must be told (queued on the
  outbox), atomically.

  KEYS[1] handoff record
  KEYS[2] conversation
  KEYS[3] outbox
  KEYS[4…] delivery records, in the order of `deliveries`
  ARGV[1] JSON {
    id, outcome = 'done' | 'failed', fields {field: value} (finishedAt, summary, lastError…),
    recordTtlMs, conversationState, updatedAt, deliveries [{id, fields, ttlMs}], outboxTtlMs
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
queueDeliveries(KEYS[3], 3, spec.deliveries, spec.outboxTtlMs)
return 1
