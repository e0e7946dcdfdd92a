--[[
  Creates delivery records (KEYS[firstKey + 1 …], in the order of `deliveries`) and queues
  their ids on the customer's outbox, which lives as long as its newest delivery.
]]
local function queueDeliveries(outboxKey, firstKey, deliveries, outboxTtlMs)
  if not deliveries or #deliveries == 0 then return end
  for i, delivery in ipairs(deliveries) do
    hsetMap(KEYS[firstKey + i], delivery.fields)
    redis.call('PEXPIRE', KEYS[firstKey + i], delivery.ttlMs)
    redis.call('RPUSH', outboxKey, delivery.id)
  end
  redis.call('PEXPIRE', outboxKey, outboxTtlMs)
end
