--[[
  Renews `token`'s lease and takes the conversation's lock if `token` is at the head of its
  FIFO, after dropping heads whose lease ran out (their process died or stalled). A token
  not in the FIFO yet is appended. Returns true when `token` holds the lock.
]]
local function takeTurn(queueKey, leasesKey, token, leaseMs, now)
  redis.call('HSET', leasesKey, token, now + leaseMs)
  redis.call('PEXPIRE', queueKey, leaseMs * 4)
  redis.call('PEXPIRE', leasesKey, leaseMs * 4)
  if not redis.call('LPOS', queueKey, token) then redis.call('RPUSH', queueKey, token) end
  while true do
    local head = redis.call('LINDEX', queueKey, 0)
    if head == token then return true end
    local deadline = tonumber(redis.call('HGET', leasesKey, head) or '0')
    if deadline >= now then return false end
    redis.call('LPOP', queueKey)
    redis.call('HDEL', leasesKey, head)
  end
end
