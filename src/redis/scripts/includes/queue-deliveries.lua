--[[
  Creates delivery records (KEYS[firstKey + 1 …], in the order of `deliveries`) stamped with
  the conversation's `phoneGen` (a person taking over from the phone later cancels them), and
  queues their ids on the customer's outbox, which lives as long as its newest delivery.
  With `cancelledAt` (a turn superseded by a person on the phone) they are recorded
  `cancelled` instead, and not queued.
]]
local function queueDeliveries(outboxKey, firstKey, deliveries, outboxTtlMs, gen, cancelledAt)
  if not deliveries or #deliveries == 0 then return end
  for i, delivery in ipairs(deliveries) do
    local key = KEYS[firstKey + i]
    hsetMap(key, delivery.fields)
    redis.call('HSET', key, 'gen', gen)
    if cancelledAt then
      redis.call('HSET', key, 'state', 'cancelled', 'finishedAt', cancelledAt, 'lastError', 'cancelled: a person answered from the phone')
    else
      redis.call('RPUSH', outboxKey, delivery.id)
    end
    redis.call('PEXPIRE', key, delivery.ttlMs)
  end
  if not cancelledAt then redis.call('PEXPIRE', outboxKey, outboxTtlMs) end
end
